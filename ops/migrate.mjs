// @ts-check
// ops/migrate.mjs: schema migrations of the live database, through the project's knexfile.ts,
// with a rehearsal on a copy before the live database is touched (deploy step 6).
//
// Commands:
//   status     applied, pending, and unknown-to-this-code migrations (changes nothing)
//   rehearse   copy a verified backup to a scratch file, run the pending migrations there, and
//              compare rows per table before and after; stops when a table lost rows that no
//              migration declared (knex #6213: with foreign keys on, dropping a column of a table
//              others reference rebuilds it and cascades deletes). Changes nothing live.
//   latest     back up, rehearse on that backup, ask, then apply the pending migrations
//   rollback   back up, ask, then undo the last batch (each migration's down)
//
// A migration that changes data on purpose declares it, and the rehearsal accepts exactly that:
//   export const dataChange = { tasks: 'may-decrease' }   // any loss, even the table's removal
//   export const dataChange = { tasks: -5 }               // exactly 5 rows fewer (+n: n more)
//
// On PostgreSQL (DATABASE_URL) the same commands work on the live database on the server; the
// rehearsal restores the backup (a .pgdump) into a scratch database, migrates and compares there,
// then drops it. The role needs CREATEDB for that (preflight says what to grant).
//
// When: status any time; the rest with the bot stopped (latest and rollback refuse while it runs).
//
// Usage: npx zx ops/migrate.mjs <status|rehearse|latest|rollback> [flags]
//   --backup <file>   rehearse on this backup (default: the newest that verifies and is at the
//                     live migration head, else a fresh backup)
//   --fresh           rehearse on a fresh backup
//   --yes             apply or roll back without asking
//   --dry-run         say what would be done, change nothing
//   --help            this text
import fs from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { backup } from './backup.mjs'
import { listBackupFiles, verifyBackup } from './lib/backups.mjs'
import { confirm, isMain, OpsError, parseFlags, refuseWithoutTerminal, reporter, runMain, scriptArgs } from './lib/cli.mjs'
import { countsTable } from './lib/format.mjs'
import { declaredDataChange, lastBatch, openKnex, reinstateKeptOf, schemaStatusOf, undeclaredChanges } from './lib/migrations.mjs'
import { resolvePaths, shown } from './lib/paths.mjs'
import { APP_NAME, appStatus } from './lib/pm2.mjs'
import { silentProgress, startProgress } from './lib/progress.mjs'
import { databaseFileProblem, inspectDatabase, readHead } from './lib/sqlite.mjs'
import { storageFor } from './lib/storage/index.mjs'

/**
 * @typedef {{
 *   root?: string, env?: NodeJS.ProcessEnv, yes?: boolean, dryRun?: boolean, quiet?: boolean,
 *   backupFile?: string, fresh?: boolean, rehearsed?: boolean, botStopped?: boolean,
 *   progress?: import('./lib/progress.mjs').Progress
 * }} MigrateOptions
 *   `progress`: where rehearse shows how far it is (deploy passes its step's); by default rehearse
 *   shows its own unless `quiet`.
 * @typedef {import('./lib/migrations.mjs').SchemaStatus} SchemaStatus
 */

/** @param {import('./lib/paths.mjs').Paths} paths */
function assertDatabaseFile (paths) {
  const problem = databaseFileProblem(paths.databaseFile)
  if (problem !== null) throw new OpsError('migrate', `${shown(paths, paths.databaseFile)} ${problem}; nothing was changed`, { hint: 'check DATABASE_FILE in .env; if the file is damaged: npx zx ops/restore.mjs' })
}

/** Status of the live database; a missing file is an empty schema, and is not created. @param {MigrateOptions} [options] @returns {Promise<SchemaStatus>} */
export async function migrationStatus (options = {}) {
  const paths = resolvePaths(options)
  const say = reporter(options.quiet)
  const storage = await storageFor(paths)
  const exists = storage.engine === 'postgres' || fs.existsSync(paths.databaseFile)
  if (storage.engine === 'sqlite') assertDatabaseFile(paths)
  const knex = storage.engine === 'postgres' ? await storage.openKnex(paths.migrationsDir) : await openKnex(exists ? paths.databaseFile : ':memory:', paths.migrationsDir, { readonly: exists })
  let status
  try {
    status = await schemaStatusOf(knex, paths.migrationsDir)
  } finally {
    await knex.destroy()
  }
  for (const name of status.applied) say.info(`  applied  ${name}${status.unknown.includes(name) ? '  (unknown to this code)' : ''}`)
  for (const name of status.pending) say.info(`  pending  ${name}`)
  say.ok('migrate', `${storage.engine === 'postgres' ? storage.shown : shown(paths, paths.databaseFile)}${exists ? '' : ' (not created yet)'}: ${status.applied.length} applied, ${status.pending.length} pending, ${status.unknown.length} unknown to this code`)
  if (status.unknown.length > 0) say.warn('migrate', `the database was migrated by newer code: deploy that version, or roll back with npx zx ops/rollback.mjs`)
  return status
}

