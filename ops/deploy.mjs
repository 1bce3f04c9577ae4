// @ts-check
// ops/deploy.mjs: the deploy checklist as a table of steps (below, `STEPS`); the bot keeps serving
// until the new version takes over, and a new version that cannot start never replaces it.
//
// preflight (clean checkout, fetch, fast-forward only, .env valid for the incoming code, token,
// disk) → release (releases/<stamp>-<sha7>, a git worktree with its own node_modules; npm ci in
// storage/deps only when the dependencies changed) → tests of the incoming commit there → backup
// and a rehearsal of the incoming migrations on a copy → plan and "Proceed? [y/N]" → [announce] →
// dry start (the new version loads, checks .env, schema and token, and exits) → hand over (pm2
// reload: the new process stands by, the old one finishes the update in hand and exits, the new
// one takes the lock at once, takes the snapshot a rollback restores and migrates while nothing
// writes) → snapshot verified → watch the log → verify (health, version, integrity, rows) →
// checkout (the operator's checkout fast-forwarded, so git names what runs) → prune old releases →
// journal (storage/deploys.jsonl) → a notice to the owner's chat. A failure or Ctrl-C undoes the
// completed steps in reverse: after the hand-over that hands the bot back to the previous release.
//
// When: to put what origin/main holds into production.
//
// Usage: npx zx ops/deploy.mjs [flags]
//   --yes                    do not ask (also: hand back without asking if the deploy fails)
//   --dry-run                run the checks, print the steps it would run, change nothing
//   --branch <remote/branch> what to deploy (default origin/main); --remote <name> sets the remote
//   --test-command "<cmd>"   the incoming tests (default: $DEPLOY_TEST_COMMAND or "npm test")
//   --skip-tests             skip the tests (asks; recorded in the journal)
//   --all-tests              run every test file even after one fails (default: stop at the first)
//   --watch <seconds>        follow the log after the hand-over (default 20)
//   --ready-timeout <s>      how long the new version may take to start and take over (default 30)
//   --offline                do not ask Telegram getMe
//   --announce [text]        send a maintenance notice to the allowed users' chats first
//   --force-unlock           clear a stale storage/deploy.lock first (never a live one)
//   --history                print the journal of deploys and rollbacks
//   --help                   this text
import { execFileSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import fs from 'node:fs'
import path from 'node:path'
import { backup, DEFAULT_KEEP } from './backup.mjs'
import { buildRelease } from './lib/build.mjs'
import { rehearse } from './migrate.mjs'
import { DEFAULT_BRANCH, preflight } from './preflight.mjs'
import { confirm, info, intFlag, isMain, ok, OpsError, parseFlags, refuseWithoutTerminal, runMain, scriptArgs, warn } from './lib/cli.mjs'
import { depsKey } from './lib/deps.mjs'
import { headCommit } from './lib/git.mjs'
import { clearPlan, dryStart, handOver, handOverStep, servingRecord, stillServing, writePlan } from './lib/handover.mjs'
import { acquireLock } from './lib/lock.mjs'
import { declaredDataChange, undeclaredChanges } from './lib/migrations.mjs'
import { CODE_ROOT, resolvePaths, shown } from './lib/paths.mjs'
import { currentReleaseDir, depsFor, prepareRelease, pruneReleases, removeRelease } from './lib/release-dirs.mjs'
import { appendRelease, historyTable, newId, readReleases, who } from './lib/releases.mjs'
import { announce, notifyOwner } from './lib/notices.mjs'
import { takeOverSnapshot, writeManifestFor } from './lib/snapshot.mjs'
import { createRunner, DEFAULT_READY_S, reported, switchCode, verifyBot, watchBot, logOffset } from './lib/steps.mjs'
import { runTests } from './lib/test-run.mjs'
import { runTable } from './lib/step-table.mjs'
import { storageFor } from './lib/storage/index.mjs'

export const DEFAULT_WATCH_S = 20

const FLAGS = /** @type {const} */ ({
  yes: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, branch: { type: 'string' }, remote: { type: 'string' },
  'test-command': { type: 'string' }, 'skip-tests': { type: 'boolean' }, 'all-tests': { type: 'boolean' }, watch: { type: 'string' }, offline: { type: 'boolean' },
  announce: { type: 'string' }, 'force-unlock': { type: 'boolean' }, history: { type: 'boolean' }, 'ready-timeout': { type: 'string' },
})

function ignoreSignal () {}

/**
 * Takes storage/deploy.lock; a refusal (held, or stale) is recorded in the journal too.
 * @param {import('./lib/paths.mjs').Paths} paths @param {boolean} dryRun @param {boolean} force
 */
function lockOrRecord (paths, dryRun, force) {
  try {
    return acquireLock(paths.storageDir + '/deploy.lock', `ops/deploy.mjs ${scriptArgs().join(' ')}`.trim(), { force, rerun: 'npx zx ops/deploy.mjs' })
  } catch (err) {
    const now = new Date().toISOString()
    if (!dryRun) appendRelease(paths.journalFile, { id: newId(), kind: 'deploy', start: now, end: now, from: null, to: null, backup: null, migrations: [], steps: [], outcome: 'failed', reason: err instanceof Error ? err.message : String(err), who: who() })
    throw err
  }
}

/**
 * A backup that could not be written (disk full, a file-size limit, an I/O error) says so in words
 * the operator can act on; SQLite reports all of these as an I/O error.
 * @param {unknown} err @returns {never}
 */
function explainWriteError (err) {
  const code = String(/** @type {{ code?: unknown }} */ (err)?.code ?? '')
  if (err instanceof OpsError || !/^(SQLITE_IOERR|SQLITE_FULL|ENOSPC|EFBIG|EDQUOT)/.test(code)) throw err
  throw new OpsError('backup', `the backup could not be written (${code}: ${err instanceof Error ? err.message : String(err)}): the disk may be full or a file-size limit reached`, { hint: 'df -h storage/backups; ulimit -f', cause: err })
}

/** `--announce` may come without its text: give it an empty one (the default notice). @param {string[]} args */
function withAnnounceText (args) {
  return args.flatMap((a, i) => a === '--announce' && (args[i + 1] === undefined || args[i + 1]?.startsWith('--')) ? [a, ''] : [a])
}

/**
 * @typedef {{
 *   paths: import('./lib/paths.mjs').Paths, branch: string, offline: boolean, testCommand: string, skipTests: boolean, allTests: boolean,
 *   announce: string | null, watchS: number, readyS: number, yes: boolean, dryRun: boolean,
 *   pf: Awaited<ReturnType<typeof preflight>> | null, from: string, to: string, upToDate: boolean,
 *   release: { dir: string, name: string, created: boolean, deps: string } | null, previousDir: string,
 *   backupFile: string | null, migrations: string[], plan: import('./lib/handover.mjs').HandoverPlan | null,
 *   tookOver: Awaited<ReturnType<typeof handOver>> | null, logOffset: number, depsChanged: boolean,
 *   storage: import('./lib/storage/index.mjs').Storage
 * }} DeployContext
 */

const short = (/** @type {string} */ c) => c.slice(0, 7)

const incoming = (/** @type {DeployContext} */ c) => !c.upToDate

/**
 * Gives the bot back to the release that ran before, with its data: migrations the new version
 * applied are undone with the new release's own files (tasks added since are kept); a take-over
 * that failed has already put its snapshot back.
 * @param {DeployContext} c
 */
async function handBack (c) {
  const unchanged = await stillServing({ databaseFile: c.paths.databaseFile, version: c.from, tookOver: c.tookOver !== null, planId: c.plan?.id ?? null, previousDir: c.previousDir })
  if (unchanged !== null) return unchanged
  const applied = c.tookOver?.result?.ok === true && c.migrations.length > 0
  const plan = applied
    ? writePlan(c.paths.databaseFile, { version: c.from, ...takeOverSnapshot(c.storage, c.paths.backupsDir), undo: { migrationsDir: path.join(c.release?.dir ?? '', 'storage', 'migrations'), names: [...c.migrations].reverse() } })
    : null
  if (plan === null) clearPlan(c.paths.databaseFile)
  const back = await handOver({ dir: c.previousDir, version: c.from, env: process.env, databaseFile: c.paths.databaseFile, plan, timeoutS: c.readyS, logFile: path.join(c.paths.logsDir, 'bot.log') })
  return `${back.detail}${applied ? `; undid ${c.migrations.join(', ')}, tasks kept` : ''}`
}

/** @type {import('./lib/step-table.mjs').Step<DeployContext>[]} */
export const STEPS = [
  {
    name: 'preflight',
    check: true,
    describe: (c) => `clean checkout, git fetch ${c.branch}, fast-forward only, .env valid for the incoming version${c.offline ? '' : ', token works'}, disk space`,
    run: async (c) => {
      const r = await preflight({ branch: c.branch, offline: c.offline, dryRun: c.dryRun, quiet: true })
      Object.assign(c, { pf: r, from: r.from, to: r.to, upToDate: r.upToDate })
      return r.upToDate ? `already up to date at ${short(r.from)}` : `${r.commits.length} incoming commit(s) ${short(r.from)} → ${short(r.to)}, .env valid${c.offline ? ' (offline)' : ', token works'}`
    },
  },
  {
    name: 'release',
    when: incoming,
    describe: (c) => `releases/<stamp>-${short(c.to)}: a git worktree of ${short(c.to)} with its node_modules (npm ci in storage/deps only if the dependencies changed)`,
    run: async (c, progress) => {
      c.previousDir = currentReleaseDir()
      progress.update(`git worktree of ${short(c.to)}, its node_modules`)
      const r = await prepareRelease(c.to, { progress })
      c.release = r
      c.depsChanged = await depsKey(CODE_ROOT, c.from) !== await depsKey(CODE_ROOT, c.to)
      return `releases/${r.name} (${r.created ? 'new' : 'already on disk'}; node_modules ${r.deps === 'installed' ? 'installed with npm ci' : r.deps === 'linked' ? 'linked, unchanged' : 'reused'})`
    },
    undo: async (c) => {
      if (c.release === null || !c.release.created) return 'kept'
      await removeRelease(c.release.dir)
      return `releases/${c.release.name} removed`
    },
  },
  {
    name: 'build',
    when: incoming,
    describe: () => 'npm run build in the new release: dist/ is what PM2 runs; a compiler error stops here',
    run: (c, progress) => buildRelease(c.release?.dir ?? '', { progress }),
  },
  {
    name: 'tests',
    when: (c) => incoming(c) && !c.skipTests,
    describe: (c) => `${c.testCommand} in the new release; any failure stops here${c.allTests ? '' : ' (at the first failing file)'}`,
    run: (c, progress) => runTests(c.release?.dir ?? '', c.testCommand, { progress, stopOnFailure: !c.allTests }),
  },
  {
    name: 'backup',
    when: incoming,
    describe: () => 'an online backup of the live database, verified (integrity, counts, sha256)',
    run: async (c, progress) => {
      const r = await backup({ keep: DEFAULT_KEEP, yes: c.yes, quiet: true, progress }).catch(explainWriteError)
      c.backupFile = r.file
      return `${shown(c.paths, r.file ?? '')} (${r.manifest?.counts.tasks ?? 0} tasks, integrity ok)`
    },
  },
  {
    name: 'rehearse',
    when: incoming,
    describe: () => 'the incoming migrations on a copy of that backup; rows checked',
    run: async (c, progress) => {
      const r = await rehearse({ root: c.release?.dir ?? '', env: { ...process.env, DATABASE_FILE: c.paths.databaseFile }, backupFile: c.backupFile ?? '', quiet: true, progress })
      c.migrations = r.ran
      return r.ran.length === 0 ? 'no incoming migrations' : `${r.ran.length} migration(s) ran on a copy, rows as expected`
    },
  },
  {
    name: 'announce',
    when: (c) => incoming(c) && c.announce !== null,
    ask: (c) => `hand the bot over to ${short(c.to)}`,
    describe: () => 'a maintenance notice to the allowed users\' chats',
    run: (c) => announce(c.pf?.botEnv ?? process.env, c.announce ?? ''),
  },
  {
    name: 'dry start',
    when: incoming,
    ask: (c) => `hand the bot over to ${short(c.to)}`,
    describe: (c) => `the new version loads, checks .env, the schema${c.migrations.length > 0 ? ' (after its migrations)' : ''} and the token, and exits; the running bot is not touched`,
    run: async (c, progress) => {
      progress.update(`starting ${short(c.to)} with --dry-start`, { deadline: performance.now() + c.readyS * 1000 })
      c.plan = writePlan(c.paths.databaseFile, c.migrations.length > 0 ? { version: c.to, ...takeOverSnapshot(c.storage, c.paths.backupsDir), migrate: true } : { version: c.to })
      return dryStart(c.release?.dir ?? '', process.env, c.readyS)
    },
    undo: async (c) => {
      clearPlan(c.paths.databaseFile)
      return 'hand-over plan withdrawn'
    },
  },
  {
    name: 'hand over',
    when: incoming,
    describe: (c) => `pm2 reload: ${short(c.to)} stands by, ${short(c.from)} finishes the update in hand and exits, ${short(c.to)} takes over${c.migrations.length > 0 ? `, ${c.storage.engine === 'sqlite' ? 'snapshots the database and ' : ''}applies ${c.migrations.join(', ')}` : ''} and polls`,
    run: async (c, progress) => {
      c.logOffset = logOffset(path.join(c.paths.logsDir, 'bot.log'))
      const r = await handOverStep(progress, { dir: c.release?.dir ?? '', version: c.to, env: process.env, databaseFile: c.paths.databaseFile, plan: c.plan, timeoutS: c.readyS, logFile: path.join(c.paths.logsDir, 'bot.log') })
      c.tookOver = r.took
      return r.detail
    },
    undo: handBack,
    // A take-over that happened and then failed (its plan threw) has changed who serves.
    undoOnFailure: true,
  },
  {
    name: 'snapshot',
    when: (c) => incoming(c) && (c.dryRun || c.migrations.length > 0),
    describe: (c) => c.storage.engine === 'sqlite'
      ? 'with migrations: the snapshot taken at take-over verified, with its manifest (what a rollback restores); rows after the migrations as declared'
      : 'with migrations: rows after the migrations as declared (on PostgreSQL the backup step\'s pg_dump is what a rollback restores)',
    run: async (c) => {
      const counts = c.tookOver?.result?.counts
      const problems = counts === undefined ? [] : undeclaredChanges(counts.before, counts.after, await declaredDataChange(path.join(c.release?.dir ?? '', 'storage', 'migrations'), c.migrations))
      if (c.storage.engine === 'postgres') {
        if (problems.length > 0) throw new OpsError('snapshot', `the migrations changed rows they do not declare: ${problems.join('; ')}`, { hint: 'npx zx ops/rollback.mjs' })
        return `PostgreSQL: the restore point is the backup step's ${shown(c.paths, c.backupFile ?? '')}; rows after the migrations as declared`
      }
      const file = c.plan?.snapshot ?? ''
      const m = await writeManifestFor(file, { kind: 'backup', source: shown(c.paths, c.paths.databaseFile), gitCommit: c.from })
      if (!m.verified) throw new OpsError('snapshot', `the snapshot ${path.basename(file)} does not verify: ${m.integrity}`, { hint: 'npx zx ops/backup.mjs --list' })
      c.backupFile = file
      if (problems.length > 0) throw new OpsError('snapshot', `the migrations changed rows they do not declare: ${problems.join('; ')}`, { hint: 'npx zx ops/rollback.mjs' })
      return `${shown(c.paths, file)} (${m.counts.tasks ?? 0} tasks, integrity ok); rows after the migrations as declared`
    },
  },
  {
    name: 'watch',
    when: (c) => incoming(c) && c.watchS > 0,
    describe: (c) => `follow storage/logs/bot.log for ${c.watchS} s: no fatal line, no restart`,
    run: (c, progress) => watchBot({ env: process.env, logFile: path.join(c.paths.logsDir, 'bot.log'), fromOffset: c.logOffset, seconds: c.watchS, progress }),
  },
  {
    name: 'verify',
    when: incoming,
    describe: (c) => `health ok, version ${short(c.to)}, integrity ok`,
    run: (c) => verifyBot({ env: process.env, commit: c.to, databaseFile: c.paths.databaseFile, before: null, storage: c.storage }),
  },
  {
    name: 'checkout',
    when: incoming,
    describe: (c) => `the operator's checkout fast-forwarded to ${short(c.to)}${c.depsChanged ? ', with its node_modules' : ''}, so git names what runs`,
    run: async (c) => {
      if (c.depsChanged) await depsFor(c.from)
      await switchCode(c.to, { branch: c.pf?.branch })
      if (c.depsChanged) replaceCheckoutModules(c.release?.dir ?? '')
      return `checkout at ${short(c.to)}`
    },
    undo: async (c) => {
      await switchCode(c.from, { reset: true })
      if (c.depsChanged) replaceCheckoutModules(path.join(CODE_ROOT, 'storage', 'deps', await depsKey(CODE_ROOT, c.from)))
      return `checkout back at ${short(c.from)}`
    },
  },
  {
    name: 'prune',
    when: incoming,
    describe: () => 'keep the newest 5 releases and the dependencies they use',
    run: async (c) => {
      const removed = await pruneReleases({ also: [c.previousDir] })
      return removed.length === 0 ? 'nothing to prune' : `removed ${removed.join(', ')}`
    },
  },
]

/**
 * The checkout's node_modules (what the ops scripts use) becomes the one `dir` uses: a hard-linked
 * copy, so the release's own stays untouched whatever npm later does in the checkout.
 * @param {string} dir a release directory, or a storage/deps/<key> folder
 */
function replaceCheckoutModules (dir) {
  const live = path.join(CODE_ROOT, 'node_modules')
  const source = fs.realpathSync(path.join(dir, 'node_modules'))
  const old = `${live}.old-${process.pid}`
  const wasLink = fs.lstatSync(live, { throwIfNoEntry: false })?.isSymbolicLink() === true
  if (fs.lstatSync(live, { throwIfNoEntry: false }) !== undefined) fs.renameSync(live, old)
  if (wasLink) fs.symlinkSync(source, live)
  else execFileSync('cp', ['-al', source, live])
  fs.rmSync(old, { recursive: true, force: true })
}

async function main () {
  const flags = parseFlags('deploy', withAnnounceText(scriptArgs()), FLAGS, import.meta.url)
  if (flags === null) return
  const v = flags.values
  const paths = resolvePaths()
  if (v.history === true) return info(historyTable(readReleases(paths.journalFile)))
  const branchFlag = typeof v.branch === 'string' ? v.branch : DEFAULT_BRANCH
  /** @type {DeployContext} */
  const ctx = {
    paths,
    branch: typeof v.remote === 'string' ? `${v.remote}/${branchFlag.split('/').slice(-1)[0]}` : branchFlag,
    offline: v.offline === true,
    testCommand: typeof v['test-command'] === 'string' ? v['test-command'] : (process.env.DEPLOY_TEST_COMMAND?.trim() || 'npm test'),
    skipTests: v['skip-tests'] === true,
    allTests: v['all-tests'] === true,
    announce: typeof v.announce === 'string' ? v.announce : null,
    watchS: intFlag('deploy', v.watch, '--watch', 0) ?? DEFAULT_WATCH_S,
    readyS: intFlag('deploy', v['ready-timeout'], '--ready-timeout', 1) ?? DEFAULT_READY_S,
    yes: v.yes === true,
    dryRun: v['dry-run'] === true,
    pf: null, from: '', to: '', upToDate: false, release: null, previousDir: CODE_ROOT, backupFile: null, migrations: [], plan: null, tookOver: null, logOffset: 0, depsChanged: false,
    storage: await storageFor(paths),
  }
  refuseWithoutTerminal('deploy', 'deploy', { yes: ctx.yes, dryRun: ctx.dryRun })
  if (ctx.skipTests && !ctx.dryRun) await confirm('deploy', 'deploy WITHOUT running the tests of the incoming commit', { yes: ctx.yes })

  const lock = lockOrRecord(paths, ctx.dryRun, v['force-unlock'] === true)
  if (lock.cleared !== null) warn('lock', `cleared a stale lock of pid ${lock.cleared?.pid ?? '?'} (--force-unlock)`)
  // Ctrl-C: the step in hand finishes, no further step starts, and the completed ones are undone
  // (a second Ctrl-C does not interrupt the undo).
  let interrupted = false
  const onSigint = () => {
    if (!interrupted) warn('deploy', 'Ctrl-C: finishing the step in hand, then undoing what was done')
    interrupted = true
  }
  process.on('SIGINT', onSigint)
  // A file-size limit (ulimit -f) must fail the write with EFBIG, not kill the deploy half-way: a
  // listener of our own keeps signal-exit (loaded by our dependencies) from re-raising SIGXFSZ.
  process.on('SIGXFSZ', ignoreSignal)
  const run = createRunner({ interrupted: () => interrupted })
  /** @type {import('./lib/releases.mjs').Release} */
  const record = { id: newId(), kind: 'deploy', start: new Date().toISOString(), from: null, to: null, backup: null, migrations: [], steps: run.steps, outcome: 'failed', reason: null, who: who() }
  if (ctx.skipTests) record.skippedTests = true
  let journal = !ctx.dryRun
  try {
    record.from = await headCommit(CODE_ROOT)
    const r = await runTable(STEPS, ctx, { run, dryRun: ctx.dryRun, yes: ctx.yes, step: 'deploy', interrupted: () => interrupted })
    if (ctx.upToDate) {
      journal = false
      return ok('deploy', `nothing to deploy: already at ${short(ctx.from)}`)
    }
    if (r.dryRun) return ok('deploy', 'dry run: nothing was changed')
    Object.assign(record, { from: ctx.from, to: ctx.to, backup: ctx.backupFile, migrations: ctx.migrations, outcome: 'good' })
    ok('deploy', `${short(ctx.to)} is live, handed over from ${short(ctx.from)} without a stop; ${run.tally()}`)
    await notifyOwner(ctx.pf?.botEnv ?? process.env, `Mister Todo ${short(ctx.to)} is deployed and verified (handed over without a stop).`)
  } catch (err) {
    Object.assign(record, { to: ctx.to || null, backup: ctx.backupFile, migrations: ctx.migrations })
    if (ctx.from !== '') record.from = ctx.from
    record.reason = err instanceof Error ? err.message : String(err)
    if (err instanceof OpsError && err.code === 'ECANCELLED') record.outcome = 'cancelled'
    const handedBack = run.steps.some((s) => s.name === 'undo hand over' && s.ok)
    const handedOver = run.steps.some((s) => s.name === 'hand over' && s.ok) || run.steps.some((s) => s.name === 'undo hand over')
    if (interrupted) record.outcome = 'interrupted'
    else if (handedOver && handedBack) record.outcome = 'rolled-back'
    const serving = servingRecord(paths.databaseFile)
    const still = serving === null ? 'nothing serves: see npm run status' : `${short(serving.version)} still serving`
    const summary = handedOver
      ? (handedBack ? `handed back to ${short(ctx.from)}, release marked bad` : `the hand back failed too (${still})`)
      : `nothing changed: ${record.reason}; ${still}`
    if (ctx.pf !== null && !ctx.upToDate && record.outcome !== 'cancelled') await notifyOwner(ctx.pf.botEnv, `Mister Todo: the deploy of ${short(ctx.to)} failed (${summary}). Reason: ${record.reason}`)
    if (interrupted) throw new OpsError('deploy', `interrupted (Ctrl-C); ${summary}; ${run.tally()}`, { hint: 'npx zx ops/deploy.mjs --history', code: 'EINTERRUPTED' })
    throw reported.has(/** @type {object} */ (err)) ? new OpsError('deploy', `${summary}; ${run.tally()}`, { hint: 'npx zx ops/deploy.mjs --history' }) : err
  } finally {
    if (journal && record.from !== null) appendRelease(paths.journalFile, { ...record, end: new Date().toISOString() })
    lock.release()
    process.off('SIGINT', onSigint)
    process.off('SIGXFSZ', ignoreSignal)
  }
}

if (isMain(import.meta.url)) await runMain('deploy', main)
