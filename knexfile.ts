// The one Knex configuration, used by the bot, the ops scripts and the Knex CLI (npm run knex).
// PostgreSQL when DATABASE_URL is set, else SQLite (DATABASE_FILE). SQLite pragmas are set on
// every new connection so that no code path can forget them.
import fs from 'node:fs'
import path from 'node:path'
import type { Knex } from 'knex'
import { databaseTargetFrom, PROJECT_ROOT, type DatabaseTarget } from './bot/config.js'
import { postgresKnexConfig } from './bot/db-postgres.js'
import { migrationSource } from './bot/migration-source.js'
import { cachePreparedStatements } from './bot/updates/statement-cache.js'

export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'storage', 'migrations')
export const BUSY_TIMEOUT_MS = 5000

type SqliteOptions = { migrationsDir?: string, readonly?: boolean, createDir?: boolean, checkpoints?: 'external' }
type SqliteConnection = { pragma: (sql: string) => unknown, prepare: (sql: string) => unknown }

/**
 * A Knex config for one SQLite file; `migrationsDir` lets a rehearsal or a test use other migrations.
 * `checkpoints: 'external'`: these connections never checkpoint the WAL themselves; the caller runs
 * a WalCheckpointer (bot/wal-checkpointer.ts), as the bot does, or the WAL grows without bound.
 */
export function knexConfig (databaseFile: string, options: SqliteOptions = {}): Knex.Config {
  if (options.readonly !== true && options.createDir !== false) fs.mkdirSync(path.dirname(databaseFile), { recursive: true, mode: 0o700 })
  return {
    client: 'better-sqlite3',
    connection: { filename: databaseFile, options: { readonly: options.readonly === true } },
    useNullAsDefault: true,
    // Two connections: a read (the /health command's check) may run while an update's
    // transaction holds the other; SQLite's WAL lets it read without waiting.
    pool: {
      min: 1,
      max: 2,
      afterCreate (conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
        try {
          if (options.readonly !== true) conn.pragma('journal_mode = WAL')
          conn.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
          conn.pragma('foreign_keys = ON')
          conn.pragma('synchronous = NORMAL')
          if (options.checkpoints === 'external') conn.pragma('wal_autocheckpoint = 0')
          cachePreparedStatements(conn)
          done(null, conn)
        } catch (err) {
          done(err as Error, conn)
        }
      },
    },
    migrations: {
      // The .ts names, loaded from the compiled build when there is one (bot/migration-source.ts).
      migrationSource: migrationSource(options.migrationsDir ?? MIGRATIONS_DIR),
      tableName: 'knex_migrations',
    },
  }
}

/** The Knex config for either engine: SQLite for a file, PostgreSQL for a DATABASE_URL. */
export function knexConfigFor (target: DatabaseTarget, options: SqliteOptions & { poolMax?: number } = {}): Knex.Config {
  if (target.engine === 'sqlite') return knexConfig(target.file, options)
  return postgresKnexConfig(target, {
    migrations: { migrationSource: migrationSource(options.migrationsDir ?? MIGRATIONS_DIR), tableName: 'knex_migrations' },
    ...(options.poolMax === undefined ? {} : { poolMax: options.poolMax }),
  })
}

// For the Knex CLI, which calls it. Importing this file must not create folders (the CLI creates
// the database when it opens it) nor fail on a bad .env (the bot reports that itself, one line each).
// The CLI runs under tsx and also makes new migrations, so it reads the folder itself.
export default function cliConfig (): Knex.Config {
  const fromEnv = databaseTargetFrom()
  if (fromEnv.target === undefined) throw new Error(fromEnv.problems.join('\n'))
  return { ...knexConfigFor(fromEnv.target, { createDir: false }), migrations: { directory: MIGRATIONS_DIR, loadExtensions: ['.ts'], tableName: 'knex_migrations' } }
}