/**
 * Runs the pending migrations on a scratch copy of a verified backup and refuses undeclared losses.
 * @param {MigrateOptions} [options]
 * @returns {Promise<{ source: string, ran: string[], before: Record<string, number>, after: Record<string, number> }>}
 */
export async function rehearse (options = {}) {
  const own = options.progress === undefined
  const progress = options.progress ?? (options.quiet === true ? silentProgress('rehearse') : startProgress('rehearse'))
  try {
    return await rehearseWith(progress, options, () => { if (own) progress.stop() })
  } finally {
    if (own) progress.stop()
  }
}

/**
 * @param {import('./lib/progress.mjs').Progress} progress @param {MigrateOptions} options
 * @param {() => void} endLine ends the progress line before the ✓ line
 * @returns {Promise<{ source: string, ran: string[], before: Record<string, number>, after: Record<string, number> }>}
 */
async function rehearseWith (progress, options, endLine) {
  const paths = resolvePaths(options)
  const say = reporter(options.quiet)
  const source = await rehearsalSource(paths, options, progress)
  const name = path.basename(source)
  const storage = await storageFor(paths)
  if (storage.engine === 'postgres') return await rehearseOnPostgres(paths, storage, source, progress, say, endLine)
  fs.mkdirSync(paths.storageDir, { recursive: true, mode: 0o700 })
  const scratchDir = fs.mkdtempSync(path.join(paths.storageDir, '.rehearse-'))
  try {
    const scratch = path.join(scratchDir, 'todo.sqlite')
    await copyWithProgress(source, scratch, (done, total) => progress.update(`copying ${name}`, { done, total, unit: 'bytes' }))
    progress.update(`counting the rows of the copy of ${name}`)
    const before = inspectDatabase(scratch).counts
    const ran = await runPendingOnCopy(await openKnex(scratch, paths.migrationsDir), paths.migrationsDir, name, progress, say)
    if (ran.length === 0) {
      endLine()
      say.ok('rehearse', `nothing pending on a copy of ${name}`)
      return { source, ran, before, after: before }
    }
    progress.update(`checking the migrated copy (integrity, foreign keys, rows)`)
    const after = inspectDatabase(scratch)
    if (!after.ok) throw new OpsError('rehearse', `the copy does not verify after migrating: ${after.problem}; the live database was not touched`, { hint: 'fix the migration, then: npx zx ops/migrate.mjs rehearse' })
    endLine()
    say.info(countsTable(before, after.counts))
    const problems = undeclaredChanges(before, after.counts, await declaredDataChange(paths.migrationsDir, ran))
    if (problems.length > 0) {
      throw new OpsError('rehearse', `${problems.join('; ')} (knex #6213: with foreign keys on, rebuilding a referenced table cascades deletes); the live database was not touched`, { hint: "fix the migration, or declare the change in it: export const dataChange = { tasks: 'may-decrease' }" })
    }
    say.ok('rehearse', `${ran.length} migration(s) ran on a copy of ${name}, rows as expected`)
    return { source, ran, before, after: after.counts }
  } finally {
    fs.rmSync(scratchDir, { recursive: true, force: true })
  }
}

/**
 * Runs the pending migrations on a rehearsal's scratch copy (either engine), one at a time so the
 * line can say which one runs (the batch numbers this gives are never seen on a copy); closes it.
 * @param {import('knex').Knex} knex @param {string} migrationsDir @param {string} name the copied backup's name
 * @param {import('./lib/progress.mjs').Progress} progress @param {ReturnType<typeof reporter>} say
 * @returns {Promise<string[]>} what the take-over will apply: the migrations that ran, after any a
 * rollback left applied (taken back, not run again; bot/kept-migrations.ts)
 */
