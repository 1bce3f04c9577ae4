// @ts-check
// Backup and restore on PostgreSQL, with the same names, manifests and modes as on SQLite:
// storage/backups/todo_<UTC>.pgdump (pg_dump --format=custom) beside todo_<UTC>.pgdump.json.
// A backup counts its rows in the very snapshot pg_dump reads (an exported snapshot), restores the
// dump into a scratch database and compares; only a dump that restores with the same rows is
// kept. A restore goes into a new database, is compared with the manifest, and is swapped in by
// rename while the bot is stopped; the replaced database stays on the server, renamed
// <name>_pre_restore_<UTC>, and is dumped first like every _pre-restore backup.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { ensurePrivateDir, manifestPathOf, publishUnder, removeStaleTemps, stampOf, writeManifest } from '../backups.mjs'
import { OpsError } from '../cli.mjs'
import { shown } from '../paths.mjs'
import { urlWithDatabase } from './postgres.mjs'
import { fsyncPath, sha256File } from '../sqlite.mjs'

/** @typedef {import('./postgres.mjs').PostgresStorage} PostgresStorage */
/** @typedef {import('../backups.mjs').Manifest} Manifest */

/** @param {Record<string, number>} a @param {Record<string, number>} b */
function sameCounts (a, b) {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k])
}

/** @param {string} live @param {string} what @param {Date} date a database name under 63 bytes */
const sideName = (live, what, date) => `${live.slice(0, 30)}_${what}_${stampOf(date).replaceAll('-', '')}`.slice(0, 63)

/**
 * Dumps, verifies by a scratch restore, and publishes a backup with its manifest.
 * @param {import('../paths.mjs').Paths} paths @param {PostgresStorage} storage
 * @param {import('../backups.mjs').BackupKind} kind @param {'schedule' | 'command'} origin @param {Date} date
 * @param {number | null} ownerId
 * @returns {Promise<{ file: string, manifest: Manifest }>}
 */
export async function writePostgresBackup (paths, storage, kind, origin, date, ownerId) {
  ensurePrivateDir(paths.backupsDir)
  removeStaleTemps(paths.backupsDir)
  const tmp = path.join(paths.backupsDir, `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}.pgdump`)
  const started = performance.now()
  const scratch = sideName(storage.live, 'verify', date) + `_${process.pid}`
  const knex = await storage.openKnex()
  /** @type {Record<string, number>} */
  const counts = {}
  let head = null
  let openTasks = null
  try {
    // Count in the snapshot pg_dump will read: the manifest's rows are exactly the dump's.
    await knex.transaction(async (trx) => {
      await trx.raw('set transaction isolation level repeatable read, read only')
      const snapshot = String((await trx.raw('select pg_export_snapshot() as s')).rows[0]?.s)
      const tables = /** @type {string[]} */ (await trx('information_schema.tables').where({ table_schema: trx.raw('current_schema()'), table_type: 'BASE TABLE' }).orderBy('table_name').pluck('table_name'))
      for (const table of tables) counts[table] = Number((await trx(table).count({ n: '*' }).first())?.n ?? 0)
      if (tables.includes('knex_migrations')) head = (await trx('knex_migrations').orderBy('id', 'desc').first('name'))?.name ?? null
      if (ownerId !== null && tables.includes('tasks')) openTasks = Number((await trx('tasks').where({ chat_id: ownerId }).whereNull('deleted_at').whereNull('done_at').count({ n: '*' }).first())?.n ?? 0)
      await storage.dump(tmp, snapshot)
    })
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    throw new OpsError('backup', `pg_dump of ${storage.shown} failed: ${messageOf(err)}; nothing was kept`, { hint: 'check that pg_dump is as new as the server (PG_BIN) and that DATABASE_URL\'s role may read every table', cause: err })
  } finally {
    await knex.destroy()
  }
  /** @type {string | null} */
  let file = null
  try {
    let verified = false
    let integrity = ''
    try {
      await storage.restoreInto(tmp, scratch)
      const restored = await storage.inspect(scratch)
      verified = sameCounts(restored.counts, counts)
      integrity = verified ? 'ok' : 'the restored copy has other row counts than the live database at dump time'
    } catch (err) {
      integrity = `it does not restore: ${messageOf(err)}`
    } finally {
      await storage.drop(scratch).catch(() => {})
    }
    if (!verified && kind === 'backup') throw new OpsError('backup', `the dump of ${storage.shown} does not verify (${integrity}); nothing was kept`, { hint: 'npx zx ops/backup.mjs again' })
    fsyncPath(tmp)
    /** @type {Manifest} */
    const manifest = {
      file: '',
      kind,
      createdAt: date.toISOString(),
      source: storage.shown,
      size: fs.statSync(tmp).size,
      sha256: await sha256File(tmp),
      integrity: verified ? 'ok' : integrity,
      verified,
      counts,
      migrationHead: head,
      gitCommit: null,
      durationMs: Math.round(performance.now() - started),
      origin,
      owner: ownerId === null || openTasks === null ? null : { chatId: ownerId, openTasks },
    }
    file = publishUnder(tmp, paths.backupsDir, date, kind, 'pgdump')
    manifest.file = path.basename(file)
    writeManifest(file, manifest)
    fsyncPath(paths.backupsDir)
    return { file, manifest }
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    if (file !== null) {
      fs.rmSync(manifestPathOf(file), { force: true })
      fs.rmSync(file, { force: true })
    }
    throw err
  }
}

