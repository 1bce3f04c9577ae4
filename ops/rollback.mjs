// @ts-check
// ops/rollback.mjs: puts the previous release back: code, dependencies and data.
//
// By default it undoes the newest deploy in storage/deploys.jsonl that is not marked bad: the
// commit before it, with the backup that deploy took after stopping the bot. The chosen backup is
// verified before anything stops. It shows the plan (commits, backup, how many tasks were added or
// changed since that backup) and asks. Then: stop → database (restore the backup, keeping the
// current database as a _pre-restore backup; or, with --keep-data, a fresh backup and then undo
// only the migrations the target commit does not have) → check out the commit (detached) →
// its node_modules (installed before the stop when the dependencies differ, swapped in) → start → watch → verify → journal (the deploys it undoes are marked
// bad, so a second rollback goes one release further back) → a notice to the owner's chat.
//
// When: a deploy went wrong after it finished, or deploy's own rollback could not run.
//
// Usage: npx zx ops/rollback.mjs [flags]
//   --list              releases: commit, date, backup, good/bad
//   --to <commit>       go to this commit instead (with the backup of the deploy that left it,
//                       when the journal has one)
//   --backup <file>     restore this backup instead (a path, or a name in storage/backups)
//   --keep-data         undo the deploy's migrations instead of restoring the backup
//   --yes               do not ask;  --dry-run  print the plan and commands, change nothing
//   --watch <seconds>   follow the log after the start (default 10)
//   --force-unlock      clear a stale storage/deploy.lock first
//   --offline, --branch, --remote   accepted for symmetry with deploy
//   --help              this text
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { backup } from './backup.mjs'
import { botEnvironment } from './preflight.mjs'
import { restore } from './restore.mjs'
import { readManifest, verifyBackup } from './lib/backups.mjs'
import { confirm, info, intFlag, isMain, ok, OpsError, parseFlags, refuseWithoutTerminal, runMain, scriptArgs, warn } from './lib/cli.mjs'
import { DEPS_DIR, depsDiffer, depsKey, pruneDeps, stageDeps } from './lib/deps.mjs'
import { git, headCommit, migrationsAt } from './lib/git.mjs'
import { acquireLock } from './lib/lock.mjs'
import { openKnex, undoMigrationsNotIn } from './lib/migrations.mjs'
import { CODE_ROOT, resolvePaths, shown } from './lib/paths.mjs'
import { appStatus } from './lib/pm2.mjs'
import { appendRelease, badCommits, deploysBetween, deployToUndo, historyTable, newId, readReleases, who } from './lib/releases.mjs'
import { notifyOwner } from './lib/notices.mjs'
import { createRunner, installDeps, logOffset, preparePm2Stop, releasePm2, reported, startBot, stopBot, switchCode, verifyBot, watchBot } from './lib/steps.mjs'

export const DEFAULT_ROLLBACK_WATCH_S = 10

/**
 * The rollback steps, shared with deploy's automatic rollback. `from` is the code now on disk.
 * db: 'restore' puts `backupFile` back (the replaced database is kept); 'undo' takes a fresh backup
 * and undoes the migrations `to` does not have, falling back to restoring `backupFile` if that
 * fails; 'none' leaves the database alone.
 * @param {ReturnType<typeof createRunner>} run
 * `progress` (optional) records what the database step did, so a caller can put it back.
 * @param {{ from: string, to: string, db: 'restore' | 'undo' | 'none', backupFile: string | null, watchS: number, how: 'reset' | 'detach', readyS?: number, deps?: { differ: boolean, fromKey?: string, toKey?: string }, keep?: string[], progress?: RollbackProgress, verified?: import('./lib/backups.mjs').Verification }} o
 * @returns {Promise<{ undone: string[] }>}
 */
