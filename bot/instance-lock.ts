// One bot per database: an exclusive SQLite (fcntl) lock on storage's bot.lock, held for the life
// of the process. The OS drops it when the process dies, so a kill -9 never leaves a stale lock.
import fs from 'node:fs'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import { makeOwnerOnly } from './db.js'
import { AppError } from './errors.js'

export type InstanceLock = { release: () => void, file: string }

export function lockFileFor (databaseFile: string): string {
  return path.join(path.dirname(databaseFile), 'bot.lock')
}

export function acquireInstanceLock (databaseFile: string): InstanceLock {
  const file = lockFileFor(databaseFile)
  const pidFile = `${file}.pid`
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  makeOwnerOnly(file)
  const db = new Sqlite(file, { timeout: 0 })
  try {
    db.pragma('locking_mode = EXCLUSIVE')
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)')
    db.exec('BEGIN EXCLUSIVE')
    db.prepare('DELETE FROM holder').run()
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid)
    db.exec('COMMIT')
  } catch (err) {
    db.close()
    let holder = 'another process'
    try { holder = `process ${fs.readFileSync(pidFile, 'utf8').trim()}` } catch { /* no pid file: the holder is unnamed */ }
    throw new AppError('ELOCKED', `another Mister_Todo bot (${holder}) is already running on ${databaseFile}: stop it first (npm stop), or use another DATABASE_FILE`, { cause: err })
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