async function runPendingOnCopy (knex, migrationsDir, name, progress, say) {
  /** @type {string[]} */
  const ran = []
  try {
    const back = await reinstateKeptOf(knex, migrationsDir)
    if (back.length > 0) say.info(`  left applied by a rollback, taken back without running again: ${back.join(', ')}`)
    ran.push(...back)
    const status = await schemaStatusOf(knex, migrationsDir)
    if (status.unknown.length > 0) throw new OpsError('rehearse', `${name} has migrations this code does not know: ${status.unknown.join(', ')}`, { hint: 'npx zx ops/migrate.mjs status' })
    if (status.pending.length > 0) say.info(`  rehearsing ${status.pending.length} migration(s) on a copy of ${name}: ${status.pending.join(', ')}`)
    for (const [i, next] of status.pending.entries()) {
      progress.update(`running ${next}`, { done: i, total: status.pending.length, unit: 'migrations done' })
      ran.push(...(await knex.migrate.up())[1])
    }
    return ran
  } catch (err) {
    if (err instanceof OpsError) throw err
    throw new OpsError('rehearse', `a migration failed on the copy of ${name}: ${err instanceof Error ? err.message : String(err)}; the live database was not touched`, { hint: 'fix the migration, then: npx zx ops/migrate.mjs rehearse', cause: err })
  } finally {
    await knex.destroy()
  }
}

/**
 * The rehearsal on PostgreSQL: the dump restored into a scratch database, the pending migrations
 * run there one at a time, rows compared as on SQLite; the scratch database is always dropped.
 * @param {import('./lib/paths.mjs').Paths} paths @param {import('./lib/storage/postgres.mjs').PostgresStorage} storage
 * @param {string} source @param {import('./lib/progress.mjs').Progress} progress @param {ReturnType<typeof reporter>} say @param {() => void} endLine
 */
async function rehearseOnPostgres (paths, storage, source, progress, say, endLine) {
  const name = path.basename(source)
  const scratch = `${storage.live.slice(0, 30)}_rehearse_${process.pid}`
  progress.update(`restoring ${name} into a scratch database ${scratch}`)
  try {
    await storage.restoreInto(source, scratch)
  } catch (err) {
    throw new OpsError('rehearse', `cannot restore ${name} into a scratch database: ${err instanceof Error ? err.message : String(err)}`, { hint: `the role in DATABASE_URL needs CREATEDB (ALTER ROLE … CREATEDB), or rehearse with --backup on another dump`, cause: err })
  }
  try {
    const before = (await storage.inspect(scratch)).counts
    const ran = await runPendingOnCopy(await storage.openKnex(paths.migrationsDir, urlOf(storage, scratch)), paths.migrationsDir, name, progress, say)
    endLine()
    if (ran.length === 0) {
      say.ok('rehearse', `nothing pending on a copy of ${name}`)
      return { source, ran, before, after: before }
    }
    const after = (await storage.inspect(scratch)).counts
    say.info(countsTable(before, after))
    const problems = undeclaredChanges(before, after, await declaredDataChange(paths.migrationsDir, ran))
    if (problems.length > 0) throw new OpsError('rehearse', `${problems.join('; ')}; the live database was not touched`, { hint: "fix the migration, or declare the change in it: export const dataChange = { tasks: 'may-decrease' }" })
    say.ok('rehearse', `${ran.length} migration(s) ran on a copy of ${name}, rows as expected`)
    return { source, ran, before, after }
  } finally {
    await storage.drop(scratch).catch(() => {})
  }
}

/** @param {import('./lib/storage/postgres.mjs').PostgresStorage} storage @param {string} database */
function urlOf (storage, database) {
  const u = new URL(storage.target.url)
  u.pathname = `/${encodeURIComponent(database)}`
  return u.toString()
}

/**
 * Copies a (large) backup in 1 MB chunks, saying how many bytes are done; owner-only like the backup.
 * @param {string} from @param {string} to @param {(done: number, total: number) => void} onBytes
 */
async function copyWithProgress (from, to, onBytes) {
  const total = fs.statSync(from).size
  let done = 0
  const input = fs.createReadStream(from, { highWaterMark: 1 << 20 })
  input.on('data', (chunk) => {
    done += chunk.length
    onBytes(done, total)
  })
  await pipeline(input, fs.createWriteStream(to, { mode: 0o600, flags: 'wx' }))
}

/**
 * @param {import('./lib/paths.mjs').Paths} paths @param {MigrateOptions} options
 * @param {import('./lib/progress.mjs').Progress} progress @returns {Promise<string>}
 */
