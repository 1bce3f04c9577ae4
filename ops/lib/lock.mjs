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

/** @param {LockInfo | null} holder */
function describe (holder) {
  return holder === null ? 'an unreadable lock' : `"${holder.command}" (pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})`
}

/** A lock nobody holds any more: its pid is dead on this host, or the file is unreadable. @param {LockInfo | null} holder */
function isStale (holder) {
  return holder === null || (holder.host === os.hostname() && !isAlive(holder.pid))
}

/**
 * Takes the lock or throws an OpsError naming the holder. `force` (--force-unlock) clears a stale
 * lock first; a holder that is still alive on this host is never overridden (two deploys at once
 * would interleave their stops and starts). `rerun` is the command the hints tell the operator.
 * @param {string} file @param {string} command @param {{ force?: boolean, rerun?: string }} [options]
 * @returns {{ release: () => void, info: LockInfo, cleared: LockInfo | null }}
 */
export function acquireLock (file, command, options = {}) {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const rerun = options.rerun ?? 'the same command'
  /** @type {LockInfo | null} */
  let cleared = null
  if (options.force === true && fs.existsSync(file)) {
    const holder = readLock(file)
    if (holder !== null && holder.host === os.hostname() && isAlive(holder.pid)) {
      throw new OpsError('lock', `${describe(holder)} is still running; --force-unlock only clears a stale lock`, { hint: `wait for it to finish (pid ${holder.pid})`, code: 'ELOCKED' })
    }
    fs.rmSync(file, { force: true })
    cleared = holder
  }
  /** @type {LockInfo} */
  const info = { pid: process.pid, host: os.hostname(), command, startedAt: new Date().toISOString() }
  try {
    fs.writeFileSync(file, JSON.stringify(info) + '\n', { flag: 'wx', mode: 0o600 })
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err
    const holder = readLock(file)
    if (isStale(holder)) {
      throw new OpsError('lock', `stale lock ${path.basename(file)}: ${describe(holder)} is no longer running`, { hint: `check \`git status\` and \`npm run status\`, then clear it: ${rerun} --force-unlock`, code: 'ESTALELOCK' })
    }
    throw new OpsError('lock', `another deploy or rollback holds ${path.basename(file)}: ${describe(holder)}`, { hint: `wait for it to finish; if it is gone: ${rerun} --force-unlock`, code: 'ELOCKED' })
  }
  let released = false
  return {
    info,
    cleared,
    release: () => {
      if (released) return
      released = true
      if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true })
    },
  }
}
