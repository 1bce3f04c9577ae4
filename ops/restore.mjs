// @ts-check
// ops/restore.mjs: puts a verified backup back as the live database; also a step of rollback.
//
// Refuses while the bot is running (stop it with: npm run stop); rollback stops the bot
// first and says so with --stopped-by-rollback. Before touching anything it verifies the chosen
// backup: size and sha256 against its manifest, integrity_check, foreign_key_check, row counts. A
// damaged or cut-short backup is refused with the reason and the live database stays as it was.
// Nothing is lost: the live database is first saved as a backup of its own
// (storage/backups/todo_<UTC time>_pre-restore.sqlite); then the backup is copied beside the live
// file, flushed, stale -wal/-shm files are removed and the copy is renamed over the live file in
// one step. The result is checked and the row counts before and after are printed.
//
// When: the live database is damaged or lost data; rollback runs it after stopping the bot.
//
// Usage: npx zx ops/restore.mjs [flags]
//   --backup <file>         the backup to restore: a path, or a name in storage/backups. Default:
//                           the newest backup that verifies (never a _pre-restore copy), named
//                           and confirmed before use
//   --from <folder or file> restore from an off-machine copy (BACKUP_COPY_TO, or files fetched
//                           back from BACKUP_COPY_COMMAND's remote, each with its .json manifest):
//                           a file, or the newest in a folder that verifies; checked by the
//                           manifest's sha256 (and integrity_check) before anything is replaced
//   --yes                   replace the live database without asking
//   --dry-run               verify the backup and say what would be done, change nothing
//   --stopped-by-rollback   skip the running-bot check (rollback has stopped the bot)
//   --help                  this text
//
// On PostgreSQL (DATABASE_URL) the backup is a .pgdump: it is restored into a new database on the
// server, checked against its manifest's row counts, and swapped in by rename; the live database
// is dumped as a _pre-restore backup first and also stays on the server, renamed
// <name>_pre_restore_<UTC>. Drop that one by hand once you no longer need it.
import fs from 'node:fs'
import path from 'node:path'
import { backup } from './backup.mjs'
import { freeBytes, listBackupFiles, verifyBackup } from './lib/backups.mjs'
import { silentProgress, startProgress } from './lib/progress.mjs'
import { confirm, isMain, OpsError, parseFlags, reporter, runMain, scriptArgs } from './lib/cli.mjs'
import { countsTable, formatAge, formatBytes, formatCount } from './lib/format.mjs'
import { resolvePaths, shown } from './lib/paths.mjs'
import { APP_NAME, appStatus } from './lib/pm2.mjs'
import { databaseBytes, fsyncPath, inspectDatabase, removeDatabaseFiles, sha256File } from './lib/sqlite.mjs'
import { storageFor } from './lib/storage/index.mjs'
import { importTs } from './lib/ts.mjs'
import { restorePostgres } from './lib/storage/postgres-backup.mjs'

/**
 * @typedef {{
 *   root?: string, env?: NodeJS.ProcessEnv, backupFile?: string, from?: string, yes?: boolean, dryRun?: boolean,
 *   stoppedByRollback?: boolean, now?: () => Date, quiet?: boolean,
 *   verified?: import('./lib/backups.mjs').Verification
 * }} RestoreOptions
 * `verified`: the full verification of `backupFile` the caller made moments ago (rollback, before
 * the stop); then, while the bot is down, only its size and sha256 are checked again, and the copy
 * put in place is checked by its sha256 instead of a second integrity check.
 * @typedef {{
 *   restored: string, preRestore: string | null, before: Record<string, number> | null,
 *   after: Record<string, number> | null, dryRun: boolean, checkedBy: 'sha256' | 'integrity_check'
 * }} RestoreResult
 */

/** @param {RestoreOptions} [options] @returns {Promise<RestoreResult>} */
export async function restore (options = {}) {
  const paths = resolvePaths(options)
  const say = reporter(options.quiet)
  const live = paths.databaseFile
  const progress = options.quiet === true ? silentProgress('restore') : startProgress('restore')
  try {
    return await restoreWith(paths, say, live, progress, options)
  } finally {
    progress.stop()
  }
}

/**
 * @param {import('./lib/paths.mjs').Paths} paths @param {ReturnType<typeof reporter>} say @param {string} live
 * @param {import('./lib/progress.mjs').Progress} progress @param {RestoreOptions} options @returns {Promise<RestoreResult>}
 */
