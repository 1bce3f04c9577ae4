// @ts-check
// ops/rollback.mjs: hands the bot back to an earlier release — code, dependencies and data —
// without stopping it: the release directory (still on disk, or made again) is dry-started, then
// handed over to as a deploy is (pm2 reload; the running version serves until the target takes
// over). The steps are a table (`STEPS`), undone in reverse on a failure or Ctrl-C.
//
// By default it undoes the newest deploy in storage/deploys.jsonl that is not marked bad: the
// commit before it, with the backup that deploy took (its take-over snapshot). The backup is
// checked against its manifest's sha256 before anything changes. At take-over the target puts the
// backup in place and keeps the replaced database as a _pre-restore backup; with --keep-data it
// instead undoes the migrations it does not have (with the newer release's own files) and keeps
// every task. Then: watch → verify → the operator's checkout detached at the target → journal (the
// deploys it undoes are marked bad, so a second rollback goes one release further back) → a notice
// to the owner's chat.
//
// When: a deploy went wrong after it finished, or deploy's own hand-back could not run.
//
// Usage: npx zx ops/rollback.mjs [flags]
//   --list              releases: commit, date, backup, good/bad
//   --to <commit>       go to this commit instead (with the backup of the deploy that left it,
//                       when the journal has one)
//   --backup <file>     restore this backup instead (a path, or a name in storage/backups)
//   --keep-data         undo the deploy's migrations instead of restoring the backup
//   --yes               do not ask;  --dry-run  print the plan and the steps, change nothing
//   --watch <seconds>   follow the log after the hand-over (default 10)
//   --ready-timeout <s> how long the target may take to start and take over (default 30)
//   --force-unlock      clear a stale storage/deploy.lock first
//   --offline, --branch, --remote   accepted for symmetry with deploy
//   --help              this text
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { botEnvironment } from './preflight.mjs'
import { readManifest, verifyBackup } from './lib/backups.mjs'
import { buildRelease } from './lib/build.mjs'
import { info, intFlag, isMain, ok, OpsError, parseFlags, refuseWithoutTerminal, runMain, scriptArgs, warn } from './lib/cli.mjs'
import { git, headCommit, migrationsAt } from './lib/git.mjs'
import { declaresAdditive } from './lib/migrations.mjs'
import { clearPlan, dryStart, handOver, handOverStep, servingRecord, stillServing, writePlan } from './lib/handover.mjs'
import { acquireLock } from './lib/lock.mjs'
import { CODE_ROOT, resolvePaths, shown } from './lib/paths.mjs'
import { currentReleaseDir, prepareRelease, pruneReleases, removeRelease } from './lib/release-dirs.mjs'
import { appendRelease, badCommits, deploysBetween, deployToUndo, historyTable, newId, readReleases, who } from './lib/releases.mjs'
import { notifyOwner } from './lib/notices.mjs'
import { freeBackupPath, takeOverSnapshot, writeManifestFor } from './lib/snapshot.mjs'
import { createRunner, DEFAULT_READY_S, logOffset, reported, switchCode, verifyBot, watchBot } from './lib/steps.mjs'
import { runTable } from './lib/step-table.mjs'
import { storageFor } from './lib/storage/index.mjs'

export const DEFAULT_ROLLBACK_WATCH_S = 10

/**
 * @typedef {{
 *   paths: import('./lib/paths.mjs').Paths, releases: import('./lib/releases.mjs').Release[], toFlag: string | null, backupFlag: string | null,
 *   keepData: boolean, watchS: number, readyS: number, current: string, target: string, chain: import('./lib/releases.mjs').Release[],
 *   backupFile: string | null, toUndo: string[], toKeep: string[], release: { dir: string, name: string, created: boolean } | null, previousDir: string,
 *   plan: import('./lib/handover.mjs').HandoverPlan | null, tookOver: Awaited<ReturnType<typeof handOver>> | null, logOffset: number, dryRun: boolean,
 *   storage: import('./lib/storage/index.mjs').Storage
 * }} RollbackContext
 */

const short = (/** @type {string | null} */ c) => c?.slice(0, 7) ?? '?'

/** Tasks added or changed since a backup was taken (by their updated_at). @param {string} dbFile @param {string | null} backupFile */
function changedSince (dbFile, backupFile) {
  const takenAt = backupFile === null ? NaN : Date.parse(readManifest(backupFile)?.createdAt ?? '')
  if (Number.isNaN(takenAt) || !fs.existsSync(dbFile)) return null
  const db = new Database(dbFile, { readonly: true })
  try {
    return Number(db.prepare('select count(*) from tasks where updated_at > ?').pluck().get(takenAt))
  } catch {
    return null
  } finally {
    db.close()
  }
}