async function rehearsalSource (paths, options, progress) {
  if (options.backupFile !== undefined) {
    const file = [path.resolve(options.backupFile), path.join(paths.backupsDir, options.backupFile)].find((f) => fs.existsSync(f)) ?? options.backupFile
    progress.update(`verifying ${path.basename(file)}`)
    const verification = await verifyBackup(file)
    if (!verification.ok) throw new OpsError('rehearse', `cannot rehearse on ${shown(paths, file)}: ${verification.problem}`, { hint: 'npx zx ops/migrate.mjs rehearse --fresh' })
    return file
  }
  if (options.fresh !== true) {
    const storage = await storageFor(paths)
    const ext = storage.engine === 'sqlite' ? '.sqlite' : '.pgdump'
    const live = storage.engine === 'postgres' ? (await storage.inspect()).head ?? undefined : fs.existsSync(paths.databaseFile) ? readHead(paths.databaseFile) : undefined
    for (const b of listBackupFiles(paths.backupsDir).filter((f) => f.kind === 'backup' && f.name.endsWith(ext))) {
      progress.update(`verifying ${path.basename(b.file)}`)
      const verification = await verifyBackup(b.file)
      if (verification.ok && (live === undefined || verification.manifest?.migrationHead === live)) return b.file
    }
  }
  progress.update('taking a fresh backup to rehearse on')
  const fresh = await backup({
    root: paths.root,
    env: paths.env,
    keep: null,
    quiet: options.quiet,
    onProgress: (p) => progress.update('taking a fresh backup to rehearse on', { done: p.totalPages - p.remainingPages, total: p.totalPages, unit: 'pages' }),
  })
  if (fresh.file === null) throw new OpsError('rehearse', 'no backup to rehearse on')
  return fresh.file
}

/** @param {import('./lib/paths.mjs').Paths} paths @param {MigrateOptions} options @param {string} step */
async function refuseWhileRunning (paths, options, step) {
  if (options.botStopped === true) return
  const app = await appStatus({ env: paths.env })
  if (app.running) throw new OpsError(step, `the bot is running (${app.detail}); it must not see the schema change under it`, { hint: `npm run stop (pm2 stop ${APP_NAME}), then run this again` })
}

/**
 * Backs up, rehearses (unless `rehearsed`), asks, then applies the pending migrations. Deploy passes
 * the `backupFile` it took and `botStopped` after stopping the bot.
 * @param {MigrateOptions} [options] @returns {Promise<{ ran: string[], backupFile: string | null }>}
 */
export async function migrateLatest (options = {}) {
  const paths = resolvePaths(options)
  const say = reporter(options.quiet)
  const storage = await storageFor(paths)
  const live = paths.databaseFile
  const liveShown = storage.engine === 'postgres' ? storage.shown : shown(paths, live)
  const status = await migrationStatus({ ...options, quiet: true })
  if (status.unknown.length > 0) throw new OpsError('migrate', `${liveShown} has migrations this code does not know: ${status.unknown.join(', ')}`, { hint: 'deploy the newer code, or: npx zx ops/rollback.mjs' })
  if (status.pending.length === 0) {
    say.ok('migrate', `nothing pending (head ${status.head ?? 'none'})`)
    return { ran: [], backupFile: null }
  }
  for (const name of status.pending) say.info(`  pending  ${name}`)
  await refuseWhileRunning(paths, options, 'migrate')
  const exists = storage.engine === 'postgres' ? status.applied.length > 0 : fs.existsSync(live)
  const action = `apply ${status.pending.length} migration(s) to ${liveShown}`
  if (exists) refuseWithoutTerminal('migrate', action, options)
  if (options.dryRun === true) {
    say.ok('migrate', `would ${exists ? 'back up, rehearse on the copy, then ' : ''}apply ${status.pending.length} migration(s) to ${liveShown} (dry run)`)
    return { ran: [], backupFile: null }
  }
  let backupFile = options.backupFile ?? null
  if (exists) {
    backupFile ??= (await backup({ root: paths.root, env: paths.env, keep: null, quiet: options.quiet })).file
    if (options.rehearsed !== true && backupFile !== null) await rehearse({ ...options, backupFile })
    await confirm('migrate', action, options)
  }
  const knex = storage.engine === 'postgres' ? await storage.openKnex(paths.migrationsDir) : await openKnex(live, paths.migrationsDir)
  try {
    const back = await reinstateKeptOf(knex, paths.migrationsDir)
    const [batch, ran] = await knex.migrate.latest()
    say.ok('migrate', `applied ${ran.length} migration(s) as batch ${batch}: ${ran.join(', ')}${back.length > 0 ? `; taken back (left applied by a rollback, not run again): ${back.join(', ')}` : ''}`)
    return { ran, backupFile }
  } catch (err) {
    throw new OpsError('migrate', `a migration failed: ${err instanceof Error ? err.message : String(err)}`, { hint: backupFile === null ? 'npx zx ops/migrate.mjs status' : `npx zx ops/restore.mjs --backup ${path.basename(backupFile)}`, cause: err })
  } finally {
    await knex.destroy()
  }
}

