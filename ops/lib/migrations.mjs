// @ts-check
// Knex for the ops scripts: opens a database with the project's knexfile.ts (pragmas and all) and a
// chosen migrations folder, reports the schema status, and reads what migrations declare about data.
import fs from 'node:fs'
import path from 'node:path'
import { formatCount } from './format.mjs'
import { importTs } from './ts.mjs'

/** @typedef {import('knex').Knex} Knex */
/** @typedef {import('../../bot/db.js').SchemaStatus} SchemaStatus */
/** 'may-decrease' accepts any loss (even the table's removal); a number is the exact change in rows. */
/** @typedef {Record<string, 'may-decrease' | number>} DataChange */

/**
 * @param {string} databaseFile @param {string} migrationsDir
 * @param {{ readonly?: boolean }} [options] readonly: for questions only, never creates the file
 * @returns {Promise<Knex>}
 */
export async function openKnex (databaseFile, migrationsDir, options = {}) {
  // knexfile.ts builds a default config (and its folder) from DATABASE_FILE as it is imported: point
  // that at the file we open, only for the import, so it never creates folders elsewhere.
  const previous = process.env.DATABASE_FILE
  process.env.DATABASE_FILE = databaseFile
  let knexfile
  try {
    knexfile = /** @type {typeof import('../../knexfile.js')} */ (await importTs('knexfile.ts'))
  } finally {
    if (previous === undefined) delete process.env.DATABASE_FILE
    else process.env.DATABASE_FILE = previous
  }
  const { knexConfig } = knexfile
  if (options.readonly !== true) {
    // As the bot does: a database this creates is owner-only from its first byte.
    const { makeOwnerOnly } = /** @type {typeof import('../../bot/db.js')} */ (await importTs('bot/db.ts'))
    fs.mkdirSync(path.dirname(databaseFile), { recursive: true, mode: 0o700 })
    makeOwnerOnly(databaseFile)
  }
  const { default: knexFactory } = await import('knex')
  return knexFactory(knexConfig(databaseFile, { migrationsDir, readonly: options.readonly === true }))
}

/** @param {Knex} knex @param {string} migrationsDir @returns {Promise<SchemaStatus>} */
export async function schemaStatusOf (knex, migrationsDir) {
  const { schemaStatus } = /** @type {typeof import('../../bot/db.js')} */ (await importTs('bot/db.ts'))
  return schemaStatus(knex, migrationsDir)
}

/**
 * Takes back into knex_migrations the migrations a rollback left applied that these files have
 * (bot/kept-migrations.ts): Knex then counts them as applied instead of running them again.
 * @param {Knex} knex @param {string} migrationsDir @returns {Promise<string[]>} the names taken back
 */
export async function reinstateKeptOf (knex, migrationsDir) {
  const { reinstateKept } = /** @type {typeof import('../../bot/kept-migrations.js')} */ (await importTs('bot/kept-migrations.ts'))
  const { migrationFiles } = /** @type {typeof import('../../bot/migration-source.js')} */ (await importTs('bot/migration-source.ts'))
  return reinstateKept(knex, migrationFiles(migrationsDir))
}

/** Names of the migrations in the newest batch, oldest first. @param {Knex} knex @returns {Promise<string[]>} */
export async function lastBatch (knex) {
  if (!await knex.schema.hasTable('knex_migrations')) return []
  const top = await knex('knex_migrations').max({ batch: 'batch' }).first()
  if (top?.batch === null || top?.batch === undefined) return []
  const rows = await knex('knex_migrations').where({ batch: top.batch }).orderBy('id').select('name')
  return rows.map((/** @type {{ name: string }} */ r) => r.name)
}

/**
 * Undoes, newest first, the applied migrations that `keep` (the target commit's migration files)
 * does not have, using their `down` from `migrationsDir` (the code still on disk). Stops at the
 * first applied migration the target has. Used by rollback --keep-data: only the reverted
 * deploy's schema changes are undone, every row stays.
 * @param {string} databaseFile @param {string} migrationsDir @param {string[]} keep
 * @returns {Promise<string[]>} the names undone, in the order they were undone
 */
export async function undoMigrationsNotIn (databaseFile, migrationsDir, keep) {
  const wanted = new Set(keep)
  const knex = await openKnex(databaseFile, migrationsDir)
  try {
    /** @type {string[]} */
    const undone = []
    if (!await knex.schema.hasTable('knex_migrations')) return undone
    for (;;) {
      const newest = await knex('knex_migrations').orderBy('id', 'desc').first('name')
      if (newest === undefined || wanted.has(newest.name)) return undone
      if (!fs.existsSync(path.join(migrationsDir, newest.name))) throw new Error(`${newest.name} is applied but its file is not on disk, so it cannot be undone`)
      await knex.migrate.down({ name: newest.name })
      undone.push(newest.name)
    }
  } finally {
    await knex.destroy()
  }
}

/**
 * Does this migration file declare `export const additive = true`: the code before it runs on the
 * schema after it (a new nullable column, table or index)? Read from its text, not run. A rollback
 * keeping the data leaves such a migration applied (bot/kept-migrations.ts).
 * @param {string} file @returns {boolean}
 */
export function declaresAdditive (file) {
  try {
    return /^export const additive\s*=\s*true\b/m.test(fs.readFileSync(file, 'utf8'))
  } catch {
    return false
  }
}

/**
 * The data changes the given migrations declare with `export const dataChange = { tasks: -5 }` or
 * `{ tasks: 'may-decrease' }`; numbers for one table add up, 'may-decrease' wins.
 * @param {string} migrationsDir @param {string[]} names @returns {Promise<DataChange>}
 */
export async function declaredDataChange (migrationsDir, names) {
  /** @type {DataChange} */
  const total = {}
  for (const name of names) {
    const file = path.join(migrationsDir, name)
    if (!fs.existsSync(file)) continue
    const mod = /** @type {{ dataChange?: Record<string, unknown> }} */ (await importTs(file))
    for (const [table, change] of Object.entries(mod.dataChange ?? {})) {
      const previous = total[table]
      if (change === 'may-decrease' || previous === 'may-decrease') total[table] = 'may-decrease'
      else if (typeof change === 'number' && Number.isInteger(change)) total[table] = (previous ?? 0) + change
      else throw new Error(`${name}: dataChange.${table} must be 'may-decrease' or a whole number, not ${JSON.stringify(change)}`)
    }
  }
  return total
}

/**
 * Tables whose rows changed in a way no migration declared: a loss without 'may-decrease', or a
 * count that misses its declared exact change. knex's own tables are not data.
 * @param {Record<string, number>} before @param {Record<string, number>} after @param {DataChange} declared
 * @returns {string[]} one sentence per problem
 */
export function undeclaredChanges (before, after, declared) {
  const problems = []
  const tables = [...new Set([...Object.keys(before), ...Object.keys(declared)])].filter((t) => !t.startsWith('knex_')).sort()
  for (const table of tables) {
    const was = before[table] ?? 0
    const now = after[table] ?? 0
    const expected = declared[table]
    if (expected === 'may-decrease') continue
    if (typeof expected === 'number') {
      if (now - was !== expected) problems.push(`${table} changed by ${formatCount(now - was)} rows (${formatCount(was)} → ${formatCount(now)}) but the migrations declare ${expected}`)
    } else if (now < was) {
      problems.push(`${table} lost ${formatCount(was - now)} rows (${formatCount(was)} → ${formatCount(now)})${after[table] === undefined ? ' because it was dropped' : ''} and no migration declares it`)
    }
  }
  return problems
}
