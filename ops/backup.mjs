// @ts-check
// ops/backup.mjs: step 1 of deploy, a verified online backup of the live database.
//
// Copies the database with SQLite's backup API while the bot keeps running and writing, opens the
// copy read-only (integrity_check ok, foreign_key_check empty, rows per table), and only then names
// it storage/backups/todo_<YYYY-MM-DD_HH-MM-SS>.sqlite (UTC; a second backup in the same second is
// ..._2.sqlite; an existing file is never replaced), with a manifest beside it (<name>.json: size,
// sha256, row counts, migration head, git commit, the owner's open tasks, copies). Files are 0600,
// the folder 0700. It first checks for free space of twice the database. Then retention: scheduled
// backups keep the newest of each of the last 7 days, 4 weeks and 12 months; every other backup
// (deploy, rollback, by hand) the newest --keep; none that the deploy journal names is deleted.
// It asks before deleting.
//
// When: any time, the bot may be running; deploy runs it as its first step; the bot runs it with
// --scheduled on BACKUP_SCHEDULE and with --drill on DRILL_SCHEDULE.
//
// Usage: npx zx ops/backup.mjs [flags]
//   --list           list the backups: age, size, tasks, whether each still verifies, which rule keeps it
//   --keep <n>       how many backups other than scheduled ones to keep (default 10)
//   --scheduled      take it as the schedule does: kept by the daily/weekly/monthly rule, then copied
//                    off the machine (BACKUP_COPY_TO, BACKUP_COPY_COMMAND); deletes without asking
//   --drill          restore drill: restore the newest backup into a scratch folder, integrity_check,
//                    migrations status, start the bot on it against a private Bot API emulator, ask
//                    /list in the owner's chat, compare with the manifest (changes nothing)
//   --backup <path>  with --drill: this backup file, or the newest in this folder (e.g. BACKUP_COPY_TO)
//   --json           print the outcome as one JSON line (for the bot)
//   --yes            delete backups beyond retention without asking
//   --dry-run        say what would be done, change nothing
//   --help           this text
//
// On PostgreSQL (DATABASE_URL set) the backup is pg_dump --format=custom, todo_<UTC>.pgdump, with
// the rows counted in the snapshot it dumps and verified by a restore into a scratch database.
//
// Environment: DATABASE_FILE or DATABASE_URL (and PG_BIN: where pg_dump is), ALLOWED_USER_IDS, BACKUP_COPY_TO, BACKUP_COPY_COMMAND,
// BACKUP_COPY_TIMEOUT_S (as the bot reads them, env or .env), MISTER_TODO_ROOT (data root, used by
// tests), MISTER_TODO_COPY (the copy settings as JSON, set by the bot), MISTER_TODO_FREE_BYTES
// (test hook: pretend the disk has this many free bytes).
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { $ } from './lib/shell.mjs'
import { backupName, ensurePrivateDir, unwritableReason, freeBytes, manifestPathOf, publishUnder, readManifest, removeStaleTemps, stampOf, verifyBackup, writeManifest } from './lib/backups.mjs'
import { confirm, info, intFlag, isMain, ok, OpsError, parseFlags, reporter, runMain, scriptArgs } from './lib/cli.mjs'
import { copyBackup, copySettings, ownerIdFrom } from './lib/copies.mjs'
import { formatAge, formatBytes, formatCount, formatTable } from './lib/format.mjs'
import { referencedBackups } from './lib/journal.mjs'
import { resolvePaths, shown } from './lib/paths.mjs'
import { silentProgress, startProgress } from './lib/progress.mjs'
import { GFS, planRetention, retentionEntries } from './lib/retention.mjs'
import { storageFor } from './lib/storage/index.mjs'
import { writePostgresBackup } from './lib/storage/postgres-backup.mjs'
import { databaseBytes, databaseFileProblem, fsyncPath, inspectDatabase, onlineBackup, openTasksOf, removeDatabaseFiles, sha256File } from './lib/sqlite.mjs'

