// @ts-check
// The backups folder: names (UTC, sortable, never reused), manifests beside each backup, the list
// newest first, verification against the manifest, and the free-space measure.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fsyncPath, inspectDatabase, sha256File } from './sqlite.mjs'

/** todo_2026-11-24_10-02-11.sqlite, todo_2026-11-24_10-02-11_2.sqlite, todo_…_pre-restore.sqlite;
 * on PostgreSQL the same names end in .pgdump (pg_dump --format=custom). */
export const BACKUP_NAME = /^todo_(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)(?:_(\d+))?(_pre-restore)?\.(?:sqlite|pgdump)$/
/** Test hook: replaces the measured free bytes of the backups disk. */
export const FREE_BYTES_ENV = 'MISTER_TODO_FREE_BYTES'

/** @typedef {'backup' | 'pre-restore'} BackupKind */
/**
 * `origin`: 'schedule' for a scheduled backup (kept by the daily/weekly/monthly rule), 'command'
 * (or absent, in older manifests) for one taken by deploy, rollback, restore or by hand.
 * `owner`: the owner's chat and its open tasks, which the restore drill compares with /list.
 * `copies`: each off-machine copy made of it.
 * @typedef {{
 *   file: string, kind: BackupKind, createdAt: string, source: string, size: number, sha256: string,
 *   integrity: string, verified: boolean, counts: Record<string, number>, migrationHead: string | null,
 *   gitCommit: string | null, durationMs: number, origin?: 'schedule' | 'command',
 *   owner?: { chatId: number, openTasks: number } | null, copies?: import('./copies.mjs').CopyRecord[]
 * }} Manifest
 * @typedef {{ name: string, file: string, stamp: string, seq: number, kind: BackupKind }} BackupFile
 * @typedef {{ ok: boolean, problem: string | null, manifest: Manifest | null, counts: Record<string, number> }} Verification
 */

/** UTC, to the second: 2026-11-24_10-02-11. @param {Date} date */
export function stampOf (date) {
  return date.toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-')
}

/** @param {string} stamp @param {number} seq @param {BackupKind} kind @param {'sqlite' | 'pgdump'} [ext] */
export function backupName (stamp, seq, kind, ext = 'sqlite') {
  return `todo_${stamp}${seq > 1 ? `_${seq}` : ''}${kind === 'pre-restore' ? '_pre-restore' : ''}.${ext}`
}

/** @param {string} file */
export function manifestPathOf (file) {
  return `${file}.json`
}

/** Backups in a folder, newest first (by name stamp, then sequence). @param {string} dir @returns {BackupFile[]} */
export function listBackupFiles (dir) {
  /** @type {BackupFile[]} */
  const found = []
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const match = BACKUP_NAME.exec(name)
    if (match === null || match[1] === undefined) continue
    found.push({ name, file: path.join(dir, name), stamp: match[1], seq: Number(match[2] ?? 1), kind: match[3] === undefined ? 'backup' : 'pre-restore' })
  }
  return found.sort((a, b) => a.stamp === b.stamp ? b.seq - a.seq : (a.stamp < b.stamp ? 1 : -1))
}

/** @param {string} file @returns {Manifest | null} */
export function readManifest (file) {
  try {
    return JSON.parse(fs.readFileSync(manifestPathOf(file), 'utf8'))
  } catch {
    return null
  }
}

/** Writes a manifest beside its backup: a temp file, flushed, renamed over. @param {string} file @param {Manifest} manifest */
export function writeManifest (file, manifest) {
  const tmp = path.join(path.dirname(file), `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}.json`)
  fs.writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  fsyncPath(tmp)
  fs.renameSync(tmp, manifestPathOf(file))
}

/** @param {Record<string, number>} a @param {Record<string, number>} b */
function sameCounts (a, b) {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k])
}

/**
 * A backup counts only if its manifest says it verified, its size and sha256 match the manifest,
 * and it still opens with integrity ok, no foreign-key problems and the recorded row counts.
 * `deep: false` stops after the sha256: the file is then byte for byte the one whose integrity
 * was checked when it was taken (for a rollback, where every second before the stop counts).
 * @param {string} file @param {{ deep?: boolean }} [options] @returns {Promise<Verification>}
 */
