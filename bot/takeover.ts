// What the incoming version does in the moment it holds the instance lock and the outgoing one has
// exited — the only time nothing writes the database: the steps ops asked for in a hand-over plan
// (storage/db/handover.json): put a backup in place (keeping the replaced database), take the
// snapshot a rollback restores, apply pending migrations. A plan is for one version and runs once:
// its result (handover-result.json) is what ops reads, and a crash restart does not repeat it.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import { openDatabase, type Database } from './db.js'
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

function writeDurably (file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  const fd = fs.openSync(tmp, 'w', 0o600)
  try {
    fs.writeSync(fd, text)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
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
 * Carries out `plan` on `databaseFile` (the caller holds the instance lock). A migration that
 * throws puts the snapshot back, so the database is exactly as the outgoing version left it.
 */
export async function carryOutPlan (plan: HandoverPlan, databaseFile: string, logger: Logger): Promise<HandoverResult> {
  const steps: HandoverResult['steps'] = []
  const timed = async (name: string, fn: () => Promise<string> | string): Promise<void> => {
    const started = performance.now()
    const detail = await fn()
    steps.push({ name, ms: Math.round(performance.now() - started), detail })
  }
  let counts: HandoverResult['counts']
  const result = (ok: boolean, error: string | null): HandoverResult => ({ id: plan.id, pid: process.pid, ok, steps, error, at: new Date().toISOString(), ...(counts === undefined ? {} : { counts }) })
  try {
    checkpoint(databaseFile)
    if (plan.restore !== undefined) {
      const { from, keepAs } = plan.restore
      await timed('restore', () => {
        if (!fs.existsSync(from)) throw new AppError('ETAKEOVER', `the backup to restore is gone: ${from}`)
        if (fs.existsSync(databaseFile)) fs.renameSync(databaseFile, keepAs)
        removeSidecars(databaseFile)
        copyWhole(from, databaseFile)
        return `${path.basename(from)} put in place; the replaced database kept as ${path.basename(keepAs)}`
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
        const db = openDatabase(databaseFile, { migrationsDir })
        try {
          for (const name of names) await db.migrate.down({ name })
          return `undid ${names.join(', ')}`
        } catch (err) {
          await db.destroy()
          if (plan.snapshot !== undefined) {
            removeSidecars(databaseFile)
            copyWhole(plan.snapshot, databaseFile)
          }
          throw new AppError('ETAKEOVER_UNDO', `undoing a migration failed${plan.snapshot === undefined ? '' : ' (the snapshot was put back)'}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
        } finally {
          await db.destroy().catch(() => {})
        }
      })
    }
    if (plan.migrate === true) {
      await timed('migrate', async () => {
        const db = openDatabase(databaseFile)
        try {
          const before = await rowCounts(db)
          const [, ran] = await db.migrate.latest() as [number, string[]]
          counts = { before, after: await rowCounts(db) }
          return ran.length === 0 ? 'nothing pending' : `applied ${ran.join(', ')}`
        } catch (err) {
          await db.destroy()
          if (plan.snapshot !== undefined) {
            removeSidecars(databaseFile)
            copyWhole(plan.snapshot, databaseFile)
          }
          throw new AppError('ETAKEOVER_MIGRATE', `a migration failed on the live database${plan.snapshot === undefined ? '' : ' (the snapshot was put back)'}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
        } finally {
          await db.destroy().catch(() => {})
        }
      })
    }
  } catch (err) {
    const failed = result(false, err instanceof Error ? err.message : String(err))
    writeDurably(resultFileFor(databaseFile), JSON.stringify(failed) + '\n')
    logger.error({ err, plan: plan.id }, 'take-over plan failed')
    throw err
  }
  const done = result(true, null)
  writeDurably(resultFileFor(databaseFile), JSON.stringify(done) + '\n')
  logger.info({ plan: plan.id, steps }, 'take-over plan carried out')
  return done
}

async function rowCounts (db: Database): Promise<Record<string, number>> {
  const tables = await db.raw("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name") as Array<{ name: string }>
  const counts: Record<string, number> = {}
  for (const { name } of tables) {
    const rows = await db.raw(`select count(*) as n from "${name.replaceAll('"', '""')}"`) as Array<{ n: number }>
    counts[name] = Number(rows[0]?.n ?? 0)
  }
  return counts
}

/** Written once the bot serves: which process, version and health port (HEALTH_PORT may be 0). */
export type ServingRecord = { pid: number, version: string, healthPort: number, since: string }

export function servingFileFor (databaseFile: string): string {
  return path.join(path.dirname(databaseFile), 'serving.json')
}

export function recordServing (databaseFile: string, record: ServingRecord): void {
  writeDurably(servingFileFor(databaseFile), JSON.stringify(record) + '\n')
}