export const DEFAULT_KEEP = 10
const GFS_WORDS = `${GFS.daily} daily, ${GFS.weekly} weekly, ${GFS.monthly} monthly`

/** @typedef {import('./lib/backups.mjs').Manifest} Manifest */
/** @typedef {import('./lib/backups.mjs').BackupKind} BackupKind */
/** @typedef {import('./lib/sqlite.mjs').BackupProgress} BackupProgress */
/** @typedef {import('./lib/copies.mjs').CopyRecord} CopyRecord */
/**
 * `origin: 'schedule'` takes the backup as the schedule does: kept by the daily/weekly/monthly rule
 * and copied off the machine (BACKUP_COPY_TO, BACKUP_COPY_COMMAND) once verified.
 * @typedef {{
 *   root?: string, env?: NodeJS.ProcessEnv, kind?: BackupKind, keep?: number | null, yes?: boolean,
 *   dryRun?: boolean, now?: () => Date, onProgress?: (p: BackupProgress) => void, quiet?: boolean,
 *   progress?: import('./lib/progress.mjs').Progress,
 *   origin?: 'schedule' | 'command'
 * }} BackupOptions
 * @typedef {{ file: string | null, manifest: Manifest | null, pruned: string[], kept: string[], copies: CopyRecord[] }} BackupResult
 */

/**
 * Takes one verified backup and applies retention. `kind: 'pre-restore'` (used by restore) keeps a
 * copy even when it does not verify, since it may be the only copy of a damaged database, and
 * prunes nothing. `keep: null` prunes nothing.
 * @param {BackupOptions} [options] @returns {Promise<BackupResult>}
 */
