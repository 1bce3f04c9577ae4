// tap `before`: starts the test run's private PostgreSQL server and leaves its address in
// .tap/postgres-server.json for the test files. Does nothing when PostgreSQL is not installed
// (the PostgreSQL halves of the tests are then skipped, saying so). A server left by an
// interrupted run is stopped first.
import fs from 'node:fs'
import path from 'node:path'
import { postgresBin, SHARED_SERVER_FILE, startServer, stopServer, type PgServer } from './postgres.js'

function stopLeftover (): void {
  try {
    const old = JSON.parse(fs.readFileSync(SHARED_SERVER_FILE, 'utf8')) as PgServer
    if (fs.existsSync(old.dir)) stopServer(old)
  } catch {
    // nothing left over
  }
  fs.rmSync(SHARED_SERVER_FILE, { force: true })
}

stopLeftover()
if (postgresBin() !== null) {
  const server = await startServer()
  fs.mkdirSync(path.dirname(SHARED_SERVER_FILE), { recursive: true })
  fs.writeFileSync(SHARED_SERVER_FILE, JSON.stringify(server), { mode: 0o600 })
}