/** Backs up, asks, then undoes the last batch. @param {MigrateOptions} [options] @returns {Promise<{ undone: string[], backupFile: string | null }>} */
export async function migrateRollback (options = {}) {
  const paths = resolvePaths(options)
  const say = reporter(options.quiet)
  const storage = await storageFor(paths)
  const live = paths.databaseFile
  const liveShown = storage.engine === 'postgres' ? storage.shown : shown(paths, live)
  if (storage.engine === 'sqlite') {
    if (!fs.existsSync(live)) throw new OpsError('migrate', `no database at ${shown(paths, live)}`, { hint: 'check DATABASE_FILE in .env' })
    assertDatabaseFile(paths)
  }
  const reader = storage.engine === 'postgres' ? await storage.openKnex(paths.migrationsDir) : await openKnex(live, paths.migrationsDir, { readonly: true })
  const batch = await lastBatch(reader).finally(() => reader.destroy())
  if (batch.length === 0) {
    say.ok('migrate', 'nothing to roll back')
    return { undone: [], backupFile: null }
  }
  const missing = batch.filter((name) => !fs.existsSync(path.join(paths.migrationsDir, name)))
  if (missing.length > 0) throw new OpsError('migrate', `the last batch has migrations this code does not have: ${missing.join(', ')}`, { hint: 'check out the code that ran them, or: npx zx ops/rollback.mjs' })
  await refuseWhileRunning(paths, options, 'migrate')
  const action = `undo ${batch.length} migration(s) on ${liveShown}: ${batch.join(', ')}`
  refuseWithoutTerminal('migrate', action, options)
  if (options.dryRun === true) {
    say.ok('migrate', `would back up, then undo ${batch.join(', ')} on ${liveShown} (dry run)`)
    return { undone: [], backupFile: null }
  }
  const backupFile = options.backupFile ?? (await backup({ root: paths.root, env: paths.env, keep: null, quiet: options.quiet })).file
  await confirm('migrate', action, options)
  const knex = storage.engine === 'postgres' ? await storage.openKnex(paths.migrationsDir) : await openKnex(live, paths.migrationsDir)
  try {
    const [, undone] = await knex.migrate.rollback()
    say.ok('migrate', `rolled back ${undone.length} migration(s): ${undone.join(', ')}`)
    return { undone, backupFile }
  } finally {
    await knex.destroy()
  }
}

async function main () {
  const flags = parseFlags('migrate', scriptArgs(), { backup: { type: 'string' }, fresh: { type: 'boolean' }, yes: { type: 'boolean' }, 'dry-run': { type: 'boolean' } }, import.meta.url)
  if (flags === null) return
  const [command, extra] = flags.positionals
  const backupFile = flags.values.backup
  /** @type {MigrateOptions} */
  const options = { yes: flags.values.yes === true, dryRun: flags.values['dry-run'] === true, fresh: flags.values.fresh === true, ...(typeof backupFile === 'string' ? { backupFile } : {}) }
  const usage = { hint: 'npx zx ops/migrate.mjs --help', code: 'EUSAGE' }
  if (extra !== undefined) throw new OpsError('migrate', `unexpected argument ${extra}`, usage)
  if (command !== 'rehearse' && (options.fresh === true || backupFile !== undefined)) throw new OpsError('migrate', '--backup and --fresh only go with rehearse', usage)
  if (command === 'status') await migrationStatus(options)
  else if (command === 'rehearse') await rehearse(options)
  else if (command === 'latest') await migrateLatest(options)
  else if (command === 'rollback') await migrateRollback(options)
  else throw new OpsError('migrate', command === undefined ? 'which command? status, rehearse, latest or rollback' : `unknown command ${command}: use status, rehearse, latest or rollback`, usage)
}

if (isMain(import.meta.url)) await runMain('migrate', main)
