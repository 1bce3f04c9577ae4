// DATABASE_URL: selects PostgreSQL; a malformed URL, a server that does not answer, a wrong
// password and a missing database each stop the bot with one line naming the variable and the
// fix — and the password appears nowhere in what it prints or logs.
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { checkEnvironment, loadConfig, PROJECT_ROOT } from '../bot/config.js'
import { freePort, tempDir } from './support/bot-harness.js'
import { NOT_INSTALLED, postgresBin, server, urlFor } from './support/postgres.js'

const good = { TELEGRAM_BOT_TOKEN: '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc', ALLOWED_USER_IDS: '42' }
const SECRET = 's3cret-Pa55'

t.test('config: without DATABASE_URL the database is the SQLite file; with it, PostgreSQL with its defaults', async (t) => {
  t.same(loadConfig(good).database, { engine: 'sqlite', file: `${PROJECT_ROOT}/storage/db/todo.sqlite` })
  t.same(loadConfig({ ...good, DATABASE_URL: `postgres://todo:${SECRET}@db.example:5433/todo` }).database, {
    engine: 'postgres', url: `postgres://todo:${SECRET}@db.example:5433/todo`, poolMax: 5, statementTimeoutMs: 15_000, applicationName: 'mister_todo',
  })
  t.same(loadConfig({ ...good, DATABASE_URL: 'postgresql://h/todo', DATABASE_POOL_MAX: '20', DATABASE_STATEMENT_TIMEOUT_MS: '0', DATABASE_APPLICATION_NAME: 'todo-eu' }).database, {
    engine: 'postgres', url: 'postgresql://h/todo', poolMax: 20, statementTimeoutMs: 0, applicationName: 'todo-eu',
  })
})

t.test('config: a malformed DATABASE_URL and bad pool settings are named with the fix, the password never echoed', async (t) => {
  const shape = 'write it as postgres://user:password@host:5432/database (percent-encode @ : / in the password), or leave it unset for SQLite'
  const cases: Array<[Record<string, string>, string]> = [
    [{ DATABASE_URL: `todo:${SECRET}@localhost/todo` }, `DATABASE_URL is not a PostgreSQL URL (it starts with todo://): ${shape}`],
    [{ DATABASE_URL: `postgres://todo:${SECRET}@[bad/todo` }, `DATABASE_URL is not a URL: ${shape}`],
    [{ DATABASE_URL: `mysql://todo:${SECRET}@localhost/todo` }, `DATABASE_URL is not a PostgreSQL URL (it starts with mysql://): ${shape}`],
    [{ DATABASE_URL: `postgres://todo:${SECRET}@localhost` }, `DATABASE_URL names no database: ${shape}`],
    [{ DATABASE_POOL_MAX: '0' }, 'DATABASE_POOL_MAX is not a number of connections: use 1–100 (default 5)'],
    [{ DATABASE_STATEMENT_TIMEOUT_MS: '5s' }, 'DATABASE_STATEMENT_TIMEOUT_MS is not a time limit in milliseconds: use 0–3600000 (default 15000; 0: no limit)'],
  ]
  for (const [env, expected] of cases) t.same(checkEnvironment({ ...good, ...env }).problems, [expected])
})

const pgSkip = postgresBin() === null ? NOT_INSTALLED : false

/** Starts bot/main.ts with a DATABASE_URL and returns what it printed; the bot must refuse to start. */
function refusedStart (url: string): { status: number | null, stderr: string, all: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bot/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, ...good, DATABASE_URL: url, DATABASE_FILE: `${tempDir()}/db/todo.sqlite`, TELEGRAM_API_ROOT: 'http://127.0.0.1:9', HEALTH_PORT: '0' },
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { status: r.status, stderr: r.stderr, all: r.stdout + r.stderr }
}

t.test('config: a PostgreSQL server that does not answer, a wrong password, a missing database: one line each', { skip: pgSkip }, async (t) => {
  const s = await server()
  const closed = await freePort()
  const cases: Array<[string, string]> = [
    [`postgres://postgres:${SECRET}@127.0.0.1:${closed}/todo`,
      `DATABASE_URL: no PostgreSQL server answers at 127.0.0.1:${closed} (ECONNREFUSED): start the server, or fix the host and port in DATABASE_URL (postgres://postgres:xxxxx@127.0.0.1:${closed}/todo)`],
    [urlFor(s, 'postgres', SECRET),
      `DATABASE_URL: the server refused the password for user "postgres": fix the password in DATABASE_URL (postgres://postgres:xxxxx@127.0.0.1:${s.port}/postgres), or set it with ALTER ROLE "postgres" PASSWORD '…'`],
    [urlFor(s, 'no_such_db'),
      `DATABASE_URL: database "no_such_db" does not exist on 127.0.0.1:${s.port}: create it (createdb -O "postgres" "no_such_db"), or fix its name in DATABASE_URL (postgres://postgres:xxxxx@127.0.0.1:${s.port}/no_such_db)`],
  ]
  for (const [url, line] of cases) {
    const r = refusedStart(url)
    t.equal(r.status, 1)
    t.equal(r.stderr, `mister_todo: cannot start: ${line}\n`)
    t.notMatch(r.all, SECRET, 'the wrong password is in no output')
    t.notMatch(r.all, s.password, 'the real password is in no output')
  }
})