/** Applied migrations, newest first. @param {RollbackContext} c @returns {Promise<string[]>} */
async function appliedMigrations (c) {
  if (c.storage.engine === 'postgres') {
    const knex = await c.storage.openKnex(undefined)
    try {
      return /** @type {string[]} */ (await knex('knex_migrations').orderBy('id', 'desc').pluck('name'))
    } finally {
      await knex.destroy()
    }
  }
  const db = new Database(c.paths.databaseFile, { readonly: true, fileMustExist: true })
  try {
    return /** @type {string[]} */ (db.prepare('select name from knex_migrations order by id desc').pluck().all())
  } catch {
    return []
  } finally {
    db.close()
  }
}

/**
 * The migrations a rollback keeping the data must take off, split into the oldest ones that
 * declare `export const additive = true` (left applied: bot/kept-migrations.ts) and the rest
 * (undone, newest first). Only a run of additive ones from the oldest stays: a later migration may
 * build on an earlier one, never the other way round.
 * @param {string[]} newestFirst @param {string} migrationsDir the newer release's, which has their files
 * @returns {{ keep: string[], undo: string[] }}
 */
function splitAdditive (newestFirst, migrationsDir) {
  const oldestFirst = [...newestFirst].reverse()
  let n = 0
  while (n < oldestFirst.length && declaresAdditive(path.join(migrationsDir, oldestFirst[n] ?? ''))) n += 1
  return { keep: oldestFirst.slice(0, n), undo: oldestFirst.slice(n).reverse() }
}

/** A --backup argument: a path, or a name in storage/backups. @param {import('./lib/paths.mjs').Paths} paths @param {string} arg */
function findBackup (paths, arg) {
  return [path.resolve(arg), path.join(paths.backupsDir, arg)].find((f) => fs.existsSync(f)) ?? path.resolve(arg)
}

/**
 * The release that ran gets the bot back, with the data it had: the database the target replaced
 * (kept as _pre-restore), or the migrations the target undid re-applied.
 * @param {RollbackContext} c
 */
async function handBack (c) {
  const unchanged = await stillServing({ databaseFile: c.paths.databaseFile, version: c.current, tookOver: c.tookOver !== null, planId: c.plan?.id ?? null, previousDir: c.previousDir })
  if (unchanged !== null) return unchanged
  const result = c.tookOver?.result
  /** @type {import('./lib/handover.mjs').HandoverPlan | null} */
  let plan = null
  if (result?.ok === true && c.plan?.restore !== undefined) {
    plan = writePlan(c.paths.databaseFile, { version: c.current, restore: { from: c.plan.restore.keepAs, keepAs: freeBackupPath(c.paths.backupsDir, 'pre-restore') } })
  } else if (result?.ok === true && c.toUndo.length > 0) {
    plan = writePlan(c.paths.databaseFile, { version: c.current, ...takeOverSnapshot(c.storage, c.paths.backupsDir), migrate: true })
  } else if (result?.ok === true && c.toKeep.length > 0) {
    // Only left applied: taking them back is a row move, nothing to snapshot.
    plan = writePlan(c.paths.databaseFile, { version: c.current, migrate: true })
  } else {
    clearPlan(c.paths.databaseFile)
  }
  const back = await handOver({ dir: c.previousDir, version: c.current, env: process.env, databaseFile: c.paths.databaseFile, plan, timeoutS: c.readyS, logFile: path.join(c.paths.logsDir, 'bot.log') })
  return `${back.detail}${plan?.restore !== undefined ? ', with the database it had' : plan?.migrate === true ? ', migrations re-applied' : ''}`
}

