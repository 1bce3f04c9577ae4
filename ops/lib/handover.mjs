// @ts-check
// The hand-over: a release that has shown it can start (a dry start) is handed the bot by
// `pm2 reload`, and the take-over is confirmed from what the new process itself records — never
// from reload's exit code, which is 0 even when the new process never became ready. Ops writes a
// plan first (storage/db/handover.json: restore a backup, take a snapshot, migrate, undo
// migrations) that the new process carries out the moment it holds the instance lock, when nothing
// writes the database (bot/takeover.ts).
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { sleep } from 'zx'
import { $ } from './shell.mjs'
import { isAlive } from './backups.mjs'
import { OpsError } from './cli.mjs'
import { parseLogLine } from './log-lines.mjs'
import { CODE_ROOT } from './paths.mjs'
import { APP_NAME, appStatus } from './pm2.mjs'
import { pointCurrent } from './release-dirs.mjs'

const PM2 = path.join(CODE_ROOT, 'node_modules', '.bin', 'pm2')

/**
 * @typedef {{ id: string, version: string, restore?: { from: string, keepAs: string }, snapshot?: string, migrate?: boolean, undo?: { migrationsDir: string, names: string[] }, keep?: { names: string[] } }} HandoverPlan
 * @typedef {{ id: string, pid: number, ok: boolean, steps: Array<{ name: string, ms: number, detail: string }>, error: string | null, at: string, counts?: { before: Record<string, number>, after: Record<string, number> } }} HandoverResult
 * @typedef {{ pid: number, version: string, healthPort: number, since: string }} ServingRecord
 */

/** @param {string} databaseFile */
const runDir = (databaseFile) => path.dirname(databaseFile)

/** @param {string} file */
function readJson (file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return null
  }
}

/** Which process serves, by its own record; null when none is alive. @param {string} databaseFile @returns {ServingRecord | null} */
export function servingRecord (databaseFile) {
  /** @type {ServingRecord | null} */
  const r = readJson(path.join(runDir(databaseFile), 'serving.json'))
  return r !== null && isAlive(r.pid) ? r : null
}

/** @param {string} databaseFile @param {Omit<HandoverPlan, 'id'>} plan @returns {HandoverPlan} */
export function writePlan (databaseFile, plan) {
  const full = { id: `${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`, ...plan }
  fs.mkdirSync(runDir(databaseFile), { recursive: true, mode: 0o700 })
  const file = path.join(runDir(databaseFile), 'handover.json')
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(full, null, 2) + '\n', { mode: 0o600 })
  fs.renameSync(`${file}.tmp`, file)
  return full
}

/** Withdraws a plan nobody carried out (a hand-over that did not happen). @param {string} databaseFile */
export function clearPlan (databaseFile) {
  fs.rmSync(path.join(runDir(databaseFile), 'handover.json'), { force: true })
}

/** @param {string} databaseFile @param {string} id @returns {HandoverResult | null} */
export function planResult (databaseFile, id) {
  /** @type {HandoverResult | null} */
  const r = readJson(path.join(runDir(databaseFile), 'handover-result.json'))
  return r?.id === id ? r : null
}

/** The environment PM2 gives the bot (ecosystem env over ours), for the dry start. @param {NodeJS.ProcessEnv} env */
function pm2LikeEnv (env) {
  /** @type {NodeJS.ProcessEnv} */
  const out = { ...env, NODE_ENV: 'production', MISTER_TODO_ROOT: CODE_ROOT }
  delete out.NODE_OPTIONS
  return out
}

/**
 * Runs the release's bot with --dry-start: its code loads, .env is valid for it, the schema is one
 * it can run on (after the plan), Telegram accepts the token. Nothing is touched.
 * @param {string} dir @param {NodeJS.ProcessEnv} env @param {number} timeoutS
 */
