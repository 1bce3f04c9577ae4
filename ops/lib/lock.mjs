// @ts-check
// The one-deploy-at-a-time lock: storage/deploy.lock holds pid, host, command and start time. It is
// created exclusively (never overwritten); a lock whose pid is dead is reported as stale, with the
// command that clears it.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { isAlive } from './backups.mjs'
import { OpsError } from './cli.mjs'

/** @typedef {{ pid: number, host: string, command: string, startedAt: string }} LockInfo */

/** @param {string} file @returns {LockInfo | null} */
export function readLock (file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return null
  }
}

/**
 * Takes the lock or throws an OpsError naming the holder. `force` clears a lock first (--force-unlock).
 * @param {string} file @param {string} command @param {{ force?: boolean }} [options]
 * @returns {{ release: () => void, info: LockInfo }}
 */
export function acquireLock (file, command, options = {}) {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  if (options.force === true) fs.rmSync(file, { force: true })
  /** @type {LockInfo} */
  const info = { pid: process.pid, host: os.hostname(), command, startedAt: new Date().toISOString() }
  try {
    fs.writeFileSync(file, JSON.stringify(info) + '\n', { flag: 'wx', mode: 0o600 })
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err
    const holder = readLock(file)
    const who = holder === null ? 'an unreadable lock' : `"${holder.command}" (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})`
    const sameHost = holder !== null && holder.host === os.hostname()
    if (holder !== null && sameHost && !isAlive(holder.pid)) {
      throw new OpsError('lock', `stale lock ${path.basename(file)}: ${who} is no longer running`, { hint: 'check `git status` and `npm run status`, then rerun with --force-unlock', code: 'ESTALELOCK' })
    }
    throw new OpsError('lock', `another deploy or rollback holds ${path.basename(file)}: ${who}`, { hint: 'wait for it to finish; if it is gone, rerun with --force-unlock', code: 'ELOCKED' })
  }
  let released = false
  return {
    info,
    release: () => {
      if (released) return
      released = true
      if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true })
    },
  }
}