export async function verifyBackup (file, options = {}) {
  const manifest = readManifest(file)
  /** @param {string} problem @returns {Verification} */
  const refuse = (problem) => ({ ok: false, problem, manifest, counts: manifest?.counts ?? {} })
  const size = fs.statSync(file, { throwIfNoEntry: false })?.size
  if (size === undefined) return refuse('the file does not exist')
  if (manifest === null) return refuse(`it has no readable manifest (${path.basename(manifestPathOf(file))}), so its checksum cannot be checked`)
  if (!manifest.verified) return refuse(`its manifest records that it failed verification (${manifest.integrity})`)
  if (size !== manifest.size) return refuse(`it is ${size} bytes but its manifest says ${manifest.size}: it was cut short or changed`)
  if (await sha256File(file) !== manifest.sha256) return refuse('its sha256 does not match its manifest: the file was changed or damaged')
  if (options.deep === false) return { ok: true, problem: null, manifest, counts: manifest.counts }
  // A PostgreSQL dump was proven by a restore into a scratch database when it was taken; the
  // sha256 says this is that file. Restoring it again needs the server: restore.mjs does that.
  if (file.endsWith('.pgdump')) return { ok: true, problem: null, manifest, counts: manifest.counts }
  const inspection = inspectDatabase(file)
  if (!inspection.ok) return refuse(inspection.problem ?? 'it does not verify')
  if (!sameCounts(inspection.counts, manifest.counts)) return refuse('its row counts differ from its manifest')
  return { ok: true, problem: null, manifest, counts: inspection.counts }
}

/** Free bytes where `dir` (or its nearest existing parent) lives. @param {string} dir @param {NodeJS.ProcessEnv} env */
export function freeBytes (dir, env) {
  const override = env[FREE_BYTES_ENV]?.trim()
  if (override !== undefined && /^\d+$/.test(override)) return Number(override)
  let probe = dir
  while (!fs.existsSync(probe) && path.dirname(probe) !== probe) probe = path.dirname(probe)
  const stats = fs.statfsSync(probe)
  return stats.bavail * stats.bsize
}

/**
 * Why files cannot be written into `dir` (or, when it does not exist yet, into the nearest folder
 * that does), or null. access(W_OK) also sees an immutable folder as root does.
 * @param {string} dir @returns {string | null}
 */
export function unwritableReason (dir) {
  let target = dir
  while (!fs.existsSync(target) && path.dirname(target) !== target) target = path.dirname(target)
  if (!fs.statSync(target).isDirectory()) return `${target} is not a folder`
  try {
    fs.accessSync(target, fs.constants.W_OK)
    return null
  } catch (err) {
    return `${target === dir ? 'it' : target} is not writable (${/** @type {{ code?: string }} */ (err).code ?? String(err)})`
  }
}

/** Creates a folder (and parents), or tightens an existing one, to owner-only. @param {string} dir */
export function ensurePrivateDir (dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  if ((fs.statSync(dir).mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700)
}

/**
 * Gives a finished temp file its final name without ever replacing a file: link() fails on an
 * existing name, so two backups in the same second take _2, _3, ….
 * @param {string} tmp @param {string} dir @param {Date} date @param {BackupKind} kind @param {'sqlite' | 'pgdump'} [ext]
 * @returns {string} the final path
 */
export function publishUnder (tmp, dir, date, kind, ext = 'sqlite') {
  const stamp = stampOf(date)
  for (let seq = 1; ; seq += 1) {
    const file = path.join(dir, backupName(stamp, seq, kind, ext))
    if (fs.existsSync(manifestPathOf(file))) continue
    try {
      fs.linkSync(tmp, file)
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code === 'EEXIST') continue
      throw err
    }
    fs.rmSync(tmp)
    return file
  }
}

/** Removes temp files left by a backup whose process died (they are named .tmp-<pid>-…). @param {string} dir */
export function removeStaleTemps (dir) {
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const pid = Number(/^\.tmp-(\d+)-/.exec(name)?.[1] ?? NaN)
    if (Number.isNaN(pid) || isAlive(pid)) continue
    fs.rmSync(path.join(dir, name), { force: true })
  }
}

/** @param {number} pid */
export function isAlive (pid) {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM'
  }
  // One that has exited but is not yet reaped by its parent (a zombie: PM2 on a loaded machine)
  // still answers kill 0, yet serves and holds nothing.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code !== 'ENOENT'
  }
}