export async function dryStart (dir, env, timeoutS) {
  // The release's own PM2 entry, so the dry start runs what PM2 will (its build, or its tsx when it
  // has none); a release from before that entry existed runs its TypeScript through its tsx.
  const pm2Entry = path.join(dir, 'bot', 'pm2-entry.mjs')
  const tsx = path.join(dir, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')
  const entry = fs.existsSync(pm2Entry) ? [pm2Entry] : ['--import', tsx, path.join(dir, 'bot', 'main.ts')]
  const run = $({ cwd: dir, env: pm2LikeEnv(env), quiet: true, nothrow: true, timeout: timeoutS * 1000 })`node ${`--env-file-if-exists=${path.join(CODE_ROOT, '.env')}`} ${entry} --dry-start`
  const out = await run
  if (out.exitCode === 0) return out.stdout.trim()
  const why = out.signal === 'SIGTERM' || out.exitCode === null
    ? `did not finish its dry start within ${timeoutS} s (it hangs while loading)`
    : whyItFailed(out.stderr, out.exitCode)
  throw new OpsError('dry start', `the new version cannot start: ${why}`, { hint: `cd ${dir} && node bot/pm2-entry.mjs --dry-start` })
}

/**
 * The line of a failed start that says why: the bot's own one-line reason, else the thrown error
 * (an uncaught throw prints its stack and then "Node.js v20…").
 * @param {string} stderr @param {number | null} exitCode
 */
function whyItFailed (stderr, exitCode) {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  const own = lines.find((l) => l.startsWith('mister_todo: '))
  if (own !== undefined) return own.replace(/^mister_todo: (cannot start: )?/, '')
  return lines.find((l) => /^([A-Za-z]*Error|Error \[\w+\])\b.*: /.test(l)) ?? lines.at(-1) ?? `exit ${exitCode}`
}

/** `pm2 <args>` through the ecosystem file; its exit code is not trusted. @param {NodeJS.ProcessEnv} env @param {string[]} args */
async function pm2 (env, args) {
  return $({ cwd: CODE_ROOT, env: { ...env, PM2_DISCRETE_MODE: 'true' }, quiet: true, nothrow: true, timeout: 120_000 })`${PM2} ${args}`
}

/** The line of PM2's answer worth showing (an error, a refusal), or ''. @param {import('zx').ProcessOutput} out */
const pm2Said = (out) => `${out.stdout}\n${out.stderr}`.split('\n').map((l) => l.trim()).filter((l) => /error|refus|progress|fail/i.test(l)).at(-1) ?? ''

/**
 * `pm2 reload`, again while PM2 says another reload is still in progress (it allows one at a time
 * per daemon). `said` is PM2's last answer, for the message when the hand-over does not happen.
 * @param {NodeJS.ProcessEnv} env
 */
function reload (env) {
  let said = ''
  let cancelled = false
  const done = (async () => {
    for (let attempt = 0; ; attempt++) {
      const out = await pm2(env, ['reload', 'ecosystem.config.js', '--update-env'])
      said = pm2Said(out)
      if (cancelled || attempt >= 30 || !/already in progress/i.test(out.stdout + out.stderr)) return out
      await sleep(1000)
    }
  })()
  // A hand-over given up on must not be retried behind the hand-back's back.
  return { done, said: () => said, cancel: () => { cancelled = true } }
}

/** PM2 statuses in which it brings a process up again by itself (a crash restart under way). */
const RESTARTING = ['online', 'launching', 'waiting restart']

/**
 * Points releases/current at `dir` and hands the bot to it: `pm2 reload` when a version serves (it
 * keeps serving until the new one stands by). When nothing serves (a crash, a crash loop), PM2's
 * own restart already runs releases/current, which now is `dir`: that is given a few seconds
 * before a plain start. Then waits until the new process records that it serves `version` and,
 * with a plan, that the plan succeeded.
 * @param {{ dir: string, version: string, env: NodeJS.ProcessEnv, databaseFile: string, plan: HandoverPlan | null, timeoutS: number, logFile?: string }} o
 * @returns {Promise<{ pid: number, how: 'reload' | 'restart' | 'start', result: HandoverResult | null, detail: string }>}
 */
export async function handOver (o) {
  const oldPid = servingRecord(o.databaseFile)?.pid ?? null
  const logFrom = o.logFile === undefined ? 0 : fs.statSync(o.logFile, { throwIfNoEntry: false })?.size ?? 0
  pointCurrent(o.dir)
  const before = await appStatus({ env: o.env })
  /** @type {'reload' | 'restart' | 'start'} */
  let how = 'reload'
  /** @type {Promise<import('zx').ProcessOutput> | null} */
  let cli = null
  /** What PM2 last answered, for the message when nothing took over. */
  let said = () => ''
  let cancel = () => {}
  /** Whether the pm2 command has returned at all (a reload answers once the old process is gone). */
  let answered = false
  const noteAnswer = (/** @type {Promise<unknown>} */ p) => { p.then(() => { answered = true }, () => { answered = true }) }
  const start = async () => {
    how = 'start'
    if ((await appStatus({ env: o.env })).status !== null) await pm2(o.env, ['delete', APP_NAME])
    const out = await pm2(o.env, ['start', 'ecosystem.config.js', '--update-env'])
    said = () => pm2Said(out)
    return out
  }
  const handOverByReload = () => {
    how = 'reload'
    const r = reload(o.env)
    said = r.said
    cancel = r.cancel
    return r.done
  }
  if (before.status === 'online' && oldPid !== null) {
    cli = handOverByReload()
    noteAnswer(cli)
  } else if (before.status !== null && RESTARTING.includes(before.status)) {
    how = 'restart'
  } else {
    // Nothing serves and PM2 will not restart it (stopped, errored, not there): start it.
    cli = start()
    noteAnswer(cli)
  }
  const started = performance.now()
  const until = started + o.timeoutS * 1000
  const pm2RestartGraceMs = Math.min(8_000, o.timeoutS * 1000 / 3)
  for (;;) {
    const serving = servingRecord(o.databaseFile)
    const result = o.plan === null ? null : planResult(o.databaseFile, o.plan.id)
    if (result !== null && !result.ok) throw new OpsError('hand over', `the new version took over but its take-over failed: ${result.error}`, { hint: 'npm run logs' })
    if (serving !== null && serving.pid !== oldPid && serving.version === o.version && (o.plan === null || result !== null)) {
      // The user-visible part is over; PM2's own reload ends when the old process has exited, and
      // until then it refuses another (a hand back, the next deploy): wait for it, bounded.
      // An unref'd timer: a pending 25 s sleep kept every deploy and rollback alive 20 s after its
      // last line.
      if (cli !== null) await Promise.race([cli, delay(25_000, undefined, { ref: false })])
      const by = { reload: 'pm2 reload', restart: 'pm2 restarted it', start: 'pm2 start' }[how]
      return { pid: serving.pid, how, result, detail: `${o.version.slice(0, 7)} serves (pid ${serving.pid}${oldPid === null ? '' : `, took over from ${oldPid}`}; ${by})` }
    }
    if (how === 'restart' && cli === null && performance.now() - started > pm2RestartGraceMs) {
      // PM2 did not bring the release up by itself: a version of the other release serves again
      // (hand over from it), or nothing does (start afresh).
      const other = servingRecord(o.databaseFile)
      cli = other !== null && (await appStatus({ env: o.env })).status === 'online' ? handOverByReload() : start()
      noteAnswer(cli)
    }
    if (performance.now() > until) {
      cancel()
      const now = await appStatus({ env: o.env })
      const stalled = stalledIncoming(now, serving)
      const parked = stalled === null ? '' : `; pm2 is still reloading: the incoming pid ${stalled} has not said ready`
      const answer = cli === null ? '' : answered ? said() : `pm2 ${how} has not answered yet`
      const heard = o.logFile === undefined ? '' : `; ${lastWordOfOthers(o.logFile, logFrom, oldPid)}`
      throw new OpsError('hand over', `${o.version.slice(0, 7)} did not take over within ${o.timeoutS} s (${now.detail}${serving === null ? ', nothing serves' : `, pid ${serving.pid} serves ${serving.version.slice(0, 7)}`}${parked}${answer === '' ? '' : `; pm2: ${answer.slice(0, 160)}`}${heard})`, { hint: 'npm run logs' })
    }
    await sleep(20)
  }
}

/**
 * What the incoming process said last, from the bot log since the hand-over began: the line of any
 * process but the one that served (a crash trace has no pid: it counts too).
 * @param {string} logFile @param {number} from @param {number | null} oldPid
 */
function lastWordOfOthers (logFile, from, oldPid) {
  let text = ''
  try {
    const fd = fs.openSync(logFile, 'r')
    try {
      const size = fs.fstatSync(fd).size
      const start = Math.max(from, size - 256 * 1024)
      const buf = Buffer.alloc(Math.max(0, size - start))
      fs.readSync(fd, buf, 0, buf.length, start)
      text = buf.toString('utf8')
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return 'no bot log to read'
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '').map(parseLogLine).filter((e) => e.fields.pid !== oldPid)
  const last = lines.at(-1)
  if (last === undefined) return 'the new process logged nothing'
  const pid = typeof last.fields.pid === 'number' ? ` (pid ${last.fields.pid})` : ''
  return `the new process last logged${pid}: "${last.msg.slice(0, 120)}"`
}

/** Waits for a PM2 reload in progress to finish (PM2 refuses a second one meanwhile). @param {NodeJS.ProcessEnv} env */
async function settlePm2 (env) {
  for (let i = 0; i < 150; i++) {
    const s = await appStatus({ env })
    if (s.status !== 'launching' && s.status !== 'stopping') return s
    await sleep(200)
  }
  return appStatus({ env })
}

/**
 * The start of every hand-back: when the incoming version never took over and the one that ran
 * still serves, there is nothing to hand back — the plan is withdrawn and releases/current points
 * where it did. PM2 may still be in the reload, its old process parked until the new one says
 * ready or PM2's own wait (`listen_timeout`) ends, when it stops the old one anyway: the stalled
 * incoming process is stopped, so PM2's restart runs releases/current — the release that serves
 * — which stands by and takes over like any reload. Otherwise (nothing serves, or the new version
 * does) the caller hands back at once.
 * `planId`: the hand-over's plan; a take-over that happened and failed left its result there, and
 * then the one that ran has stopped or is stopping, whatever its serving record still says (a fast
 * incoming process can fail before the old one has exited).
 * @param {{ databaseFile: string, version: string, tookOver: boolean, planId: string | null, previousDir: string }} o
 * @returns {Promise<string | null>} the step's detail when nothing is to be done
 */
export async function stillServing (o) {
  const tookOver = o.tookOver || (o.planId !== null && planResult(o.databaseFile, o.planId) !== null)
  if (tookOver || servingRecord(o.databaseFile)?.version !== o.version) return null
  clearPlan(o.databaseFile)
  pointCurrent(o.previousDir)
  const stalled = await stopStalledIncoming(process.env, o.databaseFile)
  const serving = servingRecord(o.databaseFile)
  if (serving?.version !== o.version) return null
  return `${o.version.slice(0, 7)} still serves (pid ${serving.pid})${stalled}; nothing to hand back`
}

/**
 * The incoming process of a reload that has not said ready, or null: PM2 lists it "launching"
 * while the process that serves (serving.json) is alive and parked by PM2, unlisted.
 * @param {import('./pm2.mjs').AppStatus} now @param {ServingRecord | null} serving
 */
function stalledIncoming (now, serving) {
  const pid = now.pid ?? null
  return now.status === 'launching' && pid !== null && serving !== null && serving.pid !== pid && isAlive(serving.pid) ? pid : null
}

/**
 * Ends a reload whose incoming process never became ready: kills it (PM2 starts the app again
 * from releases/current, the serving release, and that one stands by and takes over like any
 * reload) and waits, bounded, until it serves. '' when no reload was under way (then waits for
 * PM2 to settle, as PM2 may be starting or stopping the app).
 * @param {NodeJS.ProcessEnv} env @param {string} databaseFile
 */
async function stopStalledIncoming (env, databaseFile) {
  const stalled = stalledIncoming(await appStatus({ env }), servingRecord(databaseFile))
  if (stalled === null) {
    await settlePm2(env)
    return ''
  }
  try {
    process.kill(stalled, 'SIGKILL')
  } catch {
    // already gone: PM2 restarts it all the same
  }
  const until = performance.now() + 60_000
  for (;;) {
    const s = await appStatus({ env })
    const serving = servingRecord(databaseFile)
    if (s.status === 'online' && s.pid !== stalled && serving !== null && serving.pid === s.pid) break
    if (performance.now() > until) throw new OpsError('undo hand over', `pm2 did not end the reload within 60 s of the stalled process ${stalled} being stopped (${s.detail})`, { hint: 'npx pm2 ls; npm run logs' })
    await sleep(100)
  }
  return `; the incoming process that never stood by (pid ${stalled}) was stopped and pm2's reload ended on the serving release`
}

/**
 * The hand-over as a deploy or rollback step runs it: a countdown on the step's line, then the
 * take-over's own figures in the ✓ line.
 * @param {import('./progress.mjs').Progress} progress @param {Parameters<typeof handOver>[0]} o
 * @returns {Promise<{ took: Awaited<ReturnType<typeof handOver>>, detail: string }>}
 */
export async function handOverStep (progress, o) {
  progress.update(`pm2 reload: waiting for ${o.version.slice(0, 7)} to take over`, { deadline: performance.now() + o.timeoutS * 1000 })
  const took = await handOver(o)
  const steps = took.result?.steps.map((s) => `${s.name} ${s.ms} ms`).join(', ') ?? ''
  return { took, detail: `${took.detail}${steps === '' ? '' : `; at take-over: ${steps}`}` }
}