async function restoreWith (paths, say, live, progress, options) {
  if (options.stoppedByRollback !== true) {
    const app = await appStatus({ env: paths.env })
    if (app.running) throw new OpsError('restore', `the bot is running (${app.detail}); restoring under it would lose its writes`, { hint: `npm run stop (pm2 stop ${APP_NAME}), then run this again` })
  }

  // Choose and verify the backup before anything else.
  progress.update('verifying the backup (sha256, integrity, rows)')
  const { file, counts, createdAt, sha256 } = options.from === undefined ? await chooseBackup(paths, options.backupFile, say, options.verified) : await chooseFrom(paths, options.from, say)
  const name = path.basename(file)
  const tasks = counts.tasks === undefined ? '' : `, ${formatCount(counts.tasks)} tasks`
  const storage = await storageFor(paths)
  if (!file.endsWith(storage.engine === 'sqlite' ? '.sqlite' : '.pgdump')) {
    throw new OpsError('restore', `${name} is a ${file.endsWith('.pgdump') ? 'PostgreSQL dump' : 'SQLite file'}, but the live database is ${storage.engine === 'sqlite' ? 'SQLite' : 'PostgreSQL'}; nothing was changed`, { hint: 'to move data between engines: npx zx ops/migrate-data.mjs --help' })
  }
  say.ok('verify', `${shown(paths, file)} (sha256 ok, ${storage.engine === 'sqlite' ? 'integrity ok' : 'restored and counted when taken'}${options.verified === undefined ? '' : ' before the stop'}${tasks}, taken ${formatAge(Date.now() - Date.parse(createdAt))} ago)`)
  if (storage.engine === 'postgres') return await restoreOnPostgres(paths, storage, say, progress, file, counts, options)
  const liveSize = databaseBytes(live)
  const needed = 2 * liveSize + fs.statSync(file).size
  const free = freeBytes(paths.backupsDir, paths.env)
  if (free < needed) throw new OpsError('restore', `not enough disk space: ${formatBytes(free)} free, ${formatBytes(needed)} needed (a pre-restore copy of the live database and a copy of the backup); nothing was changed`, { hint: `df -h ${shown(paths, paths.storageDir)}` })

  if (options.dryRun === true) {
    say.ok('restore', `would save ${shown(paths, live)} as a _pre-restore backup, then replace it with ${name} (dry run)`)
    return { restored: file, preRestore: null, before: null, after: null, dryRun: true, checkedBy: sha256 === null ? 'integrity_check' : 'sha256' }
  }
  await confirm('restore', `replace ${shown(paths, live)} with ${name}`, options)

  // Nothing is lost: the live database becomes a backup of its own first.
  let preRestore = null
  /** @type {Record<string, number> | null} */
  let before = null
  if (fs.existsSync(live)) {
    progress.update(`keeping ${shown(paths, live)} as a _pre-restore backup`)
    const saved = await backup({ root: paths.root, env: paths.env, kind: 'pre-restore', keep: null, quiet: options.quiet, ...(options.now === undefined ? {} : { now: options.now }) })
    preRestore = saved.file
    before = saved.manifest?.counts ?? null
  }

  // Copy beside the live file, flush, drop the old -wal/-shm (they belong to the old file and
  // would be replayed into the new one), then rename over it in one step.
  fs.mkdirSync(path.dirname(live), { recursive: true, mode: 0o700 })
  const tmp = `${live}.restore-${process.pid}`
  try {
    progress.update(`copying ${name} into place`)
    fs.copyFileSync(file, tmp, fs.constants.COPYFILE_EXCL)
    fs.chmodSync(tmp, 0o600)
    fsyncPath(tmp)
    if (sha256 !== null && await sha256File(tmp) !== sha256) throw new Error('the copy does not match the backup\'s sha256')
    for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(live + suffix, { force: true })
    fs.renameSync(tmp, live)
    fsyncPath(path.dirname(live))
  } catch (err) {
    removeDatabaseFiles(tmp)
    throw new OpsError('restore', `could not put ${name} in place: ${err instanceof Error ? err.message : String(err)}`, { hint: preRestore === null ? 'npx zx ops/backup.mjs --list' : `npx zx ops/restore.mjs --backup ${path.basename(preRestore)}`, cause: err })
  }

  // A copy with the verified backup's sha256 is that backup, byte for byte: counting its rows
  // again is enough.
  progress.update(`checking the restored ${shown(paths, live)}`)
  const result = inspectDatabase(live, { checks: sha256 === null })
  const sameRows = Object.keys(counts).length === Object.keys(result.counts).length && Object.entries(counts).every(([t, n]) => result.counts[t] === n)
  if (!result.ok || !sameRows) {
    throw new OpsError('restore', `the restored ${shown(paths, live)} does not check out (${result.problem ?? 'row counts differ from the backup'})`, { hint: preRestore === null ? 'npx zx ops/backup.mjs --list' : `npx zx ops/restore.mjs --backup ${path.basename(preRestore)}` })
  }
  // The bot answered updates after the backup was taken, and Telegram sends its last batch again
  // when the bot starts: their ids (not their changes) go into the restored database.
  const { carryHandledIds } = /** @type {typeof import('../bot/updates/carry-handled.js')} */ (await importTs('bot/updates/carry-handled.ts'))
  const carried = preRestore === null ? 0 : carryHandledIds(preRestore, live)
  const after = { ...result.counts, ...(carried > 0 ? { handled_updates: (result.counts.handled_updates ?? 0) + carried } : {}) }
  say.ok('restore', `${shown(paths, live)} ← ${name} (${sha256 === null ? 'integrity ok' : 'sha256 identical to the verified backup'}, row counts match the backup${keptIds(carried)})`)
  say.info(countsTable(before, after))
  return { restored: file, preRestore, before, after, dryRun: false, checkedBy: sha256 === null ? 'integrity_check' : 'sha256' }
}