/** @type {import('./lib/step-table.mjs').Step<RollbackContext>[]} */
export const STEPS = [
  {
    name: 'choose',
    check: true,
    describe: () => 'the target release and its backup, checked against the backup\'s manifest (sha256)',
    run: async (c) => {
      const undo = c.toFlag === null ? deployToUndo(c.releases) : null
      const target = c.toFlag !== null
        ? await git(CODE_ROOT, 'rev-parse', '--verify', '--quiet', `${c.toFlag}^{commit}`).catch(() => { throw new OpsError('rollback', `unknown commit ${c.toFlag}; nothing was changed`, { hint: 'npx zx ops/rollback.mjs --list' }) })
        : undo?.from ?? null
      if (target === null) throw new OpsError('rollback', 'no good deploy in storage/deploys.jsonl to undo; nothing was changed', { hint: 'npx zx ops/rollback.mjs --list, then --to <commit>' })
      c.target = target
      if (target === c.current) throw new OpsError('rollback', `already at ${short(target)}; nothing was changed`, { hint: 'npx zx ops/rollback.mjs --list' })
      c.chain = undo === null ? deploysBetween(c.releases, c.current, target) : [undo]
      if (c.storage.engine === 'postgres') {
        // Putting a dump back means swapping databases, which no process may be connected to: not
        // a hand-over. The rollback keeps the data; ops/restore.mjs puts a backup back.
        if (c.backupFlag !== null) throw new OpsError('rollback', 'on PostgreSQL a rollback keeps the data (its migrations undone): --backup is for SQLite; nothing was changed', { hint: 'npx zx ops/rollback.mjs (data kept), then npx zx ops/restore.mjs <backup> to put that backup\'s data back (it stops the bot for the swap)' })
        c.keepData = true
      }
      c.backupFile = c.backupFlag !== null ? findBackup(c.paths, c.backupFlag) : (c.keepData ? null : c.chain.at(-1)?.backup ?? null)
      if (!c.keepData && c.backupFile === null) throw new OpsError('rollback', `no backup to restore for ${short(target)}: give one with --backup <file>, or keep the data with --keep-data; nothing was changed`, { hint: 'npx zx ops/backup.mjs --list' })
      if (c.keepData) c.backupFile = null
      if (c.backupFile !== null) {
        // Its integrity was checked when it was taken; the sha256 proves it is still that file.
        const check = await verifyBackup(c.backupFile, { deep: false })
        if (!check.ok) throw new OpsError('rollback', `backup ${path.basename(c.backupFile)} cannot be restored: ${check.problem}; nothing was changed`, { hint: 'npx zx ops/backup.mjs --list, then --backup <file> (or --keep-data)' })
      } else {
        const keep = new Set(await migrationsAt(CODE_ROOT, target))
        const split = splitAdditive((await appliedMigrations(c)).filter((n) => !keep.has(n)), path.join(currentReleaseDir(), 'storage', 'migrations'))
        c.toUndo = split.undo
        c.toKeep = split.keep
      }
      if (badCommits(c.releases).has(target)) warn('rollback', `${short(target)} was the target of a deploy marked bad`)
      const since = c.backupFile === null ? null : changedSince(c.paths.databaseFile, c.backupFile)
      return `${short(c.current)} → ${short(target)}${c.chain.length > 0 ? ` (undoing ${c.chain.length} deploy(s))` : ''}; ${c.backupFile === null ? `data kept${c.toUndo.length > 0 ? `, ${c.toUndo.length} migration(s) to undo` : ''}${c.toKeep.length > 0 ? `, ${c.toKeep.length} additive migration(s) left applied` : ''}` : `backup ${shown(c.paths, c.backupFile)} (sha256 ok; tasks added or changed since: ${since ?? 'unknown'}, kept in the _pre-restore copy)`}`
    },
  },
  {
    name: 'release',
    describe: (c) => `the release directory of ${short(c.target)} (still on disk, or a new git worktree with its node_modules, built)`,
    run: async (c, progress) => {
      c.previousDir = currentReleaseDir()
      const r = await prepareRelease(c.target, { progress })
      c.release = r
      // A release made now is built like a deploy's (a compiler error refuses it before anything
      // is handed over); one still on disk was built when it was deployed.
      const built = r.created ? await buildRelease(r.dir, { progress }) : ''
      return `releases/${r.name} (${r.created ? `new; build: ${built}` : 'still on disk'})`
    },
    undo: async (c) => {
      if (c.release === null || !c.release.created) return 'kept'
      await removeRelease(c.release.dir)
      return `releases/${c.release.name} removed`
    },
  },
  {
    name: 'dry start',
    ask: (c) => `hand the bot back to ${short(c.target)}`,
    describe: (c) => `${short(c.target)} loads, checks .env, the schema it will find and the token, and exits; the running bot is not touched`,
    run: async (c) => {
      c.plan = c.backupFile !== null
        ? writePlan(c.paths.databaseFile, { version: c.target, restore: { from: c.backupFile, keepAs: freeBackupPath(c.paths.backupsDir, 'pre-restore') } })
        : writePlan(c.paths.databaseFile, {
          version: c.target,
          ...(c.toUndo.length > 0 ? { ...takeOverSnapshot(c.storage, c.paths.backupsDir), undo: { migrationsDir: path.join(c.previousDir, 'storage', 'migrations'), names: c.toUndo } } : {}),
          ...(c.toKeep.length > 0 ? { keep: { names: c.toKeep } } : {}),
        })
      return dryStart(c.release?.dir ?? '', process.env, c.readyS)
    },
    undo: async (c) => {
      clearPlan(c.paths.databaseFile)
      return 'hand-over plan withdrawn'
    },
  },
  {
    name: 'hand over',
    describe: (c) => `pm2 reload: ${short(c.target)} stands by, the running version finishes the update in hand and exits, ${short(c.target)} takes over${c.keepData ? `${c.toUndo.length > 0 ? ` and undoes ${c.toUndo.join(', ')}` : ''}${c.toKeep.length > 0 ? `${c.toUndo.length > 0 ? ',' : ''} leaving ${c.toKeep.join(', ')} applied (additive)` : ''}` : ' and puts the backup in place (the replaced database kept)'}`,
    run: async (c, progress) => {
      c.logOffset = logOffset(path.join(c.paths.logsDir, 'bot.log'))
      const r = await handOverStep(progress, { dir: c.release?.dir ?? '', version: c.target, env: process.env, databaseFile: c.paths.databaseFile, plan: c.plan, timeoutS: c.readyS, logFile: path.join(c.paths.logsDir, 'bot.log') })
      c.tookOver = r.took
      return r.detail
    },
    undo: handBack,
    // A take-over that happened and then failed (its plan threw) has changed who serves.
    undoOnFailure: true,
  },
  {
    name: 'kept copy',
    when: (c) => c.plan?.restore !== undefined || (!c.keepData && c.dryRun),
    describe: () => 'the replaced database verified and kept as a _pre-restore backup, with its manifest',
    run: async (c) => {
      const file = c.plan?.restore?.keepAs ?? ''
      const m = await writeManifestFor(file, { kind: 'pre-restore', source: shown(c.paths, c.paths.databaseFile), gitCommit: c.current })
      return `${shown(c.paths, file)} (${m.counts.tasks ?? 0} tasks${m.verified ? ', integrity ok' : `, kept although it does not verify: ${m.integrity}`})`
    },
  },
  {
    name: 'watch',
    when: (c) => c.watchS > 0,
    describe: (c) => `follow storage/logs/bot.log for ${c.watchS} s: no fatal line, no restart`,
    run: (c, progress) => watchBot({ env: process.env, logFile: path.join(c.paths.logsDir, 'bot.log'), fromOffset: c.logOffset, seconds: c.watchS, progress }),
  },
  {
    name: 'verify',
    describe: (c) => `health ok, version ${short(c.target)}, integrity ok`,
    run: (c) => verifyBot({ env: process.env, commit: c.target, databaseFile: c.paths.databaseFile, before: null, storage: c.storage }),
  },
  {
    name: 'checkout',
    describe: (c) => `the operator's checkout detached at ${short(c.target)}, so git names what runs`,
    run: async (c) => switchCode(c.target, { detach: true }),
    undo: async (c) => switchCode(c.current, { detach: true }),
  },
  {
    name: 'prune',
    describe: () => 'keep the newest 5 releases and the dependencies they use',
    run: async (c) => {
      const removed = await pruneReleases({ also: [c.previousDir] })
      return removed.length === 0 ? 'nothing to prune' : `removed ${removed.join(', ')}`
    },
  },
]

