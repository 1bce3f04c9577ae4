// @ts-check
// The step runner of deploy and rollback: one `✓ <step>  <what> (1.2 s)` or `✗ <step>: <why>` line
// per step, every step's result and duration kept for the journal, and the final tally.
import fs from 'node:fs'
import { performance } from 'node:perf_hooks'
import { chalk, sleep } from 'zx'
import { pm2View, waitHealthy } from '../health.mjs'
import { OpsError } from './cli.mjs'
import { git } from './git.mjs'
import { instancePorts, verifyInstances } from './instances.mjs'
import { formatLogEntry, parseLogLine } from './log-lines.mjs'
import { undeclaredChanges } from './migrations.mjs'
import { withProgress } from './progress.mjs'
import { CODE_ROOT, resolvePaths } from './paths.mjs'
import { botSettings } from './settings.mjs'
import { APP_NAME } from './pm2.mjs'
import { inspectDatabase } from './sqlite.mjs'

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
     * `always`: runs even after Ctrl-C (the undo of a completed step). While the step runs a live
     * line (or, without a terminal, a plain line every 15 s) says what it does: `fn` gets it.
     * @param {string} name @param {(progress: import('./progress.mjs').Progress) => Promise<T>} fn @param {{ always?: boolean }} [o] @returns {Promise<T>}
     */
    async step (name, fn, o = {}) {
      if (o.always !== true && options.interrupted?.() === true) throw new OpsError(name, 'interrupted (Ctrl-C) before this step', { code: 'EINTERRUPTED' })
      const started = performance.now()
      try {
        const result = await withProgress(name, fn, { quiet: options.quiet })
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

// The service steps deploy and rollback share (switch code, watch, verify). They belong with the
// runner because each is only ever run through it.

/** How long a new version may take to start and take over (below the ecosystem's listen_timeout, 120 s, so ops gives up on a stalled start before PM2 would stop the running process anyway). */
export const DEFAULT_READY_S = 30

/** Puts the checkout at `commit`: fast-forward on the branch, or a detached checkout. @param {string} commit @param {{ detach?: boolean, reset?: boolean, branch?: string }} [how] */
export async function switchCode (commit, how = {}) {
  // After a rollback HEAD is detached: back onto the branch (which contains it), then fast-forward.
  if (how.branch !== undefined && await git(CODE_ROOT, 'rev-parse', '--abbrev-ref', 'HEAD') === 'HEAD') await git(CODE_ROOT, 'checkout', '-q', how.branch)
  if (how.detach === true) await git(CODE_ROOT, 'checkout', '-q', '--detach', commit)
  else if (how.reset === true) await git(CODE_ROOT, 'reset', '-q', '--hard', commit)
  else await git(CODE_ROOT, 'merge', '-q', '--ff-only', commit)
  return `code at ${commit.slice(0, 7)}`
}

/** The byte offset where new log lines will start. @param {string} logFile */
export function logOffset (logFile) {
  return fs.statSync(logFile, { throwIfNoEntry: false })?.size ?? 0
}

/**
 * Follows storage/logs/bot.log for `seconds`: error lines are printed, fatal lines and PM2
 * restarts fail the step.
 * @param {{ env: NodeJS.ProcessEnv, logFile: string, fromOffset: number, seconds: number, quiet?: boolean, progress?: import('./progress.mjs').Progress }} o
 */
export async function watchBot (o) {
  const restartsAtStart = (await pm2View(o.env))?.restarts ?? 0
  o.progress?.update('following storage/logs/bot.log', { deadline: performance.now() + o.seconds * 1000 })
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
 * On PostgreSQL (`storage`) the server keeps its own integrity: the rows are counted.
 * @param {{ env: NodeJS.ProcessEnv, commit: string, databaseFile: string, before: Record<string, number> | null, declared?: import('./migrations.mjs').DataChange, waitS?: number, storage?: import('./storage/index.mjs').Storage }} o
 */
export async function verifyBot (o) {
  const health = await waitHealthy({ env: o.env, waitS: o.waitS ?? 20 })
  if (!health.healthy) throw new OpsError('verify', health.reason, { hint: 'npm run logs' })
  const version = health.healthz?.version
  if (version !== o.commit) throw new OpsError('verify', `the bot runs ${String(version).slice(0, 7)}, expected ${o.commit.slice(0, 7)}`, { hint: 'npm run status' })
  const postgres = o.storage?.engine === 'postgres' ? o.storage : null
  const db = postgres !== null ? { ok: true, problem: '', counts: (await postgres.inspect()).counts } : inspectDatabase(o.databaseFile)
  if (!db.ok) throw new OpsError('verify', `the database does not verify: ${db.problem}`, { hint: 'npx zx ops/rollback.mjs' })
  const problems = o.before === null ? [] : undeclaredChanges(o.before, db.counts, o.declared ?? {})
  if (problems.length > 0) throw new OpsError('verify', problems.join('; '), { hint: 'npx zx ops/rollback.mjs' })
  // Several instances: the check above reached one of them; each must run the new version.
  const { config } = await botSettings(resolvePaths({ env: o.env }).root, o.env)
  const several = config !== undefined && config.instances > 1 && config.healthPort !== 0
    ? `; ${await verifyInstances({ ports: instancePorts(config.healthPort, config.instances), commit: o.commit })}`
    : ''
  return `healthy, version ${o.commit.slice(0, 7)}, ${postgres !== null ? 'PostgreSQL' : 'integrity ok'}, ${db.counts.tasks ?? 0} tasks (rows not fewer)${several}`
}