export async function backup (options = {}) {
  const paths = resolvePaths(options)
  const kind = options.kind ?? 'backup'
  const origin = options.origin ?? 'command'
  const keep = options.keep === undefined ? (kind === 'backup' ? DEFAULT_KEEP : null) : options.keep
  const say = reporter(options.quiet)
  const source = paths.databaseFile
  const storage = await storageFor(paths)
  const sourceShown = storage.engine === 'sqlite' ? shown(paths, source) : storage.shown
  if (storage.engine === 'sqlite') {
    if (!fs.existsSync(source)) throw new OpsError('backup', `no database at ${shown(paths, source)}`, { hint: 'check DATABASE_FILE in .env' })
    const notDatabase = databaseFileProblem(source)
    if (notDatabase !== null) throw new OpsError('backup', `${shown(paths, source)} ${notDatabase}; nothing was written`, { hint: 'check DATABASE_FILE in .env; if the file is damaged: npx zx ops/restore.mjs' })
  }
  const unwritable = unwritableReason(paths.backupsDir)
  if (unwritable !== null) throw new OpsError('backup', `cannot write to ${shown(paths, paths.backupsDir)}: ${unwritable}; nothing was written`, { hint: `ls -ld ${shown(paths, paths.backupsDir)} (the folder must be writable by the user running the bot; chmod 700)` })
  const copying = origin === 'schedule' ? await copySettings(paths) : null

  // Checks before changes: space, then what retention would delete.
  const size = storage.engine === 'sqlite' ? databaseBytes(source) : await storage.size()
  const free = freeBytes(paths.backupsDir, paths.env)
  if (free < 2 * size) {
    throw new OpsError('backup', `not enough disk space for ${shown(paths, paths.backupsDir)}: ${formatBytes(free)} free, ${formatBytes(2 * size)} needed (twice the ${formatBytes(size)} database); nothing was written`, { hint: `df -h ${shown(paths, path.dirname(paths.backupsDir))}` })
  }
  const date = (options.now ?? (() => new Date()))()
  const planned = { name: backupName(stampOf(date), 1, kind, storage.engine === 'sqlite' ? 'sqlite' : 'pgdump'), stamp: stampOf(date), seq: Number.MAX_SAFE_INTEGER, origin }
  const older = retentionEntries(paths.backupsDir)
  const pinned = referencedBackups(paths.journalFile)
  const plan = planRetention([...older, planned], { keep, pinned })
  // Each kind prunes only its own: a deploy's backup never deletes a scheduled one, nor the reverse.
  const doomed = older.filter((b) => b.origin === origin && plan.get(b.name)?.keep === false)
  const kept = older.filter((b) => b.origin === origin && plan.get(b.name)?.rules.join() === 'deploy journal').map((b) => b.name)
  const rule = origin === 'schedule' ? GFS_WORDS : `the newest ${keep}`
  const what = origin === 'schedule' ? 'old scheduled backup(s)' : 'old backup(s)'
  if (options.dryRun === true) {
    say.ok('backup', `would copy ${sourceShown} (${formatBytes(size)}) to ${shown(paths, path.join(paths.backupsDir, planned.name))} (dry run)`)
    if (doomed.length > 0) say.ok('prune', `would delete ${doomed.map((b) => b.name).join(', ')} (dry run)`)
    return { file: null, manifest: null, pruned: [], kept, copies: [] }
  }
  if (doomed.length > 0) {
    say.info(`  retention (${origin === 'schedule' ? `scheduled: ${GFS_WORDS}` : `--keep ${keep}`}) will delete: ${doomed.map((b) => b.name).join(', ')}`)
    // A scheduled backup runs unattended: its retention is the rule itself, not a question.
    await confirm('backup', `delete ${doomed.length} ${what} beyond ${rule}`, { yes: options.yes === true || origin === 'schedule' })
  }

  // A live line (or a plain line every 15 s in a log) while the copy and its checks run.
  const progress = options.progress ?? (options.quiet === true ? silentProgress('backup') : startProgress('backup'))
  const copyingText = `copying ${sourceShown}`
  const onProgress = options.onProgress ?? ((/** @type {BackupProgress} */ p) => {
    progress.update(p.remainingPages === 0 ? 'checking the copy (integrity, foreign keys, rows, sha256)' : copyingText, { done: Math.round(size * (p.totalPages - p.remainingPages) / Math.max(1, p.totalPages)), total: size, unit: 'bytes' })
  })
  let written
  try {
    if (storage.engine === 'sqlite') written = await writeBackup(paths, kind, origin, date, size, onProgress)
    else {
      progress.update(`pg_dump of ${storage.shown}, then a restore into a scratch database to verify it`)
      written = await writePostgresBackup(paths, storage, kind, origin, date, ownerIdFrom(paths))
    }
  } finally {
    if (options.progress === undefined) progress.stop()
  }
  const { file, manifest } = written
  const tasks = manifest.counts.tasks === undefined ? '' : `, ${formatCount(manifest.counts.tasks)} tasks`
  if (manifest.verified) say.ok('backup', `${shown(paths, file)} (${formatBytes(manifest.size)}${tasks}, integrity ok)`)
  else say.warn('backup', `${shown(paths, file)} (${formatBytes(manifest.size)}) kept although it does not verify: ${manifest.integrity}`)

  for (const b of doomed) {
    fs.rmSync(manifestPathOf(b.file), { force: true })
    fs.rmSync(b.file, { force: true })
  }
  if (doomed.length > 0) say.ok('prune', `deleted ${doomed.length} ${what}, kept ${rule}${kept.length > 0 ? ` and ${kept.length} the deploy journal names` : ''}`)

  const copies = copying === null ? [] : await copyBackup(file, manifest, copying, { keep, pinned, say, shownPath: (f) => shown(paths, f) })
  return { file, manifest, pruned: doomed.map((b) => b.name), kept, copies }
}

/**
 * Copy to a temp name, verify, flush, then publish under a name no one else holds. Any failure
 * removes what was written.
 * @param {import('./lib/paths.mjs').Paths} paths @param {BackupKind} kind @param {'schedule' | 'command'} origin @param {Date} date @param {number} size
 * @param {((p: BackupProgress) => void) | undefined} onProgress
 * @returns {Promise<{ file: string, manifest: Manifest }>}
 */