export async function rollBack (run, o) {
  const paths = resolvePaths()
  /** @type {string[]} */
  let undone = []
  const progress = o.progress ?? { preRestore: null, undone: [] }
  const restoreStep = (/** @type {string} */ backupFile) => run.step('rollback db', async () => {
    const r = await restore({ backupFile, stoppedByRollback: true, yes: true, quiet: true, ...(o.verified === undefined || backupFile !== o.backupFile ? {} : { verified: o.verified }) })
    progress.preRestore = r.preRestore
    return `restored ${path.basename(r.restored)} (${r.checkedBy === 'sha256' ? 'verified before the stop, its copy checked by sha256' : 'verified'}); the replaced database is kept as ${r.preRestore === null ? '(none)' : path.basename(r.preRestore)}`
  })
  await run.step('rollback stop', () => stopBot(process.env))
  if (o.db === 'undo') {
    const keep = o.keep ?? await migrationsAt(CODE_ROOT, o.to)
    try {
      await run.step('rollback db', async () => {
        const saved = await backup({ keep: null, quiet: true })
        undone = await undoMigrationsNotIn(paths.databaseFile, paths.migrationsDir, keep)
        progress.undone = undone
        return `${undone.length === 0 ? 'no migrations to undo' : `undid ${undone.join(', ')}`}, data kept (backup first: ${path.basename(saved.file ?? '')})`
      })
    } catch (err) {
      if (o.backupFile === null) throw err
      await restoreStep(o.backupFile)
    }
  } else if (o.db === 'restore' && o.backupFile !== null) {
    await restoreStep(o.backupFile)
  }
  await run.step('rollback switch', () => switchCode(o.to, o.how === 'detach' ? { detach: true } : { reset: true }))
  await run.step('rollback deps', () => installDeps(o.from, o.to, false, o.deps))
  const offset = logOffset(path.join(paths.logsDir, 'bot.log'))
  await run.step('rollback start', () => startBot(process.env, o.readyS === undefined ? {} : { readyS: o.readyS }))
  if (o.watchS > 0) await run.step('rollback watch', () => watchBot({ env: process.env, logFile: path.join(paths.logsDir, 'bot.log'), fromOffset: offset, seconds: o.watchS }))
  await run.step('rollback verify', () => verifyBot({ env: process.env, commit: o.to, databaseFile: paths.databaseFile, before: null }))
  return { undone }
}

/** @typedef {{ preRestore: string | null, undone: string[] }} RollbackProgress */

/**
 * The rollback's target did not come up: the version that ran before it goes back, with the data
 * it had (the database the rollback replaced, or its migrations re-applied). The target's database
 * is kept as a _pre-restore backup first, so even updates it handled are not lost.
 * @param {{ current: string, target: string, progress: RollbackProgress, deps: { differ: boolean, fromKey?: string, toKey?: string } }} o
 */
async function backToPrevious (o) {
  const paths = resolvePaths()
  await stopBot(process.env)
  await switchCode(o.current, { detach: true })
  await installDeps(o.target, o.current, false, o.deps.differ ? { differ: true, ...(o.deps.toKey === undefined ? {} : { fromKey: o.deps.toKey }), ...(o.deps.fromKey === undefined ? {} : { toKey: o.deps.fromKey }) } : { differ: false })
  let data = 'database as the rollback left it'
  if (o.progress.preRestore !== null) {
    await restore({ backupFile: o.progress.preRestore, stoppedByRollback: true, yes: true, quiet: true })
    data = `database from before the rollback (${path.basename(o.progress.preRestore)})`
  } else if (o.progress.undone.length > 0) {
    const knex = await openKnex(paths.databaseFile, paths.migrationsDir)
    try {
      await knex.migrate.latest()
    } finally {
      await knex.destroy()
    }
    data = `migrations re-applied: ${o.progress.undone.join(', ')}`
  }
  await startBot(process.env)
  return `${o.current.slice(0, 7)} is running again, ${data}`
}

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

/** A --backup argument: a path, or a name in storage/backups. @param {import('./lib/paths.mjs').Paths} paths @param {string} arg */
function findBackup (paths, arg) {
  return [path.resolve(arg), path.join(paths.backupsDir, arg)].find((f) => fs.existsSync(f)) ?? path.resolve(arg)
}

