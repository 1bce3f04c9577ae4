// A real PostgreSQL server for the tests: one private server per test run (its own data folder in
// a temp folder, its own free port on 127.0.0.1, password authentication, run as the `postgres`
// system user when we are root, since the server refuses to run as root), and a fresh database
// per test that asks for one, dropped at its teardown. tap's `before`/`after` (package.json) start
// and stop the shared server; a test file run on its own starts a private one for itself.
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { asAdmin, startServer, stopServer, urlFor, type PgServer } from '../../dev/postgres-server.js'

export { NOT_INSTALLED, postgresBin, startServer, stopServer, urlFor, type PgServer } from '../../dev/postgres-server.js'

/**
 * Where tap's `before` leaves the shared server's address for the test files: one file per tap
 * run, named after the tap runner (the parent of `before`, `after` and every test file), so two
 * runs at once in one checkout never share or stop each other's server.
 */
export const SHARED_SERVER_DIR = path.resolve(import.meta.dirname, '..', '..', '.tap')
export const SHARED_SERVER_FILE = path.join(SHARED_SERVER_DIR, `postgres-server-${process.ppid}.json`)


let own: Promise<PgServer> | undefined

/** The shared server of this test run, or a private one for this file (stopped when it exits). */
export function server (): Promise<PgServer> {
  if (own !== undefined) return own
  const shared = readShared()
  if (shared !== null) return (own = Promise.resolve(shared))
  own = startServer()
  void own.then((s) => process.once('exit', () => stopServer(s)))
  return own
}

function readShared (): PgServer | null {
  try {
    const s = JSON.parse(fs.readFileSync(SHARED_SERVER_FILE, 'utf8')) as PgServer
    return fs.existsSync(path.join(s.dir, 'data', 'postmaster.pid')) ? s : null
  } catch {
    return null
  }
}

let counter = 0

/** A new empty database on the run's server, named after the test file; `drop` removes it. */
export async function createDatabase (): Promise<{ url: string, name: string, server: PgServer, drop: () => Promise<void> }> {
  const s = await server()
  const label = path.basename(process.argv[1] ?? 'test').replace(/\.test\.ts$/, '').replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 30)
  const name = `t_${label}_${process.pid}_${++counter}`
  await asAdmin(s, (c) => c.query(`create database "${name}"`))
  return { url: urlFor(s, name), name, server: s, drop: async () => { await asAdmin(s, (c) => c.query(`drop database if exists "${name}" with (force)`)) } }
}

/** A new empty database on the run's server, dropped at the test's end; its URL. */
export async function freshDatabase (t: Test): Promise<{ url: string, name: string, server: PgServer }> {
  const { drop, ...db } = await createDatabase()
  t.teardown(drop)
  return db
}

/** Set by a *.pg.test.ts twin before it imports the cases: startHarness then runs the bot on PostgreSQL. */
export const ENGINE_VARIABLE = 'MISTER_TODO_TEST_DATABASE'

/** Runs SQL as the superuser against the server's maintenance database (create/drop roles…). */
export function asSuperuser<T> (work: (client: pg.Client) => Promise<T>): Promise<T> {
  return server().then((s) => asAdmin(s, work))
}
