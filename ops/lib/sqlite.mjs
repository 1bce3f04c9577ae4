// @ts-check
// The ops toolkit's only direct SQLite access: online backup of a live file, read-only inspection
// (integrity, foreign keys, row counts, migration head), checksums and fsync.
import Database from 'better-sqlite3'
import crypto from 'node:crypto'
import fs from 'node:fs'

export const BUSY_TIMEOUT_MS = 5000
/** Pages copied per step (1 MB at 4 kB pages) until a writer forces a restart. */
export const FIRST_STEP_PAGES = 256
const ALL_PAGES = 0x7fffffff

/** @typedef {{ totalPages: number, remainingPages: number }} BackupProgress */
/**
 * @typedef {{
 *   ok: boolean, problem: string | null, integrity: string, foreignKeyProblems: number,
 *   counts: Record<string, number>, head: string | null
 * }} Inspection
 */

/**
 * Copies a database that others may be writing, with SQLite's backup API: each step holds a read
 * snapshot, so the copy is consistent. A write by another process restarts the copy at the next step;
 * after the first restart the rest is copied in one step (one read snapshot: in WAL mode the
 * writer is not blocked), so a busy writer cannot starve it. Doubling the step instead, as before,
 * never finished on a 100 MB database written every 50 ms: once a step took longer than the gap
 * between writes, each step restarted and copied as far as the one before. The copy is switched to
 * rollback-journal mode so it is one self-contained file.
 * @param {string} source @param {string} dest an empty file or a new path
 * @param {{ onProgress?: (p: BackupProgress) => void }} [options]
 * @returns {Promise<{ restarts: number }>}
 */
export async function onlineBackup (source, dest, options = {}) {
  const db = new Database(source, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS })
  let restarts = 0
  try {
    let pages = FIRST_STEP_PAGES
    let lastRemaining = Infinity
    const done = await db.backup(dest, {
      progress (p) {
        // A restart shows as no progress: as many pages left as after the step before, or more.
        if (p.remainingPages >= lastRemaining) {
          restarts += 1
          pages = ALL_PAGES
        }
        lastRemaining = p.remainingPages
        options.onProgress?.(p)
        return pages
      },
    })
    options.onProgress?.(done)
  } finally {
    db.close()
  }
  const copy = new Database(dest, { fileMustExist: true })
  try {
    copy.pragma('journal_mode = DELETE')
  } finally {
    copy.close()
  }
  return { restarts }
}

/** @param {unknown} err */
function messageOf (err) {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Opens a file read-only and answers: integrity_check, foreign_key_check, rows per table, the last
 * applied migration. Never throws for a damaged file: `problem` says what is wrong.
 * `checks: false` only counts rows: for a file already proven identical (sha256) to a verified one.
 * @param {string} file @param {{ checks?: boolean }} [options] @returns {Inspection}
 */
export function inspectDatabase (file, options = {}) {
  /** @type {Inspection} */
  const result = { ok: false, problem: null, integrity: 'not checked', foreignKeyProblems: 0, counts: {}, head: null }
  let db
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch (err) {
    result.problem = `cannot open it: ${messageOf(err)}`
    return result
  }
  try {
    const integrity = options.checks === false ? ['ok'] : /** @type {Array<{ integrity_check: string }>} */ (db.pragma('integrity_check')).map((r) => r.integrity_check)
    result.integrity = integrity.slice(0, 3).join('; ')
    if (result.integrity !== 'ok') {
      result.problem = `integrity_check failed: ${result.integrity}`
      return result
    }
    result.foreignKeyProblems = options.checks === false ? 0 : /** @type {unknown[]} */ (db.pragma('foreign_key_check')).length
    const tables = /** @type {string[]} */ (db.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name").pluck().all())
    for (const table of tables) {
      result.counts[table] = Number(db.prepare(`select count(*) from "${table.replaceAll('"', '""')}"`).pluck().get())
    }
    if (tables.includes('knex_migrations')) {
      result.head = /** @type {string | undefined} */ (db.prepare('select name from knex_migrations order by id desc limit 1').pluck().get()) ?? null
    }
    if (result.foreignKeyProblems > 0) {
      result.problem = `foreign_key_check found ${result.foreignKeyProblems} row(s) pointing at nothing`
      return result
    }
    result.ok = true
  } catch (err) {
    result.problem = `cannot read it: ${messageOf(err)}`
  } finally {
    db.close()
  }
  return result
}

/** @param {string} file @returns {Promise<string>} hex sha256 */
export async function sha256File (file) {
  const hash = crypto.createHash('sha256')
  for await (const chunk of fs.createReadStream(file)) hash.update(/** @type {Buffer} */ (chunk))
  return hash.digest('hex')
}

/** Flushes a file or a directory entry to disk. @param {string} target */
export function fsyncPath (target) {
  const fd = fs.openSync(target, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Removes a database file and its SQLite companions; missing ones are fine. @param {string} file */
export function removeDatabaseFiles (file) {
  for (const suffix of ['', '-journal', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true })
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1')

/**
 * What is wrong with a path that should be a database, before SQLite opens it (SQLite's own
 * "file is not a database" names neither the file nor the fix); null when it looks like one or
 * does not exist (the callers say "no database" themselves).
 * @param {string} file @returns {string | null}
 */
export function databaseFileProblem (file) {
  const stat = fs.statSync(file, { throwIfNoEntry: false })
  if (stat === undefined) return null
  if (stat.isDirectory()) return 'is a folder, not a database file'
  if (!stat.isFile()) return 'is not a regular file'
  if (stat.size === 0) return null
  const head = Buffer.alloc(SQLITE_HEADER.length)
  try {
    const fd = fs.openSync(file, 'r')
    try { fs.readSync(fd, head, 0, head.length, 0) } finally { fs.closeSync(fd) }
  } catch (err) {
    return `cannot be read (${/** @type {{ code?: string }} */ (err).code ?? String(err)})`
  }
  return head.equals(SQLITE_HEADER) ? null : 'is not an SQLite database (it does not start with "SQLite format 3")'
}

/** Size of a live database: the main file plus its write-ahead log. @param {string} file */
export function databaseBytes (file) {
  const sizeOf = (/** @type {string} */ f) => fs.statSync(f, { throwIfNoEntry: false })?.size ?? 0
  return sizeOf(file) + sizeOf(file + '-wal')
}

/** The last applied migration, read-only and without a full integrity check. @param {string} file @returns {string | null} */
export function readHead (file) {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const hasTable = db.prepare("select 1 from sqlite_master where type = 'table' and name = 'knex_migrations'").get() !== undefined
    return hasTable ? /** @type {string | undefined} */ (db.prepare('select name from knex_migrations order by id desc limit 1').pluck().get()) ?? null : null
  } finally {
    db.close()
  }
}

/** Open tasks of one chat, read-only (the restore drill compares it with /list). @param {string} file @param {number} chatId */
export function openTasksOf (file, chatId) {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return Number(db.prepare('select count(*) from tasks where chat_id = ? and done_at is null and deleted_at is null').pluck().get(chatId))
  } finally {
    db.close()
  }
}
