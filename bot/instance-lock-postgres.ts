// One bot per database on PostgreSQL: a session advisory lock, held by a connection of its own
// for the life of the process. The server drops it when that session ends — the process exits,
// is killed with -9, or its machine goes away — so no stale lock survives a crash, on any host.
// In webhook mode the same lock means "leader" instead: several instances serve, the holder runs
// the jobs that must run once (bot/leader.ts).
import os from 'node:os'
import { redactUrl, type PostgresTarget } from './config.js'
import { CONNECT_TIMEOUT_MS, explainConnectionError, pgDriver } from './db-postgres.js'
import { AppError } from './errors.js'

/** The lock's key ("MT" + 1): advisory locks are per database, so one key serves every install. */
export const ADVISORY_LOCK_KEY = 0x4d540001

/** `alive`: whether the session holding the lock still answers (several instances: the leader watches it). */
export type PostgresLock = { release: () => void, file: string, alive: () => Promise<boolean> }
export type LockHolder = { pid: number, host: string } | null

const sessionName = (target: PostgresTarget): string => `${target.applicationName.slice(0, 40)} lock ${process.pid}@${os.hostname()}`.slice(0, 63)

/** The lock, or null while another session holds it. */
export async function tryPostgresLock (target: PostgresTarget): Promise<PostgresLock | null> {
  const client = new (pgDriver().Client)({ connectionString: target.url, application_name: sessionName(target), connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
  // A lost session has lost the lock; the next query of the bot fails and it stops (and, should a
  // standby take over meanwhile, Telegram's 409 for a second poller ends one of them).
  client.on('error', () => {})
  try {
    await client.connect()
    const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [ADVISORY_LOCK_KEY])
    if (rows[0]?.locked === true) {
      return { file: redactUrl(target.url), release: () => { client.end().catch(() => {}) }, alive: () => client.query('select 1').then(() => true, () => false) }
    }
  } catch (err) {
    await client.end().catch(() => {})
    throw explainConnectionError(err, target)
  }
  await client.end()
  return null
}

/** Who holds the lock: the pid and host its session is named after. */
export async function postgresLockHolder (target: PostgresTarget): Promise<LockHolder> {
  const client = new (pgDriver().Client)({ connectionString: target.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
  client.on('error', () => {})
  try {
    await client.connect()
    const { rows } = await client.query<{ application_name: string }>(`
      select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.objsubid = 1 and l.classid = 0 and l.objid = $1
        and l.database = (select oid from pg_database where datname = current_database())`, [ADVISORY_LOCK_KEY])
    const match = / lock (\d+)@(.*)$/.exec(rows[0]?.application_name ?? '')
    return match === null ? null : { pid: Number(match[1]), host: match[2] ?? '' }
  } catch {
    return null
  } finally {
    await client.end().catch(() => {})
  }
}

export function postgresLockedError (target: PostgresTarget, holder: LockHolder, waitedMs: number): AppError {
  const who = holder === null ? 'another process' : `process ${holder.pid} on ${holder.host === os.hostname() ? 'this machine' : holder.host}`
  const waited = waitedMs > 0 ? ` and did not hand over within ${Math.round(waitedMs / 1000)} s` : ''
  return new AppError('ELOCKED', `another Mister_Todo bot (${who}) is already running on ${redactUrl(target.url)}${waited}: stop it first (npm stop), or use another DATABASE_URL`)
}
