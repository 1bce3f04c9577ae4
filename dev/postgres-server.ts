// A private PostgreSQL server, started for a while and thrown away: its own data folder in a temp
// folder, its own free port on 127.0.0.1, password authentication, run as the `postgres` system
// user when we are root (the server refuses to run as root). `npm run try -- --pg` and the tests
// (test/support/postgres.ts) use it; production never does.
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'

export type PgServer = { dir: string, port: number, user: string, password: string, bin: string, owner: number }

/** The server's bin folder (pg_ctl, initdb, pg_dump…): PG_BIN, else the newest /usr/lib/postgresql/N/bin, else pg_ctl on PATH. */
export function postgresBin (): string | null {
  const candidates: string[] = []
  if (process.env.PG_BIN !== undefined && process.env.PG_BIN !== '') candidates.push(process.env.PG_BIN)
  const root = '/usr/lib/postgresql'
  if (fs.existsSync(root)) {
    const versions = fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    candidates.push(...versions.map((v) => path.join(root, v, 'bin')))
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const found = path.join(dir, 'pg_ctl')
    if (dir !== '' && fs.existsSync(found)) candidates.push(path.dirname(fs.realpathSync(found)))
  }
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'pg_ctl')) && fs.existsSync(path.join(dir, 'initdb'))) ?? null
}

export const NOT_INSTALLED = 'PostgreSQL is not installed (no pg_ctl in PG_BIN, /usr/lib/postgresql/*/bin or PATH): apt-get install -y postgresql to run the PostgreSQL half'

async function freePort (): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  return port
}

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`

/** Runs a server program, as `postgres` when we are root (through su, as the server asks). */
function runServerTool (bin: string, program: string, args: string[]): string {
  const file = path.join(bin, program)
  if (process.getuid?.() !== 0) return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  return execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', [file, ...args].map(quote).join(' ')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Starts a private server: initdb with scram-sha-256 authentication, then pg_ctl start on a free port. */
export async function startServer (): Promise<PgServer> {
  const bin = postgresBin()
  if (bin === null) throw new Error(NOT_INSTALLED)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-pg-'))
  const password = crypto.randomBytes(12).toString('hex')
  let owner = process.getuid?.() ?? 0
  if (owner === 0) {
    owner = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    fs.chownSync(dir, owner, owner)
  }
  const pwfile = path.join(dir, 'pwfile')
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
  fs.chownSync(pwfile, owner, owner)
  runServerTool(bin, 'initdb', ['-D', path.join(dir, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--no-sync', '-E', 'UTF8', '--locale=C'])
  fs.rmSync(pwfile)
  const port = await freePort()
  // fsync off: a test server's data is thrown away; crash safety is the server's job, not ours to test.
  runServerTool(bin, 'pg_ctl', ['-D', path.join(dir, 'data'), '-o', `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, '-l', path.join(dir, 'log'), '-w', 'start'])
  return { dir, port, user: 'postgres', password, bin, owner }
}

export function stopServer (server: PgServer): void {
  try {
    runServerTool(server.bin, 'pg_ctl', ['-D', path.join(server.dir, 'data'), '-m', 'fast', '-w', 'stop'])
  } finally {
    fs.rmSync(server.dir, { recursive: true, force: true })
  }
}

export function urlFor (server: PgServer, database: string, password = server.password): string {
  return `postgres://${server.user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/${database}`
}

/** Runs `work` as the server's superuser on its maintenance database (create or drop databases, roles). */
export async function asAdmin<T> (server: PgServer, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlFor(server, 'postgres') })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}
