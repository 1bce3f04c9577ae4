// PostgreSQL specifics of opening the database: the Knex config for a DATABASE_URL (pool size,
// statement timeout, application_name, numbers read back as numbers) and what a failed
// connection means for the operator, in one line naming DATABASE_URL and the fix.
import { createRequire } from 'node:module'
import type { Knex } from 'knex'
import type pg from 'pg'
import { redactUrl, type PostgresTarget } from './config.js'
import { AppError } from './errors.js'

let driver: typeof pg | undefined

/**
 * The pg driver, loaded on first use: a bot on SQLite never needs it, and loading it cost ~60 ms
 * (140 ms on a busy machine) of every start before the first poll. Kept once loaded: the type
 * parser below asks for it for every column of every result, and a `require` resolves the file
 * again each time (about 1 ms per /add under tsx).
 */
export function pgDriver (): typeof pg {
  driver ??= createRequire(import.meta.url)('pg') as typeof pg
  return driver
}

/** A connection that cannot be made in this long is reported instead of waited for. */
export const CONNECT_TIMEOUT_MS = 10_000

// int8 (counts, ids, epoch milliseconds) and numeric (sums) come back from pg as strings; every
// value this bot stores fits a double exactly (Telegram ids < 2^52, ms timestamps), so read numbers.
const INT8 = 20
const NUMERIC = 1700
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8 || oid === NUMERIC) return (value: string) => Number(value)
    const { types } = pgDriver()
    return format === 'binary' ? types.getTypeParser(oid, 'binary') : types.getTypeParser(oid, 'text')
  },
}

export function postgresKnexConfig (target: PostgresTarget, options: { migrations: Knex.MigratorConfig, poolMax?: number }): Knex.Config {
  return {
    client: 'pg',
    connection: {
      connectionString: target.url,
      application_name: target.applicationName,
      ...(target.statementTimeoutMs > 0 ? { statement_timeout: target.statementTimeoutMs } : {}),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      types,
    } as Knex.PgConnectionConfig,
    pool: { min: 0, max: options.poolMax ?? target.poolMax },
    acquireConnectionTimeout: CONNECT_TIMEOUT_MS + 5_000,
    migrations: options.migrations,
  }
}

type PgError = { code?: string, message?: string }

/**
 * A connection error as the operator can act on it, or the error itself when it is not about
 * reaching the database. The password never appears: the URL is shown redacted.
 */
export function explainConnectionError (err: unknown, target: PostgresTarget): unknown {
  const e = (err ?? {}) as PgError
  const url = new URL(target.url)
  const where = `${url.hostname}:${url.port === '' ? '5432' : url.port}`
  const user = decodeURIComponent(url.username) || '(the system user)'
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''))
  const shown = redactUrl(target.url)
  const say = (message: string): AppError => new AppError('EDATABASE', `DATABASE_URL${message}`, { cause: err })
  switch (e.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return say(`: no PostgreSQL server answers at ${where} (${e.code}): start the server, or fix the host and port in DATABASE_URL (${shown})`)
    case '28P01':
      return say(`: the server refused the password for user "${user}": fix the password in DATABASE_URL (${shown}), or set it with ALTER ROLE "${user}" PASSWORD '…'`)
    case '28000':
      return say(`: the server does not let user "${user}" connect to "${database}" (${(e.message ?? '').split('\n')[0]}): allow it in pg_hba.conf, or use another user in DATABASE_URL (${shown})`)
    case '3D000':
      return say(`: database "${database}" does not exist on ${where}: create it (createdb -O "${user}" "${database}"), or fix its name in DATABASE_URL (${shown})`)
    default:
      if (/timeout.*connect|Connection terminated due to connection timeout/i.test(e.message ?? '')) {
        return say(`: no answer from ${where} within ${CONNECT_TIMEOUT_MS / 1000} s: check the host, port and firewall in DATABASE_URL (${shown})`)
      }
      return err
  }
}
