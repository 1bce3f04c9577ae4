// What the incoming version does in the moment it holds the instance lock and the outgoing one has
// exited — the only time nothing writes the database: the steps ops asked for in a hand-over plan
// (storage/db/handover.json): put a backup in place (keeping the replaced database), take the
// snapshot a rollback restores, undo migrations or leave additive ones applied (a rollback), apply
// pending migrations. A plan is for one version and runs once:
// its result (handover-result.json) is what ops reads, and a crash restart does not repeat it.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import type { DatabaseTarget } from './config.js'
import { engineOf, openDatabase, type Database } from './db.js'
import { MIGRATIONS_DIR } from '../knexfile.js'
import { keepApplied, reinstateKept } from './kept-migrations.js'
import { carryHandledIds } from './updates/carry-handled.js'
import { migrationFiles } from './migration-source.js'
import { AppError } from './errors.js'
import type { Logger } from './logger.js'

export type HandoverPlan = {
  id: string
  /** The commit this plan is for; any other version ignores it. */
  version: string
  /** Replace the database with this verified backup; the replaced one is kept as `keepAs`. */
  restore?: { from: string, keepAs: string }
  /** A copy of the database as the outgoing version left it, taken before any migration. */
  snapshot?: string
  /** Apply pending migrations (rehearsed by ops on a copy before the hand-over). */
  migrate?: boolean
  /** Undo these applied migrations, newest first, with the files of a newer release that has them. */
  undo?: { migrationsDir: string, names: string[] }
  /** Leave these applied migrations in place, moved out of knex_migrations (bot/kept-migrations.ts). */
  keep?: { names: string[] }
}

export type HandoverResult = {
  id: string
  pid: number
  ok: boolean
  steps: Array<{ name: string, ms: number, detail: string }>
  error: string | null
  at: string
  /** Rows per table just before and just after the migrations (nothing else wrote in between). */
  counts?: { before: Record<string, number>, after: Record<string, number> }
}

export function planFileFor (databaseFile: string): string {
  return path.join(path.dirname(databaseFile), 'handover.json')
}

export function resultFileFor (databaseFile: string): string {
  return path.join(path.dirname(databaseFile), 'handover-result.json')
}

function readJson<T> (file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T
  } catch {
    return null
  }
}

/** The plan waiting for this version, or null (none, another version's, or already carried out). */
export function pendingPlan (databaseFile: string, version: string): HandoverPlan | null {
  const plan = readJson<HandoverPlan>(planFileFor(databaseFile))
  if (plan === null || plan.version !== version) return null
  const result = readJson<HandoverResult>(resultFileFor(databaseFile))
  return result?.id === plan.id ? null : plan
}

/** Through a temp name, fsynced, renamed: `file` is either the old text or the whole new one. */
async function writeDurably (file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  const handle = await fs.promises.open(tmp, 'w', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await fs.promises.rename(tmp, file)
}

/** Folds the WAL into the main file so that the file alone is the whole database. */
function checkpoint (file: string): void {
  if (!fs.existsSync(file)) return
  const db = new Sqlite(file, { timeout: 5000 })
  try {
    db.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    db.close()
  }
}

/** Copies through a temp name and renames, so `to` is either absent or whole. */
function copyWhole (from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 })
  const tmp = `${to}.${crypto.randomBytes(3).toString('hex')}.tmp`
  fs.copyFileSync(from, tmp)
  fs.chmodSync(tmp, 0o600)
  fs.renameSync(tmp, to)
}

