// A private PostgreSQL server for a benchmark (dev/postgres-server.ts, the one the tests use): its
// own data folder and port on 127.0.0.1, a fresh database for each round, stopped when the work
// ends — on a throw and on Ctrl-C too. Unlike the tests' server it runs with fsync on, as a
// default installation does, so the figures include the commit's flush to disk.
import type { PostgresTarget } from '../../bot/config.js'
import { asAdmin, postgresBin, startServer, stopServer, urlFor, type PgServer } from '../../dev/postgres-server.js'

/** What a PostgreSQL row says when there is no server to run it on (`postgresBin()` null). */
export const PG_SKIPPED = 'skipped: PostgreSQL not installed'

export function postgresInstalled (): boolean {
  return postgresBin() !== null
}

export type BenchPostgres = {
  server: PgServer
  /** The server's version, e.g. "15.14". */
  version: string
  /** Creates a new empty database and returns its URL. */
  freshDatabase: (label: string) => Promise<string>
}

/** The bot's PostgreSQL target for `url`, with the bot's defaults. */
export function targetFor (url: string): PostgresTarget {
  return { engine: 'postgres', url, poolMax: 5, statementTimeoutMs: 0, applicationName: 'mister_todo_bench' }
}

/** Runs `work` with a private server, which is stopped and removed afterwards whatever happens. */
export async function withPostgres<T> (work: (pg: BenchPostgres) => Promise<T>): Promise<T> {
  const server = await startServer()
  const stopNow = (): void => { stopServer(server); process.exit(130) }
  process.once('SIGINT', stopNow)
  try {
    const version = await asAdmin(server, async (c) => {
      // fsync is a reload-time setting: a default installation flushes every commit to disk.
      await c.query('alter system set fsync = on')
      await c.query('select pg_reload_conf()')
      return String((await c.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?').split(' ')[0] ?? '?'
    })
    let n = 0
    const freshDatabase = async (label: string): Promise<string> => {
      const name = `bench_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${++n}`
      await asAdmin(server, (c) => c.query(`create database "${name}"`))
      return urlFor(server, name)
    }
    return await work({ server, version, freshDatabase })
  } finally {
    process.off('SIGINT', stopNow)
    stopServer(server)
  }
}
