// @ts-check
// health: is the bot well? Combines PM2's view (online, restarts) with the bot's own
// GET http://127.0.0.1:$HEALTH_PORT/healthz (polling recent, database ok, schema current).
// Exit 0 when healthy, 1 when not, with one line saying why.
// When: any time; deploy and rollback run it to verify.
// Usage: npx zx ops/health.mjs [--wait SECONDS] [--json]
//   --wait S   keep checking (every 0.5 s) until healthy, or give up after S seconds
//   --json     print the whole result as JSON instead of one line
import { sleep } from 'zx'
import { info, intFlag, isMain, ok, OpsError, parseFlags, runMain, scriptArgs } from './lib/cli.mjs'
import { servingRecord } from './lib/handover.mjs'
import { resolvePaths } from './lib/paths.mjs'
import { botSettings } from './lib/settings.mjs'
import { APP_NAME, appStatus } from './lib/pm2.mjs'

const DEFAULT_HEALTH_PORT = 8787

/** @typedef {{ status: string, restarts: number, pid: number | null } | null} Pm2View */
/** @typedef {{ healthy: boolean, reason: string, pm2: Pm2View, healthz: Record<string, unknown> | null, httpStatus: number | null }} HealthResult */

/** PM2's view of the app, or null when PM2 has no daemon or no such app (never starts a daemon). @param {NodeJS.ProcessEnv} env @returns {Promise<Pm2View>} */
export async function pm2View (env = process.env) {
  const app = await appStatus({ env })
  if (app.status === null) return null
  return { status: app.status, restarts: app.restarts ?? 0, pid: app.pid ?? null }
}

/**
 * Where the bot serves /healthz: the port the serving process recorded (HEALTH_PORT=0 means any
 * free port), else HEALTH_PORT as the bot itself reads it (environment over .env, the bot's
 * schema); a value the bot would refuse is named with its fix.
 * @param {NodeJS.ProcessEnv} env @returns {Promise<number>}
 */
export async function healthPort (env = process.env) {
  const paths = resolvePaths({ env })
  const serving = servingRecord(paths.databaseFile)
  if (serving !== null) return serving.healthPort
  const { config, problems } = await botSettings(paths.root, env)
  const problem = problems.find((p) => p.startsWith('HEALTH_PORT'))
  if (problem !== undefined) throw new OpsError('health', problem, { hint: 'set HEALTH_PORT to 1–65535 in .env (default 8787), then npm run reload' })
  return config?.healthPort ?? DEFAULT_HEALTH_PORT
}

/** One look at PM2 and /healthz. @param {{ env?: NodeJS.ProcessEnv, port?: number }} [options] @returns {Promise<HealthResult>} */
export async function checkHealth (options = {}) {
  const env = options.env ?? process.env
  const port = options.port ?? await healthPort(env)
  const pm2 = await pm2View(env)
  /** @type {Record<string, unknown> | null} */
  let healthz = null
  let httpStatus = null
  let fetchError = ''
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) })
    httpStatus = res.status
    healthz = /** @type {Record<string, unknown>} */ (await res.json())
  } catch (err) {
    fetchError = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)
  }
  /** @param {string} reason @param {boolean} [healthy] */
  const result = (reason, healthy = false) => ({ healthy, reason, pm2, healthz, httpStatus })
  if (pm2 === null) return result(`${APP_NAME} is not running under pm2`)
  if (pm2.status !== 'online') return result(`${APP_NAME} is "${pm2.status}" in pm2 (restarted ${pm2.restarts} times)`)
  if (healthz === null) return result(`${APP_NAME} is online in pm2 but http://127.0.0.1:${port}/healthz does not answer (${fetchError})`)
  if (healthz.status !== 'ok' && healthz.status !== 'degraded') {
    const problems = Array.isArray(healthz.problems) ? healthz.problems.join('; ') : String(healthz.status)
    return result(`${APP_NAME} answers ${httpStatus}: ${problems}`)
  }
  const tasks = /** @type {{ open?: number } | null} */ (healthz.tasks)
  const version = typeof healthz.version === 'string' ? healthz.version.slice(0, 7) : '?'
  const backups = /** @type {{ problem?: string | null } | null} */ (healthz.backups)
  // During a hand-over PM2 already lists the incoming process while the old one still serves.
  const servingPid = typeof healthz.pid === 'number' ? healthz.pid : pm2.pid
  const standby = servingPid !== pm2.pid ? `; pid ${pm2.pid} stands by to take over` : ''
  return result(`${APP_NAME} online (pid ${servingPid}, ${pm2.restarts} restarts), version ${version}, ${tasks?.open ?? 0} open tasks${backups?.problem == null ? '' : `; backups: ${backups.problem}`}${standby}`, true)
}

/** Checks until healthy or `waitS` has passed. @param {{ waitS?: number, env?: NodeJS.ProcessEnv, port?: number }} [options] */
export async function waitHealthy (options = {}) {
  const until = performance.now() + (options.waitS ?? 0) * 1000
  for (;;) {
    const result = await checkHealth(options)
    if (result.healthy || performance.now() >= until) return result
    await sleep(500)
  }
}

if (isMain(import.meta.url)) {
  await runMain('health', async () => {
    const flags = parseFlags('health', scriptArgs(), { wait: { type: 'string' }, json: { type: 'boolean' } }, import.meta.url)
    if (flags === null) return
    const result = await waitHealthy({ waitS: intFlag('health', flags.values.wait, '--wait', 0) })
    if (flags.values.json === true) {
      info(JSON.stringify(result, null, 2))
      if (!result.healthy) process.exitCode = 1
      return
    }
    if (!result.healthy) throw new OpsError('health', result.reason, { hint: result.pm2 === null ? 'npm start' : 'npm run logs' })
    ok('health', result.reason)
  })
}
