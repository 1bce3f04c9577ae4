// tap `before`: starts the test run's private PostgreSQL server and leaves its address in
// .tap/postgres-server-<tap runner pid>.json for the test files. Does nothing when PostgreSQL is not installed
// (the PostgreSQL halves of the tests are then skipped, saying so). Servers left by interrupted
// runs (their tap runner gone) are stopped first.
import fs from 'node:fs'
import path from 'node:path'
import { postgresBin, SHARED_SERVER_DIR, SHARED_SERVER_FILE, startServer, stopServer, type PgServer } from './postgres.js'

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM'
  }
}

/** Servers of tap runs that died before their `after` (Ctrl-C): stopped, their files removed. */
function stopLeftovers (): void {
  for (const name of fs.existsSync(SHARED_SERVER_DIR) ? fs.readdirSync(SHARED_SERVER_DIR) : []) {
    const runner = Number(/^postgres-server-(\d+)\.json$/.exec(name)?.[1] ?? NaN)
    if (Number.isNaN(runner) || isAlive(runner)) continue
    const file = path.join(SHARED_SERVER_DIR, name)
    try {
      const old = JSON.parse(fs.readFileSync(file, 'utf8')) as PgServer
      if (fs.existsSync(old.dir)) stopServer(old)
    } catch {
      // already gone
    }
    fs.rmSync(file, { force: true })
  }
}

stopLeftovers()
if (postgresBin() !== null) {
  const server = await startServer()
  fs.mkdirSync(SHARED_SERVER_DIR, { recursive: true })
  fs.writeFileSync(SHARED_SERVER_FILE, JSON.stringify(server), { mode: 0o600 })
}