async function main () {
  const flags = parseFlags('rollback', scriptArgs(), {
    list: { type: 'boolean' }, to: { type: 'string' }, backup: { type: 'string' }, 'keep-data': { type: 'boolean' }, yes: { type: 'boolean' },
    'dry-run': { type: 'boolean' }, watch: { type: 'string' }, 'force-unlock': { type: 'boolean' }, offline: { type: 'boolean' }, branch: { type: 'string' }, remote: { type: 'string' },
    'ready-timeout': { type: 'string' },
  }, import.meta.url)
  if (flags === null) return
  const v = flags.values
  const paths = resolvePaths()
  const releases = readReleases(paths.journalFile)
  if (v.list === true) return info(historyTable(releases, 'deploy'))
  const yes = v.yes === true
  const dryRun = v['dry-run'] === true
  refuseWithoutTerminal('rollback', 'roll back', { yes, dryRun })
  /** @type {RollbackContext} */
  const ctx = {
    paths,
    releases,
    toFlag: typeof v.to === 'string' ? v.to : null,
    backupFlag: typeof v.backup === 'string' ? v.backup : null,
    keepData: v['keep-data'] === true,
    watchS: intFlag('rollback', v.watch, '--watch', 0) ?? DEFAULT_ROLLBACK_WATCH_S,
    readyS: intFlag('rollback', v['ready-timeout'], '--ready-timeout', 1) ?? DEFAULT_READY_S,
    current: await headCommit(CODE_ROOT),
    target: '', chain: [], backupFile: null, toUndo: [], toKeep: [], release: null, previousDir: CODE_ROOT, plan: null, tookOver: null, logOffset: 0, dryRun,
    storage: await storageFor(paths),
  }
  const lock = dryRun ? null : acquireLock(path.join(paths.storageDir, 'deploy.lock'), `ops/rollback.mjs ${scriptArgs().join(' ')}`.trim(), { force: v['force-unlock'] === true, rerun: 'npx zx ops/rollback.mjs' })
  // Ctrl-C: the step in hand finishes, then the completed ones are undone (as in deploy).
  let interrupted = false
  const onSigint = () => {
    if (!interrupted) warn('rollback', 'Ctrl-C: finishing the step in hand, then undoing what was done')
    interrupted = true
  }
  process.on('SIGINT', onSigint)
  // As in deploy: a file-size limit fails the write (EFBIG) instead of killing the rollback half-way.
  const ignore = () => {}
  process.on('SIGXFSZ', ignore)
  const run = createRunner({ interrupted: () => interrupted })
  /** @type {import('./lib/releases.mjs').Release} */
  const record = { id: newId(), kind: 'rollback', start: new Date().toISOString(), from: ctx.current, to: null, backup: null, migrations: [], steps: run.steps, outcome: 'failed', reason: null, who: who(), undoes: [] }
  try {
    const r = await runTable(STEPS, ctx, { run, dryRun, yes, step: 'rollback', interrupted: () => interrupted })
    if (r.dryRun) return ok('rollback', 'dry run: nothing was changed')
    Object.assign(record, { to: ctx.target, backup: ctx.backupFile, undoes: ctx.chain.map((x) => x.id), migrations: ctx.keepData ? ctx.toUndo : [], ...(ctx.toKeep.length > 0 ? { kept: ctx.toKeep } : {}), outcome: 'good' })
    ok('rollback', `${short(ctx.target)} is running and verified, handed over without a stop; ${run.tally()}`)
    await notifyOwner(botEnvironment(paths.root, process.env), `Mister Todo was rolled back to ${short(ctx.target)} and is running.`)
  } catch (err) {
    Object.assign(record, { to: ctx.target || null, backup: ctx.backupFile, undoes: ctx.chain.map((x) => x.id) })
    record.reason = err instanceof Error ? err.message : String(err)
    if (err instanceof OpsError && err.code === 'ECANCELLED') record.outcome = 'cancelled'
    if (interrupted) record.outcome = 'interrupted'
    const serving = servingRecord(paths.databaseFile)
    const handedOver = run.steps.some((s) => s.name === 'hand over' && s.ok) || run.steps.some((s) => s.name === 'undo hand over')
    const still = serving === null ? 'nothing serves: see npm run status' : `${short(serving.version)} serving`
    if (handedOver || run.steps.some((s) => s.name === 'hand over')) await notifyOwner(botEnvironment(paths.root, process.env), `Mister Todo: the rollback to ${short(ctx.target || null)} failed (${still}): ${record.reason}`)
    const summary = `${handedOver ? 'handed back' : 'nothing changed'}: ${record.reason}; ${still}`
    if (interrupted) throw new OpsError('rollback', `interrupted (Ctrl-C); ${summary}; ${run.tally()}`, { hint: 'npx zx ops/rollback.mjs --list', code: 'EINTERRUPTED' })
    throw reported.has(/** @type {object} */ (err)) ? new OpsError('rollback', `failed, ${summary}; ${run.tally()}`, { hint: 'npm run status; npx zx ops/rollback.mjs --list' }) : err
  } finally {
    if (lock !== null) {
      if (!dryRun) appendRelease(paths.journalFile, { ...record, end: new Date().toISOString() })
      lock.release()
    }
    process.off('SIGINT', onSigint)
    process.off('SIGXFSZ', ignore)
  }
}

if (isMain(import.meta.url)) await runMain('rollback', main)