/** @param {number} carried */
function keptIds (carried) {
  return carried > 0 ? `; kept the ids of ${formatCount(carried)} update(s) answered after the backup, so none is answered twice` : ''
}

/**
 * PostgreSQL: the live database is dumped as a _pre-restore backup, the backup restored into a new
 * database and checked against its manifest, then swapped in by rename; the replaced database
 * stays on the server under a _pre_restore_ name.
 * @param {import('./lib/paths.mjs').Paths} paths @param {import('./lib/storage/postgres.mjs').PostgresStorage} storage
 * @param {ReturnType<typeof reporter>} say @param {import('./lib/progress.mjs').Progress} progress @param {string} file
 * @param {Record<string, number>} counts @param {RestoreOptions} options @returns {Promise<RestoreResult>}
 */
async function restoreOnPostgres (paths, storage, say, progress, file, counts, options) {
  const name = path.basename(file)
  if (options.dryRun === true) {
    say.ok('restore', `would dump ${storage.shown} as a _pre-restore backup, restore ${name} into a new database and swap it in, keeping the replaced one (dry run)`)
    return { restored: file, preRestore: null, before: null, after: null, dryRun: true, checkedBy: 'sha256' }
  }
  await confirm('restore', `replace ${storage.shown} with ${name}`, options)
  let preRestore = null
  /** @type {Record<string, number> | null} */
  let before = null
  if (await storage.exists()) {
    progress.update(`keeping ${storage.live} as a _pre-restore backup`)
    const saved = await backup({ root: paths.root, env: paths.env, kind: 'pre-restore', keep: null, quiet: options.quiet, ...(options.now === undefined ? {} : { now: options.now }) })
    preRestore = saved.file
    before = saved.manifest?.counts ?? null
  }
  const date = (options.now ?? (() => new Date()))()
  const { after, keptAs, carried } = await restorePostgres(paths, storage, file, counts, date, (text) => progress.update(text))
  say.ok('restore', `${storage.shown} ← ${name} (restored into a new database, row counts match the backup${keptIds(carried)}${keptAs === null ? '' : `; the replaced database is kept as ${keptAs}`})`)
  say.info(countsTable(before, after))
  return { restored: file, preRestore, before, after, dryRun: false, checkedBy: 'sha256' }
}

/**
 * The operator's pick (refused if it does not verify) or the newest regular backup that verifies.
 * @param {import('./lib/paths.mjs').Paths} paths @param {string | undefined} pick @param {import('./lib/cli.mjs').Reporter} say
 * @param {import('./lib/backups.mjs').Verification} [verified]
 * @returns {Promise<{ file: string, counts: Record<string, number>, createdAt: string, sha256: string | null }>}
 */