async function writeBackup (paths, kind, origin, date, size, onProgress) {
  ensurePrivateDir(paths.backupsDir)
  removeStaleTemps(paths.backupsDir)
  const tmp = path.join(paths.backupsDir, `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}.sqlite`)
  const started = performance.now()
  /** @type {string | null} */
  let file = null
  try {
    fs.closeSync(fs.openSync(tmp, 'wx', 0o600))
    let integrity = 'ok'
    try {
      await onlineBackup(paths.databaseFile, tmp, onProgress === undefined ? {} : { onProgress })
    } catch (err) {
      // Only a pre-restore copy falls back to the raw bytes: the file may be too damaged to read.
      if (kind !== 'pre-restore' || isDiskFull(err)) throw err
      fs.copyFileSync(paths.databaseFile, tmp)
      integrity = `raw copy, the backup API failed: ${err instanceof Error ? err.message : String(err)}`
    }
    const inspection = inspectDatabase(tmp)
    if (!inspection.ok && kind === 'backup') {
      throw new OpsError('backup', `the copy of ${shown(paths, paths.databaseFile)} does not verify (${inspection.problem}); nothing was kept`, { hint: `npx zx ops/backup.mjs again; if it fails again the live database is damaged: npx zx ops/restore.mjs` })
    }
    fs.chmodSync(tmp, 0o600)
    fsyncPath(tmp)
    const ownerId = ownerIdFrom(paths)
    /** @type {Manifest} */
    const manifest = {
      file: '',
      kind,
      createdAt: date.toISOString(),
      source: shown(paths, paths.databaseFile),
      size: fs.statSync(tmp).size,
      sha256: await sha256File(tmp),
      integrity: inspection.ok ? 'ok' : (integrity === 'ok' ? inspection.problem ?? 'does not verify' : integrity),
      verified: inspection.ok && integrity === 'ok',
      counts: inspection.counts,
      migrationHead: inspection.head,
      gitCommit: await gitCommit(paths.root),
      durationMs: Math.round(performance.now() - started),
      origin,
      owner: ownerId === null || !inspection.ok ? null : { chatId: ownerId, openTasks: openTasksOf(tmp, ownerId) },
    }
    file = publishUnder(tmp, paths.backupsDir, date, kind)
    manifest.file = path.basename(file)
    writeManifest(file, manifest)
    fsyncPath(paths.backupsDir)
    return { file, manifest }
  } catch (err) {
    removeDatabaseFiles(tmp)
    if (file !== null) {
      fs.rmSync(manifestPathOf(file), { force: true })
      fs.rmSync(file, { force: true })
    }
    if (isDiskFull(err)) throw new OpsError('backup', `the disk filled up while writing the backup; nothing was kept (${formatBytes(size)} database)`, { hint: `df -h ${shown(paths, paths.backupsDir)}`, cause: err })
    throw err
  }
}

/** @param {unknown} err */
function isDiskFull (err) {
  const code = /** @type {{ code?: string }} */ (err)?.code
  return code === 'ENOSPC' || code === 'SQLITE_FULL' || code === 'EDQUOT'
}

/** The commit the data root is at, or null outside git. @param {string} root */
async function gitCommit (root) {
  const out = await $({ cwd: root, quiet: true, nothrow: true, env: { ...process.env, GIT_CEILING_DIRECTORIES: path.dirname(root) } })`git rev-parse HEAD`
  return out.exitCode === 0 ? out.stdout.trim() : null
}

/**
 * Every backup, newest first, with whether it still verifies and which retention rule keeps it.
 * @param {{ root?: string, env?: NodeJS.ProcessEnv, now?: () => Date, keep?: number }} [options]
 */
