// @ts-check
// Off-machine copies of a verified backup: into a folder (BACKUP_COPY_TO: a mounted disk or share),
// checked by sha256 and renamed into place; and through a command (BACKUP_COPY_COMMAND), run
// without a shell, once for the backup and once for its manifest, killed at the time limit.
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { manifestPathOf, writeManifest } from './backups.mjs'
import { OpsError } from './cli.mjs'
import { commandFor } from './copy-command.mjs'
import { readDotEnv } from './paths.mjs'
import { planRetention, retentionEntries } from './retention.mjs'
import { fsyncPath, sha256File } from './sqlite.mjs'
import { importTs } from './ts.mjs'

/** After the time limit SIGTERM, then this long before SIGKILL. */
const KILL_GRACE_MS = 2000
const OUTPUT_TAIL = 300

/** @typedef {{ to: string, at: string, ok: boolean, error: string | null, durationMs: number }} CopyRecord */
/** @typedef {{ backupCopyTo: string | null, backupCopyCommand: readonly string[] | null, backupCopyTimeoutS: number }} CopySettings */

/** A setting as the bot reads it: the environment first, then .env. @param {import('./paths.mjs').Paths} paths @param {string} key */
function setting (paths, key) {
  const fromEnv = paths.env[key]
  return fromEnv !== undefined && fromEnv.trim() !== '' ? fromEnv : readDotEnv(path.join(paths.root, '.env'))[key]
}

/**
 * The copy settings: as the bot validated them (MISTER_TODO_COPY, set when the bot runs this), or
 * read from the environment and .env and validated by bot/config.ts's own rules.
 * @param {import('./paths.mjs').Paths} paths @returns {Promise<CopySettings>}
 */
export async function copySettings (paths) {
  const given = paths.env.MISTER_TODO_COPY
  if (given !== undefined && given.trim() !== '') return /** @type {CopySettings} */ (JSON.parse(given))
  const { copySettingsFrom } = /** @type {typeof import('../../bot/config.js')} */ (await importTs('bot/config.ts'))
  /** @type {Record<string, string | undefined>} */
  const env = {}
  for (const key of ['BACKUP_COPY_TO', 'BACKUP_COPY_COMMAND', 'BACKUP_COPY_TIMEOUT_S']) env[key] = setting(paths, key)
  const { settings, problems } = copySettingsFrom(env)
  if (settings === undefined) throw new OpsError('backup', `${problems.join('; ')}; nothing was written`, { hint: 'fix .env (see .env.example)' })
  // Relative to the data root, as DATABASE_FILE is.
  return { ...settings, backupCopyTo: env.BACKUP_COPY_TO === undefined || env.BACKUP_COPY_TO.trim() === '' ? null : path.resolve(paths.root, env.BACKUP_COPY_TO.trim()) }
}

/**
 * The owner, as the bot reads it: the first of ALLOWED_USER_IDS, or OWNER_USER_ID when the bot is
 * open to anyone (`*`); null when it is not set. @param {import('./paths.mjs').Paths} paths
 */
export function ownerIdFrom (paths) {
  const allowed = (setting(paths, 'ALLOWED_USER_IDS') ?? '').trim()
  const source = allowed === '*' ? setting(paths, 'OWNER_USER_ID') ?? '' : allowed
  const first = /^\s*(\d{1,16})\s*(,|$)/.exec(source)?.[1]
  return first === undefined ? null : Number(first)
}

/**
 * Copies a verified backup wherever the settings say, records each copy in its manifest, and
 * applies retention in the BACKUP_COPY_TO folder. A failed copy is reported, never thrown: the
 * local backup stands.
 * @param {string} file @param {import('./backups.mjs').Manifest} manifest @param {CopySettings} settings
 * @param {{ keep: number | null, pinned: Set<string>, say: import('./cli.mjs').Reporter, shownPath: (f: string) => string }} o
 * @returns {Promise<CopyRecord[]>}
 */
export async function copyBackup (file, manifest, settings, o) {
  /** @type {CopyRecord[]} */
  const records = []
  const manifestFile = manifestPathOf(file)
  if (settings.backupCopyTo !== null) {
    const r = await copyToFolder(file, manifestFile, manifest.sha256, settings.backupCopyTo)
    records.push(r)
    if (r.ok) {
      const entries = retentionEntries(settings.backupCopyTo)
      const plan = planRetention(entries, { keep: o.keep, pinned: o.pinned })
      for (const b of entries.filter((e) => e.origin === manifest.origin && plan.get(e.name)?.keep === false)) {
        fs.rmSync(manifestPathOf(b.file), { force: true })
        fs.rmSync(b.file, { force: true })
      }
    }
  }
  if (settings.backupCopyCommand !== null) records.push(await copyByCommand(settings.backupCopyCommand, file, manifestFile, settings.backupCopyTimeoutS))
  if (records.length === 0) return records
  writeManifest(file, { ...manifest, copies: [...(manifest.copies ?? []), ...records] })
  for (const r of records) {
    if (r.ok) o.say.ok('copy', `${o.shownPath(file).split('/').at(-1)} → ${r.to} (${(r.durationMs / 1000).toFixed(1)} s)`)
    else o.say.warn('copy', `${r.to} failed: ${r.error}; the local backup is kept`)
  }
  return records
}