async function main () {
  const flags = parseFlags('rollback', scriptArgs(), {
    list: { type: 'boolean' }, to: { type: 'string' }, backup: { type: 'string' }, 'keep-data': { type: 'boolean' }, yes: { type: 'boolean' },
    'dry-run': { type: 'boolean' }, watch: { type: 'string' }, 'force-unlock': { type: 'boolean' }, offline: { type: 'boolean' }, branch: { type: 'string' }, remote: { type: 'string' },
  }, import.meta.url)
  if (flags === null) return
  const v = flags.values
  const paths = resolvePaths()
  const releases = readReleases(paths.journalFile)
  if (v.list === true) return info(historyTable(releases, 'deploy'))
  const yes = v.yes === true
  const dryRun = v['dry-run'] === true
  const keepData = v['keep-data'] === true
  const watchS = intFlag('rollback', v.watch, '--watch', 0) ?? DEFAULT_ROLLBACK_WATCH_S
  refuseWithoutTerminal('rollback', 'roll back', { yes, dryRun })
  const lock = dryRun ? null : acquireLock(path.join(paths.storageDir, 'deploy.lock'), `ops/rollback.mjs ${scriptArgs().join(' ')}`.trim(), { force: v['force-unlock'] === true, rerun: 'npx zx ops/rollback.mjs' })
  const run = createRunner()
  // As in deploy: a file-size limit fails the write (EFBIG) instead of killing the rollback half-way.
  process.on('SIGXFSZ', () => {})
  const current = await headCommit(CODE_ROOT)
  /** @type {import('./lib/releases.mjs').Release} */
  const record = { id: newId(), kind: 'rollback', start: new Date().toISOString(), from: current, to: null, backup: null, migrations: [], steps: run.steps, outcome: 'failed', reason: null, who: who(), undoes: [] }
  let stopped = false
  /** @type {RollbackProgress | null} */
  let progress = null
  /** @type {{ differ: boolean, fromKey?: string, toKey?: string }} */
  let rollbackDeps = { differ: false }
  try {
    // What to go back to, and with which data: all checked before anything stops.
    const undo = typeof v.to === 'string' ? null : deployToUndo(releases)
    const target = typeof v.to === 'string'
      ? await git(CODE_ROOT, 'rev-parse', '--verify', '--quiet', `${v.to}^{commit}`).catch(() => { throw new OpsError('rollback', `unknown commit ${v.to}; nothing was changed`, { hint: 'npx zx ops/rollback.mjs --list' }) })
      : undo?.from ?? null
    if (target === null) throw new OpsError('rollback', 'no good deploy in storage/deploys.jsonl to undo; nothing was changed', { hint: 'npx zx ops/rollback.mjs --list, then --to <commit>' })
    record.to = target
    if (target === current) throw new OpsError('rollback', `already at ${target.slice(0, 7)}; nothing was changed`, { hint: 'npx zx ops/rollback.mjs --list' })
    const chain = undo === null ? deploysBetween(releases, current, target) : [undo]
    record.undoes = chain.map((r) => r.id)
    const backupFile = typeof v.backup === 'string' ? findBackup(paths, v.backup) : (keepData ? null : chain.at(-1)?.backup ?? null)
    if (!keepData && backupFile === null) throw new OpsError('rollback', `no backup to restore for ${target.slice(0, 7)}: give one with --backup <file>, or keep the data with --keep-data; nothing was changed`, { hint: 'npx zx ops/backup.mjs --list' })
    record.backup = keepData ? null : backupFile
    /** @type {import('./lib/backups.mjs').Verification | undefined} */
    let verified
    if (!keepData && backupFile !== null) {
      // Its integrity was checked when it was taken; the sha256 proves it is still that file.
      const check = await verifyBackup(backupFile, { deep: false })
      verified = check
      if (!check.ok) throw new OpsError('rollback', `backup ${path.basename(backupFile)} cannot be restored: ${check.problem}; nothing was changed`, { hint: 'npx zx ops/backup.mjs --list, then --backup <file> (or --keep-data)' })
    }

    info(`  plan: ${current.slice(0, 7)} → ${target.slice(0, 7)}${chain.length > 0 ? ` (undoing ${chain.length} deploy(s), the newest of ${chain[0]?.start.slice(0, 19).replace('T', ' ')} UTC)` : ''}`)
    if (badCommits(releases).has(target)) warn('rollback', `${target.slice(0, 7)} was the target of a deploy marked bad`)
    if (keepData) info(`    database: a fresh backup, then undo the migrations ${target.slice(0, 7)} does not have; tasks are kept`)
    else {
      const since = changedSince(paths.databaseFile, backupFile)
      info(`    database: restore ${shown(paths, backupFile ?? '')} (verified); the current one is kept as a _pre-restore backup`)
      info(`    tasks added or changed since that backup (lost from the live DB, kept in the _pre-restore copy): ${since === null ? 'unknown' : since}`)
    }
    if (dryRun) {
      info('  commands it would run: pm2 stop ecosystem.config.js; ' + (keepData ? 'backup; knex migrate:down for each migration the target lacks' : 'restore') + `; git checkout --detach ${target}; swap in its node_modules if the dependencies differ; pm2 start ecosystem.config.js --update-env; verify`)
      return ok('rollback', 'dry run: nothing was changed')
    }
    await confirm('rollback', `stop the bot and roll back to ${target.slice(0, 7)}`, { yes })
    // Work that needs no stop happens now: the target's migrations, and Knex and the knexfile
    // loaded (a read-only open of the live database), so the database step is quick.
    const keep = keepData ? await migrationsAt(CODE_ROOT, target) : undefined
    if (keepData) await openKnex(paths.databaseFile, paths.migrationsDir, { readonly: true }).then((k) => k.destroy())
    const depsChange = await depsDiffer(CODE_ROOT, current, target)
    /** @type {{ differ: boolean, fromKey?: string, toKey?: string }} */
    const deps = { differ: depsChange }
    if (depsChange) {
      await run.step('install', async () => {
        const r = await stageDeps(CODE_ROOT, target)
        Object.assign(deps, { fromKey: await depsKey(CODE_ROOT, current), toKey: r.key })
        return `node_modules of ${target.slice(0, 7)} ${r.reused ? 'kept from before' : 'installed'} in ${DEPS_DIR}/${r.key}, before the stop`
      })
    }

    await preparePm2Stop(process.env)
    stopped = true
    progress = { preRestore: null, undone: [] }
    rollbackDeps = deps
    const r = await rollBack(run, { from: current, to: target, db: keepData ? 'undo' : 'restore', backupFile, watchS, how: 'detach', deps, progress, ...(keep === undefined ? {} : { keep }), ...(verified === undefined ? {} : { verified }) })
    record.migrations = r.undone
    record.outcome = 'good'
    if (depsChange) pruneDeps(CODE_ROOT, [await depsKey(CODE_ROOT, current)])
    ok('rollback', `${target.slice(0, 7)} is running and verified; ${run.tally()}`)
    await notifyOwner(botEnvironment(paths.root, process.env), `Mister Todo was rolled back to ${target.slice(0, 7)} and is running.`)
  } catch (err) {
    record.reason = err instanceof Error ? err.message : String(err)
    if (err instanceof OpsError && err.code === 'ECANCELLED') record.outcome = 'cancelled'
    if (stopped && !(await appStatus({ env: process.env })).running && await headCommit(CODE_ROOT) === current) {
      // Failed before the code moved: bring the version that was running back up.
      await run.step('restart', async () => { await startBot(process.env); return `${current.slice(0, 7)} started again` }).catch(() => {})
    } else if (stopped && progress !== null && record.to !== null && (await appStatus({ env: process.env })).status !== 'online') {
      // The target did not come up: never leave the owner without a bot.
      const target = record.to
      const back = progress
      const restored = await run.step('back to previous', () => backToPrevious({ current, target, progress: back, deps: rollbackDeps })).then(() => true, () => false)
      if (restored) record.reason = `${record.reason}; ${current.slice(0, 7)}, which ran before, is running again`
    }
    if (stopped) await notifyOwner(botEnvironment(paths.root, process.env), `Mister Todo: the rollback to ${target7(record.to)} failed: ${record.reason}`)
    throw reported.has(/** @type {object} */ (err)) ? new OpsError('rollback', `failed: ${record.reason}; ${run.tally()}`, { hint: 'npm run status; npx zx ops/rollback.mjs --list' }) : err
  } finally {
    releasePm2()
    if (lock !== null) {
      if (!dryRun) appendRelease(paths.journalFile, { ...record, end: new Date().toISOString() })
      lock.release()
    }
  }
}

/** @param {string | null} commit */
function target7 (commit) {
  return commit?.slice(0, 7) ?? '?'
}

if (isMain(import.meta.url)) await runMain('rollback', main)
