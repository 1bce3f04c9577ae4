// Which migrations a database file has applied, in order, read as Knex records them. Shared by the
// migrate and rollback tests (read-only: safe beside a running bot, WAL mode).
import Database from 'better-sqlite3'

export function appliedMigrations (dbFile: string): string[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true })
  try {
    return db.prepare('select name from knex_migrations order by id').pluck().all() as string[]
  } finally {
    db.close()
  }
}
