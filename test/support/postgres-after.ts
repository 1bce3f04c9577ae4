// tap `after`: stops the test run's PostgreSQL server started by postgres-before.ts.
import fs from 'node:fs'
import { SHARED_SERVER_FILE, stopServer, type PgServer } from './postgres.js'

try {
  const server = JSON.parse(fs.readFileSync(SHARED_SERVER_FILE, 'utf8')) as PgServer
  fs.rmSync(SHARED_SERVER_FILE, { force: true })
  stopServer(server)
} catch (err) {
  if ((err as { code?: unknown }).code !== 'ENOENT') throw err
}