function removeSidecars (file: string): void {
  for (const f of [`${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true })
}

/**
 * Carries out `plan` on the database (the caller holds the instance lock). A migration that
 * throws puts the database back as the outgoing version left it: on SQLite the snapshot is copied
 * back; on PostgreSQL each migration ran in its own transaction, so the one that threw left nothing
 * and the ones of the batch before it are undone with their own `down`. `databaseFile`: on
 * PostgreSQL only its folder counts (the plan and result files live there).
 */
export async function carryOutPlan (plan: HandoverPlan, database: DatabaseTarget, databaseFile: string, logger: Logger): Promise<HandoverResult> {
  const steps: HandoverResult['steps'] = []
  const timed = async (name: string, fn: () => Promise<string> | string): Promise<void> => {
    const started = performance.now()
    const detail = await fn()
    steps.push({ name, ms: Math.round(performance.now() - started), detail })
  }
  let counts: HandoverResult['counts']
  const result = (ok: boolean, error: string | null): HandoverResult => ({ id: plan.id, pid: process.pid, ok, steps, error, at: new Date().toISOString(), ...(counts === undefined ? {} : { counts }) })
  const sqlite = database.engine === 'sqlite'
  /** On SQLite, the snapshot copied back over the live file; nothing on PostgreSQL (see above). */
  const putSnapshotBack = (): boolean => {
    if (!sqlite || plan.snapshot === undefined) return false
    removeSidecars(databaseFile)
    copyWhole(plan.snapshot, databaseFile)
    return true
  }
  try {
    if (!sqlite && (plan.restore !== undefined || plan.snapshot !== undefined)) {
      // ops plans these only for SQLite (a file copy while nothing writes); on PostgreSQL the
      // deploy's verified pg_dump is the restore point and ops/restore.mjs puts one back.
      throw new AppError('ETAKEOVER', 'this plan copies database files, which is for SQLite; on PostgreSQL a backup is put back with ops/restore.mjs')
    }
    if (sqlite) checkpoint(databaseFile)
    if (plan.restore !== undefined) {
      const { from, keepAs } = plan.restore
      await timed('restore', () => {
        if (!fs.existsSync(from)) throw new AppError('ETAKEOVER', `the backup to restore is gone: ${from}`)
        const replacing = fs.existsSync(databaseFile)
        if (replacing) fs.renameSync(databaseFile, keepAs)
        removeSidecars(databaseFile)
        copyWhole(from, databaseFile)
        const carried = replacing ? carryHandledIds(keepAs, databaseFile) : 0
        return `${path.basename(from)} put in place; the replaced database kept as ${path.basename(keepAs)}${carried > 0 ? `; ${carried} update id(s) handled since the backup carried over` : ''}`
      })
    }
    if (plan.snapshot !== undefined) {
      const snapshot = plan.snapshot
      await timed('snapshot', () => {
        copyWhole(databaseFile, snapshot)
        return path.basename(snapshot)
      })
    }
    if (plan.undo !== undefined && plan.undo.names.length > 0) {
      const { migrationsDir, names } = plan.undo
      await timed('undo', async () => {
        const db = openDatabase(database, { migrationsDir })
        try {
          for (const name of names) await db.migrate.down({ name })
          return `undid ${names.join(', ')}`
        } catch (err) {
          await db.destroy()
          const back = putSnapshotBack()
          throw new AppError('ETAKEOVER_UNDO', `undoing a migration failed${back ? ' (the snapshot was put back)' : ''}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
        } finally {
          await db.destroy().catch(() => {})
        }
      })
    }
    const keep = plan.keep?.names ?? []
    if (keep.length > 0) {
      await timed('keep', async () => {
        const db = openDatabase(database)
        try {
          await keepApplied(db, keep, plan.version)
          return `left applied: ${keep.join(', ')}`
        } catch (err) {
          // Its own transaction left nothing; an undo before it is taken back with the snapshot.
          await db.destroy()
          const back = (plan.undo?.names.length ?? 0) > 0 && putSnapshotBack()
          throw new AppError('ETAKEOVER_KEEP', `leaving migrations applied failed${back ? ' (the snapshot was put back)' : ''}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
        } finally {
          await db.destroy().catch(() => {})
        }
      })
    }
    if (plan.migrate === true) {
      await timed('migrate', async () => {
        const db = openDatabase(database)
        let appliedBefore: string[] = []
        let takenBack: string[] = []
        try {
          // Kept by an earlier rollback and applied all along: counted as applied again, not re-run.
          takenBack = await reinstateKept(db, migrationFiles(MIGRATIONS_DIR))
          appliedBefore = await appliedNames(db)
          const before = await rowCounts(db)
          const [, ran] = await db.migrate.latest() as [number, string[]]
          counts = { before, after: await rowCounts(db) }
          const back = takenBack.length === 0 ? '' : `; taken back (left applied by a rollback): ${takenBack.join(', ')}`
          return `${ran.length === 0 ? 'nothing pending' : `applied ${ran.join(', ')}`}${back}`
        } catch (err) {
          let how = ''
          if (sqlite) {
            await db.destroy()
            how = putSnapshotBack() ? ' (the snapshot was put back)' : ''
          } else {
            how = await undoPartialBatch(db, appliedBefore)
          }
          throw new AppError('ETAKEOVER_MIGRATE', `a migration failed on the live database${how}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
        } finally {
          await db.destroy().catch(() => {})
        }
      })
    }
  } catch (err) {
    const failed = result(false, err instanceof Error ? err.message : String(err))
    await writeDurably(resultFileFor(databaseFile), JSON.stringify(failed) + '\n')
    logger.error({ err, plan: plan.id }, 'take-over plan failed')
    throw err
  }
  const done = result(true, null)
  await writeDurably(resultFileFor(databaseFile), JSON.stringify(done) + '\n')
  logger.info({ plan: plan.id, steps }, 'take-over plan carried out')
  return done
}

async function appliedNames (db: Database): Promise<string[]> {
  const [done] = await db.migrate.list() as [Array<{ name?: string, file?: string } | string>, unknown[]]
  return done.map((m) => typeof m === 'string' ? m : m.name ?? m.file ?? '')
}

/**
 * PostgreSQL: the migration that threw was rolled back by its transaction; the ones of this batch
 * that committed before it are undone, newest first, so the schema is the outgoing version's.
 */
async function undoPartialBatch (db: Database, appliedBefore: string[]): Promise<string> {
  try {
    const before = new Set(appliedBefore)
    const committed = (await appliedNames(db)).filter((n) => !before.has(n)).reverse()
    for (const name of committed) await db.migrate.down({ name })
    return committed.length === 0 ? ' (rolled back by its transaction)' : ` (rolled back by its transaction; ${committed.join(', ')} of the same batch undone)`
  } catch (err) {
    return ` (and undoing the rest of its batch failed: ${err instanceof Error ? err.message : String(err)})`
  }
}

async function rowCounts (db: Database): Promise<Record<string, number>> {
  const tables = engineOf(db) === 'postgres'
    ? (await db.raw("select tablename as name from pg_tables where schemaname = current_schema() order by tablename") as { rows: Array<{ name: string }> }).rows
    : await db.raw("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name") as Array<{ name: string }>
  const counts: Record<string, number> = {}
  for (const { name } of tables) {
    const rows = await db(name).count({ n: '*' }) as Array<{ n: number | string }>
    counts[name] = Number(rows[0]?.n ?? 0)
  }
  return counts
}

/** Written once the bot serves: which process, version and health port (HEALTH_PORT may be 0). */
export type ServingRecord = { pid: number, version: string, healthPort: number, since: string }

export function servingFileFor (databaseFile: string): string {
  return path.join(path.dirname(databaseFile), 'serving.json')
}

export async function recordServing (databaseFile: string, record: ServingRecord): Promise<void> {
  await writeDurably(servingFileFor(databaseFile), JSON.stringify(record) + '\n')
}
