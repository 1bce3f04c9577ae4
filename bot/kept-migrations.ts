// Migrations a rollback keeping the data left applied (expand/contract): a migration that declares
// `export const additive = true` (a new nullable column, table or index) changes nothing the code
// before it reads, so a rollback need not undo it. Undoing one in the hand-over would cost the
// `down`'s own time while nobody is served (rebuilding a 100 MB table took 3.8 s) and would drop
// what the newer version wrote in it.
// Such a migration is moved from knex_migrations to knex_migrations_kept at the take-over: to the
// older code, any release before this too, the schema is exactly its own. The next version that
// has the file takes it back (reinstateKept) instead of running it again: its data is still there.
import type { Knex } from 'knex'

export const KEPT_TABLE = 'knex_migrations_kept'

/** Moves `names` (applied) out of knex_migrations, recording who kept them. */
export async function keepApplied (db: Knex, names: readonly string[], keptBy: string): Promise<void> {
  if (names.length === 0) return
  await db.transaction(async (trx) => {
    if (!await trx.schema.hasTable(KEPT_TABLE)) {
      await trx.schema.createTable(KEPT_TABLE, (t) => {
        t.string('name').primary()
        t.integer('batch').notNullable()
        t.bigInteger('migration_time').nullable()
        t.string('kept_by').notNullable()
        t.bigInteger('kept_at').notNullable()
      })
    }
    const rows = await trx('knex_migrations').whereIn('name', names).select('name', 'batch', 'migration_time') as Array<{ name: string, batch: number, migration_time: unknown }>
    const missing = names.filter((n) => !rows.some((r) => r.name === n))
    if (missing.length > 0) throw new Error(`cannot keep ${missing.join(', ')}: not applied`)
    const at = Date.now()
    await trx(KEPT_TABLE).whereIn('name', names).delete()
    await trx(KEPT_TABLE).insert(rows.map((r) => ({ name: r.name, batch: r.batch, migration_time: toMillis(r.migration_time), kept_by: keptBy, kept_at: at })))
    await trx('knex_migrations').whereIn('name', names).delete()
  })
}

function toMillis (value: unknown): number | null {
  if (value === null || value === undefined) return null
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(String(value))
  return Number.isNaN(ms) ? null : ms
}

/** The names kept applied, oldest first (none when no rollback ever kept one). */
export async function keptNames (db: Knex): Promise<string[]> {
  if (!await db.schema.hasTable(KEPT_TABLE)) return []
  return (await db(KEPT_TABLE).orderBy('name').select('name') as Array<{ name: string }>).map((r) => r.name)
}

/**
 * Puts the kept migrations this code has (`files`) back into knex_migrations, so Knex counts them
 * as applied and never runs their `up` a second time. Returns the names taken back.
 */
export async function reinstateKept (db: Knex, files: readonly string[]): Promise<string[]> {
  const known = new Set(files)
  const names = (await keptNames(db)).filter((n) => known.has(n))
  if (names.length === 0) return []
  await db.transaction(async (trx) => {
    const rows = await trx(KEPT_TABLE).whereIn('name', names).orderBy('name').select('name', 'batch', 'migration_time') as Array<{ name: string, batch: number, migration_time: number | string | null }>
    await trx('knex_migrations').insert(rows.map((r) => ({ name: r.name, batch: r.batch, migration_time: r.migration_time === null ? new Date() : new Date(Number(r.migration_time)) })))
    await trx(KEPT_TABLE).whereIn('name', names).delete()
  })
  return names
}
