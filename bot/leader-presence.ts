// Several instances: each keeps one idle PostgreSQL session named "<application name> instance
// pid@host" for its life, so any of them can count the instances running (the owner's /stats)
// from pg_stat_activity. The server ends the session with the process, as it does the leader lock.
import os from 'node:os'
import type { Knex } from 'knex'
import type { PostgresTarget } from './config.js'
import { CONNECT_TIMEOUT_MS, explainConnectionError, pgDriver } from './db-postgres.js'

const presencePrefix = (applicationName: string): string => `${applicationName.slice(0, 40)} instance `

/** Opens this instance's presence session; the server ends it with the process. */
export async function openPresence (target: PostgresTarget): Promise<{ close: () => void }> {
  const client = new (pgDriver().Client)({ connectionString: target.url, application_name: `${presencePrefix(target.applicationName)}${process.pid}@${os.hostname()}`.slice(0, 63), connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw explainConnectionError(err, target)
  }
  return { close: () => { client.end().catch(() => {}) } }
}

/** Instances with a presence session on this database. */
export async function countInstances (db: Knex | Knex.Transaction, applicationName: string): Promise<number> {
  const prefix = presencePrefix(applicationName)
  const row = await db.raw('select count(*)::int as n from pg_stat_activity where datname = current_database() and left(application_name, ?) = ?', [prefix.length, prefix]) as { rows: Array<{ n: number }> }
  return Number(row.rows[0]?.n ?? 0)
}