async function chooseBackup (paths, pick, say, verified) {
  if (pick !== undefined) {
    const file = [path.resolve(pick), path.join(paths.backupsDir, pick)].find((f) => fs.existsSync(f))
    if (file === undefined) throw new OpsError('restore', `no backup ${pick}`, { hint: 'npx zx ops/backup.mjs --list' })
    const manifest = verified?.manifest ?? null
    if (verified?.ok === true && manifest !== null && fs.statSync(file).size === manifest.size && await sha256File(file) === manifest.sha256) {
      return { file, counts: verified.counts, createdAt: manifest.createdAt, sha256: manifest.sha256 }
    }
    const verification = await verifyBackup(file)
    if (!verification.ok || verification.manifest === null) {
      throw new OpsError('restore', `refusing ${shown(paths, file)}: ${verification.problem}; the live database was not touched`, { hint: 'npx zx ops/backup.mjs --list' })
    }
    return { file, counts: verification.counts, createdAt: verification.manifest.createdAt, sha256: null }
  }
  const ext = (await storageFor(paths)).engine === 'sqlite' ? '.sqlite' : '.pgdump'
  for (const candidate of listBackupFiles(paths.backupsDir).filter((b) => b.kind === 'backup' && b.name.endsWith(ext))) {
    const verification = await verifyBackup(candidate.file)
    if (verification.ok && verification.manifest !== null) return { file: candidate.file, counts: verification.counts, createdAt: verification.manifest.createdAt, sha256: null }
    say.warn('verify', `skipping ${candidate.name}: ${verification.problem}`)
  }
  throw new OpsError('restore', `no backup in ${shown(paths, paths.backupsDir)} verifies; the live database was not touched`, { hint: 'npx zx ops/backup.mjs --list' })
}

/**
 * From an off-machine copy: a file, or the newest backup in a folder that verifies. The sha256 is
 * returned so the copy put in place is checked against it too (the source may be a network share).
 * @param {import('./lib/paths.mjs').Paths} paths @param {string} from @param {import('./lib/cli.mjs').Reporter} say
 */
async function chooseFrom (paths, from, say) {
  const target = path.resolve(from)
  const stat = fs.statSync(target, { throwIfNoEntry: false })
  if (stat === undefined) throw new OpsError('restore', `${from} does not exist (is the disk or share mounted?); the live database was not touched`, { hint: 'npx zx ops/restore.mjs --help' })
  const candidates = stat.isDirectory() ? listBackupFiles(target).filter((b) => b.kind === 'backup').map((b) => b.file) : [target]
  if (candidates.length === 0) throw new OpsError('restore', `no backup (todo_<date>.sqlite) in ${from}; the live database was not touched`, { hint: `ls ${from}` })
  for (const file of candidates) {
    const verification = await verifyBackup(file)
    if (verification.ok && verification.manifest !== null) return { file, counts: verification.counts, createdAt: verification.manifest.createdAt, sha256: verification.manifest.sha256 }
    if (!stat.isDirectory()) throw new OpsError('restore', `refusing ${from}: ${verification.problem}; the live database was not touched`, { hint: 'copy the backup and its .json manifest again' })
    say.warn('verify', `skipping ${path.basename(file)}: ${verification.problem}`)
  }
  throw new OpsError('restore', `no backup in ${from} verifies; the live database was not touched`, { hint: `ls -l ${from}` })
}

async function main () {
  const flags = parseFlags('restore', scriptArgs(), { backup: { type: 'string' }, from: { type: 'string' }, yes: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, 'stopped-by-rollback': { type: 'boolean' } }, import.meta.url)
  if (flags === null) return
  if (flags.positionals.length > 0) throw new OpsError('restore', `unexpected argument ${flags.positionals[0]}`, { hint: 'npx zx ops/restore.mjs --help', code: 'EUSAGE' })
  const pick = flags.values.backup
  const from = flags.values.from
  if (typeof pick === 'string' && typeof from === 'string') throw new OpsError('restore', '--backup and --from cannot go together', { hint: 'npx zx ops/restore.mjs --help', code: 'EUSAGE' })
  await restore({
    ...(typeof pick === 'string' ? { backupFile: pick } : {}),
    ...(typeof from === 'string' ? { from } : {}),
    yes: flags.values.yes === true,
    dryRun: flags.values['dry-run'] === true,
    stoppedByRollback: flags.values['stopped-by-rollback'] === true,
  })
}

if (isMain(import.meta.url)) await runMain('restore', main)