/**
 * Restores a verified dump into a new database, checks its rows against the manifest, then swaps
 * it in; the replaced database is kept, renamed. The bot must be stopped (no session may be open).
 * @param {import('../paths.mjs').Paths} paths @param {PostgresStorage} storage @param {string} file
 * @param {Record<string, number>} counts the manifest's @param {Date} date
 * @param {(text: string) => void} update progress
 * @returns {Promise<{ after: Record<string, number>, keptAs: string | null, carried: number }>}
 */
export async function restorePostgres (paths, storage, file, counts, date, update) {
  const open = await storage.sessions(storage.live)
  if (open.length > 0) {
    throw new OpsError('restore', `${open.length} session(s) still use ${storage.live} (${[...new Set(open.map((s) => s.application_name || 'unnamed'))].join(', ')}); a restore must not swap the database under them`, { hint: 'stop the bot (npm stop) and other clients, then run this again' })
  }
  const incoming = sideName(storage.live, 'restore', date)
  update(`restoring ${path.basename(file)} into a new database ${incoming}`)
  try {
    await storage.restoreInto(file, incoming)
  } catch (err) {
    throw new OpsError('restore', `${shown(paths, file)} does not restore: ${messageOf(err)}; ${storage.live} was not touched`, { hint: 'npx zx ops/backup.mjs --list', cause: err })
  }
  const restored = await storage.inspect(incoming)
  if (!sameCounts(restored.counts, counts)) {
    await storage.drop(incoming)
    throw new OpsError('restore', `the restored copy of ${path.basename(file)} has other row counts than its manifest; ${storage.live} was not touched`, { hint: 'npx zx ops/backup.mjs --list' })
  }
  const keptAs = await storage.exists() ? sideName(storage.live, 'pre_restore', date) : null
  const carried = keptAs === null ? 0 : await carryHandledIds(storage, storage.live, incoming)
  update(`swapping ${incoming} in as ${storage.live}`)
  if (keptAs === null) {
    await storage.swapInto(incoming)
  } else {
    await storage.swap(incoming, keptAs)
  }
  const after = carried === 0 ? restored.counts : { ...restored.counts, handled_updates: (restored.counts.handled_updates ?? 0) + carried }
  return { after, keptAs, carried }
}

/**
 * The ids (not the changes) of the updates `from` handled after the newest one `into` knows, put
 * into `into`: the stopped bot answered them, and Telegram sends its last batch again (as
 * bot/updates/carry-handled.ts does for SQLite).
 * @param {import('./postgres.mjs').PostgresStorage} storage @param {string} from @param {string} into
 */
async function carryHandledIds (storage, from, into) {
  const source = await storage.openKnex(undefined, urlWithDatabase(storage.target.url, from))
  const target = await storage.openKnex(undefined, urlWithDatabase(storage.target.url, into))
  try {
    if (!await source.schema.hasTable('handled_updates') || !await target.schema.hasTable('handled_updates')) return 0
    const newest = Number((await target('handled_updates').max({ n: 'update_id' }).first())?.n ?? 0)
    const rows = await source('handled_updates').where('update_id', '>', newest).select('update_id', 'handled_at')
    if (rows.length > 0) await target('handled_updates').insert(rows).onConflict('update_id').ignore()
    return rows.length
  } finally {
    await source.destroy()
    await target.destroy()
  }
}

/** @param {unknown} err */
function messageOf (err) {
  const text = err instanceof Error ? err.message : String(err)
  const stderr = /** @type {{ stderr?: string }} */ (err)?.stderr
  return (typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim().split('\n')[0] ?? text : text).replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1xxxxx@')
}