export async function listBackups (options = {}) {
  const paths = resolvePaths(options)
  const now = (options.now ?? (() => new Date()))().getTime()
  const all = retentionEntries(paths.backupsDir)
  const plan = planRetention(all, { keep: options.keep ?? DEFAULT_KEEP, pinned: referencedBackups(paths.journalFile) })
  const entries = []
  for (const b of all) {
    const verification = await verifyBackup(b.file)
    const manifest = readManifest(b.file)
    const createdAt = manifest?.createdAt ?? `${b.stamp.slice(0, 10)}T${b.stamp.slice(11).replaceAll('-', ':')}Z`
    const rules = plan.get(b.name)?.rules ?? []
    const copies = manifest?.copies ?? []
    entries.push({ ...b, ageMs: now - Date.parse(createdAt), size: fs.statSync(b.file).size, tasks: manifest?.counts.tasks ?? null, verified: verification.ok, problem: verification.problem, keptBy: rules.length === 0 ? `none: the next ${b.origin === 'schedule' ? 'scheduled ' : ''}backup deletes it` : rules.join(', '), copied: copies.length === 0 ? '-' : copies.every((c) => c.ok) ? 'yes' : 'failed' })
  }
  return { paths, entries }
}

/** Prints one JSON line (for the bot) and sets the exit code. @param {Record<string, unknown>} outcome */
function printJson (outcome) {
  process.stdout.write(JSON.stringify(outcome) + '\n')
  if (outcome.ok !== true) process.exitCode = 1
}

async function main () {
  const flags = parseFlags('backup', scriptArgs(), { list: { type: 'boolean' }, keep: { type: 'string' }, scheduled: { type: 'boolean' }, drill: { type: 'boolean' }, backup: { type: 'string' }, json: { type: 'boolean' }, yes: { type: 'boolean' }, 'dry-run': { type: 'boolean' } }, import.meta.url)
  if (flags === null) return
  const v = flags.values
  if (flags.positionals.length > 0) throw new OpsError('backup', `unexpected argument ${flags.positionals[0]}`, { hint: 'npx zx ops/backup.mjs --help', code: 'EUSAGE' })
  if (v.backup !== undefined && v.drill !== true) throw new OpsError('backup', '--backup goes with --drill', { hint: 'npx zx ops/backup.mjs --help', code: 'EUSAGE' })
  const keep = intFlag('backup', v.keep, '--keep', 1) ?? DEFAULT_KEEP
  if (v.list === true) {
    const { paths, entries } = await listBackups({ keep })
    const rows = entries.map((e) => [e.name, formatAge(e.ageMs), formatBytes(e.size), e.tasks === null ? '-' : formatCount(e.tasks), e.copied, e.keptBy, e.verified ? 'ok' : `no: ${e.problem}`])
    if (entries.length > 0) info(formatTable([['backup', 'age', 'size', 'tasks', 'copied', 'kept by', 'verifies'], ...rows], [0, 4, 5, 6]))
    ok('backup', `${entries.length} backup(s) in ${shown(paths, paths.backupsDir)}, ${entries.filter((e) => e.verified).length} verify`)
    return
  }
  if (v.drill === true) {
    const { drill } = await import('./lib/drill.mjs')
    if (v.json !== true) {
      await drill({ ...(typeof v.backup === 'string' ? { backupFile: v.backup } : {}) })
      return
    }
    printJson(await drill({ ...(typeof v.backup === 'string' ? { backupFile: v.backup } : {}), quiet: true }).then((r) => ({ ok: true, ...r }), (err) => ({ ok: false, step: err instanceof OpsError ? err.step : 'drill', error: err instanceof Error ? err.message : String(err) })))
    return
  }
  const scheduled = v.scheduled === true
  const run = backup({ keep, yes: v.yes === true || scheduled, dryRun: v['dry-run'] === true, quiet: v.json === true, ...(scheduled ? { origin: 'schedule' } : {}) })
  if (v.json !== true) {
    await run
    return
  }
  printJson(await run.then((r) => ({ ok: true, file: r.file, size: r.manifest?.size ?? null, tasks: r.manifest?.counts.tasks ?? null, durationMs: r.manifest?.durationMs ?? null, pruned: r.pruned, copies: r.copies }), (err) => ({ ok: false, step: err instanceof OpsError ? err.step : 'backup', error: err instanceof Error ? err.message : String(err) })))
}

if (isMain(import.meta.url)) await runMain('backup', main)
