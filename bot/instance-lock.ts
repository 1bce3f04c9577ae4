// One bot per database: an exclusive SQLite (fcntl) lock on storage's bot.lock, held for the life
// of the process. The OS drops it when the process dies, so a kill -9 never leaves a stale lock.
// A hand-over is a wait for this lock: the incoming version stands by, loaded, and takes the lock
// the moment the outgoing one lets go of it (waitForInstanceLock). On PostgreSQL the same is a
// session advisory lock (tryDatabaseLock / waitForDatabaseLock at the end).
// In webhook mode on PostgreSQL it is the leader lock rather than "one bot" (bot/leader.ts).
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Sqlite from 'better-sqlite3'
import type { Config } from './config.js'
import { makeOwnerOnly } from './db.js'
import { AppError } from './errors.js'
import { postgresLockedError, postgresLockHolder, tryPostgresLock } from './instance-lock-postgres.js'

/** `alive` (PostgreSQL): whether the lock's session still answers; a file lock lives as long as the process. */
export type InstanceLock = { release: () => void, file: string, alive?: () => Promise<boolean> }

/** How often a standby asks for the lock: the hand-over gap is at most this plus the take-over. */
const LOCK_POLL_MS = 5

export function lockFileFor (databaseFile: string): string {
  return path.join(path.dirname(databaseFile), 'bot.lock')
}

/** The pid written beside the lock by its holder, if any. */
export function lockHolder (databaseFile: string): number | null {
  try {
    const pid = Number(fs.readFileSync(`${lockFileFor(databaseFile)}.pid`, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

/** The lock, or null while another process holds it. */
export function tryInstanceLock (databaseFile: string): InstanceLock | null {
  const file = lockFileFor(databaseFile)
  const pidFile = `${file}.pid`
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  makeOwnerOnly(file)
  const db = new Sqlite(file, { timeout: 0 })
  try {
    db.pragma('locking_mode = EXCLUSIVE')
    // The lock is SQLite's exclusive lock itself; the holder row needs no durability. With the
    // default journal this commit made three fsyncs, each in every hand-over's wait, and one
    // fsync took up to a second while a deploy's `npm ci` was writing.
    db.pragma('journal_mode = MEMORY')
    db.pragma('synchronous = OFF')
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)')
    db.exec('BEGIN EXCLUSIVE')
    db.prepare('DELETE FROM holder').run()
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid)
    db.exec('COMMIT')
  } catch (err) {
    db.close()
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') return null
    throw err
  }
  fs.writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 })
  return {
    file,
    release: () => {
      fs.rmSync(pidFile, { force: true })
      db.close()
    },
  }
}

function lockedError (databaseFile: string, waitedMs: number): AppError {
  const holder = lockHolder(databaseFile)
  const who = holder === null ? 'another process' : `process ${holder}`
  const waited = waitedMs > 0 ? ` and did not hand over within ${Math.round(waitedMs / 1000)} s` : ''
  return new AppError('ELOCKED', `another Mister_Todo bot (${who}) is already running on ${databaseFile}${waited}: stop it first (npm stop), or use another DATABASE_FILE`)
}

export function acquireInstanceLock (databaseFile: string): InstanceLock {
  const lock = tryInstanceLock(databaseFile)
  if (lock === null) throw lockedError(databaseFile, 0)
  return lock
}

/**
 * Stands by until the lock is free (the outgoing version has committed and exited), for at most
 * `waitMs`; `onWait` is told once who holds it. An abort ends the wait with EABORTED.
 */
export async function waitForInstanceLock (databaseFile: string, o: { waitMs: number, signal?: AbortSignal, onWait?: (holder: number | null) => void }): Promise<InstanceLock> {
  const started = Date.now()
  let told = false
  for (;;) {
    if (o.signal?.aborted === true) throw new AppError('EABORTED', 'stopped while standing by for the instance lock')
    const lock = tryInstanceLock(databaseFile)
    if (lock !== null) return lock
    if (Date.now() - started >= o.waitMs) throw lockedError(databaseFile, o.waitMs)
    if (!told) {
      told = true
      o.onWait?.(lockHolder(databaseFile))
    }
    await sleep(LOCK_POLL_MS, undefined, o.signal === undefined ? {} : { signal: o.signal }).catch(() => {})
  }
}

// Either engine: the file lock above for SQLite, a session advisory lock for PostgreSQL
// (bot/instance-lock-postgres.ts). The bot takes its lock through these two.

export async function tryDatabaseLock (config: Pick<Config, 'database' | 'databaseFile'>): Promise<InstanceLock | null> {
  if (config.database.engine === 'sqlite') return tryInstanceLock(config.databaseFile)
  // The bot's local state (serving.json, the hand-over plan, the crash counter) stays in DATABASE_FILE's folder.
  fs.mkdirSync(path.dirname(config.databaseFile), { recursive: true, mode: 0o700 })
  return await tryPostgresLock(config.database)
}

export async function waitForDatabaseLock (config: Pick<Config, 'database' | 'databaseFile'>, o: { waitMs: number, signal?: AbortSignal, onWait?: (holder: number | null) => void }): Promise<InstanceLock> {
  const target = config.database
  if (target.engine === 'sqlite') return await waitForInstanceLock(config.databaseFile, o)
  fs.mkdirSync(path.dirname(config.databaseFile), { recursive: true, mode: 0o700 })
  const started = Date.now()
  let told = false
  for (;;) {
    if (o.signal?.aborted === true) throw new AppError('EABORTED', 'stopped while standing by for the instance lock')
    const lock = await tryPostgresLock(target)
    if (lock !== null) return lock
    if (Date.now() - started >= o.waitMs) throw postgresLockedError(target, await postgresLockHolder(target), o.waitMs)
    if (!told) {
      told = true
      o.onWait?.((await postgresLockHolder(target))?.pid ?? null)
    }
    await sleep(LOCK_POLL_MS, undefined, o.signal === undefined ? {} : { signal: o.signal }).catch(() => {})
  }
}
