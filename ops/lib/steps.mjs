// @ts-check
// The step runner of deploy and rollback: one `✓ <step>  <what> (1.2 s)` or `✗ <step>: <why>` line
// per step, every step's result and duration kept for the journal, and the final tally.
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { $, chalk, sleep } from 'zx'
import { pm2View, waitHealthy } from '../health.mjs'
import { isAlive } from './backups.mjs'
import { OpsError } from './cli.mjs'
import { DEPS_DIR, depsDiffer, depsKey, hasStaged, stageDeps, swapDeps } from './deps.mjs'
import { git } from './git.mjs'
import { formatLogEntry, parseLogLine } from './log-lines.mjs'
import { undeclaredChanges } from './migrations.mjs'
import { CODE_ROOT } from './paths.mjs'
import { APP_NAME, appStatus } from './pm2.mjs'
import { inspectDatabase } from './sqlite.mjs'

const PM2 = path.join(CODE_ROOT, 'node_modules', '.bin', 'pm2')

/** @typedef {{ name: string, ok: boolean, ms: number, detail: string }} StepRecord */

/** Errors whose ✗ line a step already printed, so the script's last word does not repeat it. */
export const reported = new WeakSet()

/** @param {number} ms */
export function formatMs (ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

/**
 * @param {{ quiet?: boolean, interrupted?: () => boolean }} [options]
 */
export function createRunner (options = {}) {
  /** @type {StepRecord[]} */
  const steps = []
  const out = (/** @type {string} */ text, /** @type {boolean} */ err = false) => {
    if (options.quiet !== true) (err ? process.stderr : process.stdout).write(text + '\n')
  }
  return {
    steps,
    /**
     * Runs one step; its function returns the text of its ✓ line.
     * @template {string | { detail: string }} T
     * `always`: runs even after Ctrl-C (the undo of a completed step).
     * @param {string} name @param {() => Promise<T>} fn @param {{ always?: boolean }} [o] @returns {Promise<T>}
     */
    async step (name, fn, o = {}) {
      if (o.always !== true && options.interrupted?.() === true) throw new OpsError(name, 'interrupted (Ctrl-C) before this step', { code: 'EINTERRUPTED' })
      const started = performance.now()
      try {
        const result = await fn()
        const ms = performance.now() - started
        const detail = typeof result === 'string' ? result : result.detail
        steps.push({ name, ok: true, ms: Math.round(ms), detail })
        out(`${chalk.green('✓')} ${name}  ${detail} ${chalk.gray(`(${formatMs(ms)})`)}`)
        return result
      } catch (err) {
        const ms = performance.now() - started
        const reason = err instanceof Error ? err.message : String(err)
        const hint = err instanceof OpsError && err.hint !== undefined ? ` — see: ${err.hint}` : ''
        steps.push({ name, ok: false, ms: Math.round(ms), detail: reason })
        out(`${chalk.red('✗')} ${name}: ${reason}${hint} ${chalk.gray(`(${formatMs(ms)})`)}`, true)
        if (err !== null && typeof err === 'object') reported.add(err)
        throw err
      }
    },
    /** `5 steps ok, 1 failed, 12.3 s` */
    tally () {
      const failed = steps.filter((s) => !s.ok).length
      const total = steps.reduce((sum, s) => sum + s.ms, 0)
      return `${steps.length - failed} step(s) ok${failed > 0 ? `, ${failed} failed` : ''}, ${formatMs(total)}`
    },
  }
}

// The service steps deploy and rollback share (stop, switch code, deps, start, watch, verify).
// They belong with the runner because each is only ever run through it.

/** @typedef {{ stop: (name: string, cb: (err: Error | null) => void) => void, disconnect: () => void }} Pm2Client */
/** @type {Pm2Client | null} */
let connectedPm2 = null

/**
 * Connects to the running PM2 daemon ahead of the stop, so the stop costs no `pm2` CLI start
 * (~0.4 s of node and PM2 loading) while the bot is down. Only when the app is running (connecting
 * with no daemon would start one); any failure leaves the CLI to do the stop.
 * @param {NodeJS.ProcessEnv} env
 */
export async function preparePm2Stop (env) {
  if (connectedPm2 !== null || (await appStatus({ env })).status !== 'online') return
  try {
    const { default: pm2 } = /** @type {{ default: Pm2Client & { connect: (cb: (err: Error | null) => void) => void } }} */ (await import('pm2'))
    await new Promise((resolve, reject) => pm2.connect((err) => err === null || err === undefined ? resolve(undefined) : reject(err)))
    connectedPm2 = pm2
  } catch {
    connectedPm2 = null
  }
}

/** Drops a client that was connected for a stop that never came (the script can then exit). */
export function releasePm2 () {
  connectedPm2?.disconnect()
  connectedPm2 = null
}

/** Stops the app through the connected client; false when there is none or it failed. */
async function stopThroughClient () {
  const client = connectedPm2
  if (client === null) return false
  connectedPm2 = null
  try {
    await new Promise((resolve, reject) => client.stop(APP_NAME, (err) => err === null || err === undefined ? resolve(undefined) : reject(err)))
    return true
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

/**
 * Stops the bot through the ecosystem file and waits until PM2 no longer shows it running.
 * @param {NodeJS.ProcessEnv} env @returns {Promise<string>}
 */
export async function stopBot (env) {
  const before = await appStatus({ env })
  if (!before.running) return `already stopped (${before.detail})`
  if (before.status !== 'online') {
    // A version that never became ready (crash loop, hung start) has no update in hand to finish:
    // take it out of PM2 at once instead of waiting out kill_timeout on every restart.
    await $({ cwd: CODE_ROOT, env: { ...env, PM2_DISCRETE_MODE: 'true' }, quiet: true, nothrow: true })`${PM2} delete ecosystem.config.js`
    for (let i = 0; i < 40 && (await appStatus({ env })).status !== null; i++) await sleep(250)
    return `${APP_NAME} was "${before.status}"; removed from pm2`
  }
  const how = await stopThroughClient() ? 'connected client' : 'pm2 CLI'
  if (how === 'pm2 CLI') await $({ cwd: CODE_ROOT, env: { ...env, PM2_DISCRETE_MODE: 'true' }, quiet: true })`${PM2} stop ecosystem.config.js`
  // The process being gone is the proof, and asking the kernel is free; \`pm2 jlist\` costs a
  // node start (~0.4 s) while the bot is down.
  const pid = before.pid ?? 0
  if (pid > 0) {
    for (let i = 0; i < 1200 && isAlive(pid); i++) await sleep(25)
    if (!isAlive(pid)) return `${APP_NAME} stopped (pid ${pid} exited; ${how})`
  }
  for (let i = 0; i < 120; i++) {
    const now = await appStatus({ env })
    if (!now.running) return `${APP_NAME} ${now.status ?? 'stopped'} in pm2`
    await sleep(250)
  }
  throw new OpsError('stop', `${APP_NAME} is still running 30 s after pm2 stop`, { hint: 'npm run status' })
}

/** How long start waits for the bot's ready signal (the ecosystem's listen_timeout is 30 s). */
export const DEFAULT_READY_S = 30

/**
 * Starts through the ecosystem file; PM2 waits for the bot's ready signal (wait_ready). A bot that
 * is still not ready after `readyS` fails the step (PM2 would call it online after listen_timeout).
 * @param {NodeJS.ProcessEnv} env @param {{ readyS?: number }} [options]
 */
export async function startBot (env, options = {}) {
  const readyS = options.readyS ?? DEFAULT_READY_S
  let app = await startOnce(env, readyS)
  if (app.status === 'stopping') {
    // stopBot returns when the old process has exited, which can be a moment before PM2 marks it
    // stopped; a start in that moment does nothing. Wait for PM2 to catch up and start again.
    for (let i = 0; i < 40 && (await appStatus({ env })).status === 'stopping'; i++) await sleep(250)
    app = await startOnce(env, readyS)
  }
  if (app.status !== 'online' || app.exitCode !== 0) throw new OpsError('start', `${app.detail} after pm2 start${app.exitCode === 0 ? '' : ` (exit ${app.exitCode})`}`, { hint: 'npm run logs' })
  return `${APP_NAME} online`
}

/** One `pm2 start`, bounded by `readyS`. @param {NodeJS.ProcessEnv} env @param {number} readyS */
async function startOnce (env, readyS) {
  const starting = $({ cwd: CODE_ROOT, env: { ...env, PM2_DISCRETE_MODE: 'true' }, quiet: true, nothrow: true })`${PM2} start ecosystem.config.js --update-env`
  /** @type {NodeJS.Timeout | undefined} */
  let timer
  const out = await Promise.race([starting, new Promise((resolve) => { timer = setTimeout(() => resolve(null), readyS * 1000) })])
  clearTimeout(timer)
  const app = await appStatus({ env })
  if (out === null) {
    // Only the pm2 client is stopped; the app stays in the daemon for the next step to remove.
    await starting.kill().catch(() => {})
    throw new OpsError('start', `${APP_NAME} did not become ready within ${readyS} s (${app.detail})`, { hint: 'npm run logs' })
  }
  return { ...app, exitCode: /** @type {import('zx').ProcessOutput} */ (out).exitCode }
}

/** Puts the checkout at `commit`: fast-forward on the branch, or a detached checkout. @param {string} commit @param {{ detach?: boolean, reset?: boolean, branch?: string }} [how] */
export async function switchCode (commit, how = {}) {
  // After a rollback HEAD is detached: back onto the branch (which contains it), then fast-forward.
  if (how.branch !== undefined && await git(CODE_ROOT, 'rev-parse', '--abbrev-ref', 'HEAD') === 'HEAD') await git(CODE_ROOT, 'checkout', '-q', how.branch)
  if (how.detach === true) await git(CODE_ROOT, 'checkout', '-q', '--detach', commit)
  else if (how.reset === true) await git(CODE_ROOT, 'reset', '-q', '--hard', commit)
  else await git(CODE_ROOT, 'merge', '-q', '--ff-only', commit)
  return `code at ${commit.slice(0, 7)}`
}

/**
 * Gives the checkout the node_modules of `to` when the two commits' dependencies differ: the ones
 * installed before the stop (storage/deps) are swapped in by rename, the current ones parked for a
 * rollback. Without a staged copy it installs one now (slow: the bot is down).
 * `known` (worked out before the stop) saves the git calls while the bot is down.
 * @param {string} from @param {string} to @param {boolean} dryRun
 * @param {{ differ: boolean, fromKey?: string, toKey?: string }} [known]
 */
export async function installDeps (from, to, dryRun, known) {
  if (!(known?.differ ?? await depsDiffer(CODE_ROOT, from, to))) return 'dependencies unchanged, nothing to install'
  if (dryRun) return `would swap in the node_modules of ${to.slice(0, 7)} (dry run)`
  const fromKey = known?.fromKey ?? await depsKey(CODE_ROOT, from)
  const staged = known?.toKey !== undefined && hasStaged(CODE_ROOT, known.toKey) ? { key: known.toKey, reused: true } : await stageDeps(CODE_ROOT, to)
  swapDeps(CODE_ROOT, fromKey, staged.key)
  return `node_modules of ${to.slice(0, 7)} swapped in${staged.reused ? ' (installed before the stop)' : ' (npm ci just now)'}; the previous ones are kept in ${DEPS_DIR}/${fromKey}`
}

/** The byte offset where new log lines will start. @param {string} logFile */
export function logOffset (logFile) {
  return fs.statSync(logFile, { throwIfNoEntry: false })?.size ?? 0
}

/**
 * Follows storage/logs/bot.log for `seconds`: error lines are printed, fatal lines and PM2
 * restarts fail the step.
 * @param {{ env: NodeJS.ProcessEnv, logFile: string, fromOffset: number, seconds: number, quiet?: boolean }} o
 */
export async function watchBot (o) {
  const restartsAtStart = (await pm2View(o.env))?.restarts ?? 0
  await sleep(o.seconds * 1000)
  const text = fs.existsSync(o.logFile) ? fs.readFileSync(o.logFile, 'utf8').slice(o.fromOffset) : ''
  const entries = text.split('\n').filter((l) => l.trim() !== '').map(parseLogLine)
  const errors = entries.filter((e) => e.level >= 50)
  if (o.quiet !== true) for (const e of errors) process.stdout.write(`    ${formatLogEntry(e)}\n`)
  const view = await pm2View(o.env)
  const restarts = (view?.restarts ?? 0) - restartsAtStart
  const fatal = errors.filter((e) => e.level >= 60)
  if (view?.status !== 'online' || restarts > 0 || fatal.length > 0) {
    throw new OpsError('watch', `${APP_NAME} ${view?.status ?? 'gone'} in pm2, ${restarts} restart(s), ${fatal.length} fatal line(s) in ${o.seconds} s`, { hint: 'npm run logs' })
  }
  return `${o.seconds} s: ${entries.length} log line(s), ${errors.length} error(s), no restarts`
}

/**
 * Health ok, the running version is `commit`, integrity ok, no table lost rows (except as declared).
 * @param {{ env: NodeJS.ProcessEnv, commit: string, databaseFile: string, before: Record<string, number> | null, declared?: import('./migrations.mjs').DataChange, waitS?: number }} o
 */
export async function verifyBot (o) {
  const health = await waitHealthy({ env: o.env, waitS: o.waitS ?? 20 })
  if (!health.healthy) throw new OpsError('verify', health.reason, { hint: 'npm run logs' })
  const version = health.healthz?.version
  if (version !== o.commit) throw new OpsError('verify', `the bot runs ${String(version).slice(0, 7)}, expected ${o.commit.slice(0, 7)}`, { hint: 'npm run status' })
  const db = inspectDatabase(o.databaseFile)
  if (!db.ok) throw new OpsError('verify', `the database does not verify: ${db.problem}`, { hint: 'npx zx ops/rollback.mjs' })
  const problems = o.before === null ? [] : undeclaredChanges(o.before, db.counts, o.declared ?? {})
  if (problems.length > 0) throw new OpsError('verify', problems.join('; '), { hint: 'npx zx ops/rollback.mjs' })
  return `healthy, version ${o.commit.slice(0, 7)}, integrity ok, ${db.counts.tasks ?? 0} tasks (rows not fewer)`
}

/**
 * The incoming commit's tests, run in its worktree; a failure names the failing tests.
 * @param {string} dir @param {string} command
 */
export async function runTests (dir, command) {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const out = await $({ cwd: dir, env, quiet: true, nothrow: true })`sh -c ${command}`
  if (out.exitCode === 0) return `${command}: passed`
  const failing = [...out.stdout.matchAll(/^\s*not ok \d+ - (.+)$/gm)].map((m) => m[1]?.replace(/\s*#.*$/, '') ?? '')
  for (const name of failing.slice(0, 20)) process.stderr.write(`    not ok: ${name}\n`)
  throw new OpsError('tests', `${command} failed (exit ${out.exitCode})${failing.length > 0 ? `: ${failing.length} failing test(s)` : ''}; nothing was stopped or changed`, { hint: `cd to a checkout of the incoming commit and run: ${command}` })
}