/** @param {unknown} err */
function messageOf (err) {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Copies `file` and its manifest into `dir`. The folder must exist already: creating a missing
 * mount point would put the "off-machine" copy on this disk.
 * @param {string} file @param {string} manifestFile @param {string} sha256 @param {string} dir
 * @returns {Promise<CopyRecord>}
 */
export async function copyToFolder (file, manifestFile, sha256, dir) {
  const started = performance.now()
  const record = (/** @type {string | null} */ error) => ({ to: dir, at: new Date().toISOString(), ok: error === null, error, durationMs: Math.round(performance.now() - started) })
  const stat = fs.statSync(dir, { throwIfNoEntry: false })
  if (stat === undefined) return record(`${dir} does not exist (is the disk or share mounted?)`)
  if (!stat.isDirectory()) return record(`${dir} is not a folder`)
  const name = path.basename(file)
  const tmp = path.join(dir, `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}.sqlite`)
  try {
    fs.copyFileSync(file, tmp)
    fsyncPath(tmp)
    if (await sha256File(tmp) !== sha256) throw new Error('the copy does not match the backup\'s sha256')
    fs.renameSync(tmp, path.join(dir, name))
    const tmpManifest = `${tmp}.json`
    fs.copyFileSync(manifestFile, tmpManifest)
    fsyncPath(tmpManifest)
    fs.renameSync(tmpManifest, path.join(dir, path.basename(manifestFile)))
    fsyncPath(dir)
    return record(null)
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    fs.rmSync(`${tmp}.json`, { force: true })
    const code = /** @type {{ code?: string }} */ (err).code
    return record(`copying into ${dir} failed: ${code === undefined ? messageOf(err) : `${code} (${messageOf(err)})`}`)
  }
}

/**
 * Runs one command without a shell, in its own process group (killed whole at the limit).
 * @param {string[]} argv @param {number} timeoutMs @returns {Promise<string | null>} the problem, or null
 */
function runOnce (argv, timeoutMs) {
  const [program, ...args] = argv
  return new Promise((resolve) => {
    let output = ''
    let timedOut = false
    const child = spawn(program ?? '', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const keep = (/** @type {Buffer} */ d) => { output = (output + d.toString()).slice(-OUTPUT_TAIL) }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    const killGroup = (/** @type {NodeJS.Signals} */ signal) => {
      try { if (child.pid !== undefined) process.kill(-child.pid, signal) } catch { /* already gone */ }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup('SIGTERM')
      setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref()
    }, timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      const code = /** @type {{ code?: string }} */ (err).code
      resolve(code === 'ENOENT' ? `cannot run "${program}": not found (check BACKUP_COPY_COMMAND and PATH)` : `cannot run "${program}": ${messageOf(err)}`)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const last = output.trim().split('\n').at(-1)?.trim() ?? ''
      if (timedOut) resolve(`"${program}" did not finish within ${Math.round(timeoutMs / 1000)} s (BACKUP_COPY_TIMEOUT_S) and was stopped`)
      else if (code !== 0) resolve(`"${program}" ${signal === null ? `exited with ${code}` : `was killed by ${signal}`}${last === '' ? '' : `: ${last}`}`)
      else resolve(null)
    })
  })
}

/**
 * BACKUP_COPY_COMMAND for the backup, then for its manifest.
 * @param {readonly string[]} words @param {string} file @param {string} manifestFile @param {number} timeoutS
 * @returns {Promise<CopyRecord>}
 */
export async function copyByCommand (words, file, manifestFile, timeoutS) {
  const started = performance.now()
  const deadline = performance.now() + timeoutS * 1000
  let error = null
  for (const f of [file, manifestFile]) {
    error = await runOnce(commandFor(words, { file: f, name: path.basename(f) }), Math.max(1, deadline - performance.now()))
    if (error !== null) break
  }
  if (error !== null && error.includes('did not finish')) error = error.replace(/within \d+ s/, `within ${timeoutS} s`)
  return { to: `command ${words[0] ?? ''}`, at: new Date().toISOString(), ok: error === null, error, durationMs: Math.round(performance.now() - started) }
}
