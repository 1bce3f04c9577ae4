// Opens the database through Knex — SQLite (pragmas come from knexfile.ts) or PostgreSQL (a
// DATABASE_URL) — and answers one question before the bot may touch it: is the schema exactly
// what this code expects?
import fs from 'node:fs'
import path from 'node:path'
import knexFactory, { type Knex } from 'knex'
import { knexConfigFor, MIGRATIONS_DIR } from '../knexfile.js'
import type { DatabaseTarget } from './config.js'
import { explainConnectionError } from './db-postgres.js'
import { AppError } from './errors.js'
import { migrationFiles } from './migration-source.js'

export type Database = Knex
export type Engine = DatabaseTarget['engine']

export type SchemaStatus = {
  applied: string[]
  pending: string[]
  /** Recorded in the database but absent from this code: the database is newer than the code. */
  unknown: string[]
  head: string | null
}

const targets = new WeakMap<Database, DatabaseTarget>()

/** A SQLite file (a path) or either engine's target (config.database). */
export function openDatabase (where: string | DatabaseTarget, options: { readonly?: boolean, migrationsDir?: string, poolMax?: number, checkpoints?: 'external' } = {}): Database {
  const target: DatabaseTarget = typeof where === 'string' ? { engine: 'sqlite', file: where } : where
  if (target.engine === 'sqlite' && options.readonly !== true) {
    fs.mkdirSync(path.dirname(target.file), { recursive: true, mode: 0o700 })
    makeOwnerOnly(target.file)
  }
  const db = knexFactory(knexConfigFor(target, options))
  targets.set(db, target)
  return db
}

export function engineOf (db: Database): Engine {
  return db.client.config.client === 'pg' ? 'postgres' : 'sqlite'
}

/** Runs `work`; a failure to reach a PostgreSQL database comes out as one line naming DATABASE_URL and the fix. */
async function explained<T> (db: Database, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    const target = targets.get(db)
    throw target?.engine === 'postgres' ? explainConnectionError(err, target) : err
  }
}

/**
 * Creates the file owner-only when it is missing, and tightens it (and the -wal, -shm or -journal
 * beside it) when group or others could read it. SQLite gives the files it adds later the mode of
 * the main file, so tasks never become readable by other users.
 */
export function makeOwnerOnly (file: string): void {
  if (file === ':memory:' || file === '') return
  fs.closeSync(fs.openSync(file, 'a', 0o600))
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    const stat = fs.statSync(f, { throwIfNoEntry: false })
    if (stat !== undefined && (stat.mode & 0o077) !== 0) fs.chmodSync(f, stat.mode & 0o700)
  }
}

export async function schemaStatus (db: Database, migrationsDir = MIGRATIONS_DIR): Promise<SchemaStatus> {
  return await explained(db, () => readSchemaStatus(db, migrationsDir))
}

async function readSchemaStatus (db: Database, migrationsDir: string): Promise<SchemaStatus> {
  const files = migrationFiles(migrationsDir)
  const hasTable = await db.schema.hasTable('knex_migrations')
  const applied = hasTable
    ? (await db('knex_migrations').select('name').orderBy('id')).map((r: { name: string }) => r.name)
    : []
  const appliedSet = new Set(applied)
  const fileSet = new Set(files)
  return {
    applied,
    pending: files.filter((f) => !appliedSet.has(f)),
    unknown: applied.filter((n) => !fileSet.has(n)),
    head: applied.at(-1) ?? null,
  }
}

async function isEmpty (db: Database): Promise<boolean> {
  if (engineOf(db) === 'postgres') {
    const row = await db('information_schema.tables').where('table_schema', db.raw('current_schema()')).count({ n: '*' }).first() as { n: number }
    return Number(row.n) === 0
  }
  const rows = await db.raw("select count(*) as n from sqlite_master where type = 'table' and name not like 'sqlite_%'")
  return Number((rows as Array<{ n: number }>)[0]?.n ?? 0) === 0
}

/**
 * A new, empty database is migrated here; an existing one with pending migrations is refused,
 * because changing live data is the deploy's job (it backs up and rehearses first).
 */
export async function ensureSchemaCurrent (db: Database): Promise<SchemaStatus> {
  let status = await schemaStatus(db)
  if (status.unknown.length > 0) {
    throw new AppError('ESCHEMA_NEWER', `the database has migrations this code does not know: ${status.unknown.join(', ')}. It was migrated by a newer version: deploy that version, or roll back with npx zx ops/rollback.mjs`)
  }
  if (status.pending.length > 0) {
    if (status.applied.length === 0 && await isEmpty(db)) {
      await db.migrate.latest()
      status = await schemaStatus(db)
    } else {
      throw new AppError('ESCHEMA_PENDING', `the database needs ${status.pending.length} migration(s): ${status.pending.join(', ')}. Run: npx zx ops/migrate.mjs latest (it backs up first)`)
    }
  }
  return status
}

/** PRAGMA quick_check, as health and ops read it: 'ok' or the first problem. PostgreSQL checks
 * its own pages; there the question is whether the server answers. */
export async function quickCheck (db: Database): Promise<string> {
  if (engineOf(db) === 'postgres') {
    const rows = await db.raw('select 1 as ok') as { rows: Array<{ ok: number }> }
    return rows.rows[0]?.ok === 1 ? 'ok' : 'no answer'
  }
  const rows = await db.raw('PRAGMA quick_check') as Array<{ quick_check: string }>
  return rows[0]?.quick_check ?? 'no answer'
}
