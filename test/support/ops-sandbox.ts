// Temp sandboxes for the ops scripts: a data root (MISTER_TODO_ROOT) holding the project's
// migrations plus fixture ones, a real SQLite file migrated by Knex, and a runner that starts the
// real scripts under zx with no TTY. Nothing here touches the project's own storage/.
import { spawn, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import knexFactory from 'knex'
import { createCodeSandbox, git } from './code-sandbox.js'

export const CODE_ROOT = path.resolve(import.meta.dirname, '..', '..')
const ZX_CLI = path.join(CODE_ROOT, 'node_modules', 'zx', 'build', 'cli.js')
const RUN_TIMEOUT_MS = 90_000

/** `lingeredMs`: from the last thing printed to the exit (a finished command should not hang on). */
export type Run = { code: number | null, stdout: string, stderr: string, lingeredMs: number }
export type OpsScript = 'backup' | 'restore' | 'migrate' | 'health' | 'logs' | 'preflight'
export type Teardown = { teardown: (fn: () => unknown) => void }
export type SandboxOptions = {
  /** Tasks seeded in chat 1; every tenth one is soft-deleted. */
  tasks?: number
  /** Folders under test/fixtures whose migrations are added after the schema is created (pending). */
  pending?: string[]
}

export type Sandbox = {
  root: string
  dbFile: string
  backupsDir: string
  journalFile: string
  env: NodeJS.ProcessEnv
  run: (script: OpsScript, args: string[], env?: Record<string, string>) => Promise<Run>
  /** Names in storage/backups (all files, hidden ones too), sorted. */
  backups: () => string[]
  sha: (file: string) => string
  query: <T>(file: string, sql: string) => T[]
  addTasks: (count: number) => void
}

/** The knexfile builds a default config on import: aim its folder at the sandbox, not the project. */
async function knexConfigFor (dbFile: string, migrationsDir: string): Promise<import('knex').Knex.Config> {
  const previous = process.env.DATABASE_FILE
  process.env.DATABASE_FILE = dbFile
  try {
    const { knexConfig } = await import('../../knexfile.js')
    return knexConfig(dbFile, { migrationsDir })
  } finally {
    if (previous === undefined) delete process.env.DATABASE_FILE
    else process.env.DATABASE_FILE = previous
  }
}

export function childEnv (root: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // tap's loader hooks and any real database setting must not leak into the scripts.
  delete env.NODE_OPTIONS
  delete env.DATABASE_FILE
  delete env.MISTER_TODO_FREE_BYTES
  return { ...env, MISTER_TODO_ROOT: root, PM2_HOME: path.join(root, '.pm2'), FORCE_COLOR: '0', NO_COLOR: '1', npm_config_loglevel: 'error' }
}

export function collect (child: ChildProcess, timeoutMs = RUN_TIMEOUT_MS): Promise<Run> {
  let stdout = ''
  let stderr = ''
  let printedAt = Date.now()
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); printedAt = Date.now() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); printedAt = Date.now() })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, lingeredMs: Date.now() - printedAt })
    })
  })
}

export async function createSandbox (t: Teardown, options: SandboxOptions = {}): Promise<Sandbox> {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-ops-')))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  const migrationsDir = path.join(root, 'storage', 'migrations')
  fs.mkdirSync(migrationsDir, { recursive: true })
  // Knex imports .ts migrations as ES modules only inside a "type": "module" package.
  fs.writeFileSync(path.join(root, 'package.json'), '{ "type": "module" }\n')
  fs.symlinkSync(path.join(CODE_ROOT, 'node_modules'), path.join(root, 'node_modules'))
  const copyMigrations = (dir: string): void => {
    for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) fs.copyFileSync(path.join(dir, name), path.join(migrationsDir, name))
  }
  copyMigrations(path.join(CODE_ROOT, 'storage', 'migrations'))

  const dbFile = path.join(root, 'storage', 'db', 'todo.sqlite')
  const knex = knexFactory(await knexConfigFor(dbFile, migrationsDir))
  try {
    await knex.migrate.latest()
  } finally {
    await knex.destroy()
  }
  for (const fixture of options.pending ?? []) copyMigrations(path.join(CODE_ROOT, 'test', 'fixtures', fixture))

  const withDb = <T>(file: string, fn: (db: Database.Database) => T): T => {
    const db = new Database(file, { fileMustExist: true })
    try {
      return fn(db)
    } finally {
      db.close()
    }
  }
  const addTasks = (count: number): void => withDb(dbFile, (db) => {
    db.transaction(() => {
      db.prepare('insert into chats (id, next_number, created_at) values (1, 1, 0) on conflict (id) do nothing').run()
      const first = Number(db.prepare('select next_number from chats where id = 1').pluck().get())
      const insert = db.prepare('insert into tasks (chat_id, number, text, created_at, updated_at, deleted_at) values (1, ?, ?, ?, ?, ?)')
      for (let n = first; n < first + count; n += 1) insert.run(n, `task number ${n}: buy milk, call mum, fix the bike`, n, n, n % 10 === 0 ? n : null)
      db.prepare('update chats set next_number = ? where id = 1').run(first + count)
    })()
  })
  if ((options.tasks ?? 0) > 0) addTasks(options.tasks ?? 0)

  const env = childEnv(root)
  const backupsDir = path.join(root, 'storage', 'backups')
  return {
    root,
    dbFile,
    backupsDir,
    journalFile: path.join(root, 'storage', 'deploys.jsonl'),
    env,
    run: (script, args, extra = {}) => collect(spawn(process.execPath, [ZX_CLI, path.join(CODE_ROOT, 'ops', `${script}.mjs`), ...args], { cwd: root, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] })),
    backups: () => fs.existsSync(backupsDir) ? fs.readdirSync(backupsDir).sort() : [],
    sha: (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
    query: <T>(file: string, sql: string) => withDb(file, (db) => db.prepare(sql).all() as T[]),
    addTasks,
  }
}

/** A checkout with a bare origin, up to date, whose data root is itself (.env beside the code). */
export function createPreflightSandbox (): { dir: string, origin: string, run: (args: string[], env?: Record<string, string>, script?: 'preflight' | 'deploy') => Promise<Run>, cleanup: () => void } {
  const dir = createCodeSandbox()
  const origin = `${dir}-origin.git`
  git(path.dirname(dir), 'clone', '-q', '--bare', dir, origin)
  git(dir, 'remote', 'add', 'origin', origin)
  git(dir, 'fetch', '-q', 'origin')
  git(dir, 'branch', '-q', '--set-upstream-to', 'origin/main')
  const env = childEnv(dir)
  for (const name of ['TELEGRAM_BOT_TOKEN', 'ALLOWED_USER_IDS', 'TELEGRAM_API_ROOT', 'HEALTH_PORT', 'DEFAULT_TIMEZONE', 'LOG_LEVEL', 'POLL_TIMEOUT_S']) delete env[name]
  return {
    dir,
    origin,
    run: (args, extra = {}, script = 'preflight') => collect(spawn(process.execPath, [path.join(CODE_ROOT, 'node_modules', 'zx', 'build', 'cli.js'), `ops/${script}.mjs`, ...args], { cwd: dir, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] })),
    cleanup: () => {
      fs.rmSync(dir, { recursive: true, force: true })
      fs.rmSync(origin, { recursive: true, force: true })
    },
  }
}

/** A second process that inserts tasks into chat 1 until it gets SIGTERM; resolves once it has written. */
export async function startWriter (dbFile: string): Promise<{ stop: () => Promise<number> }> {
  const code = `
    import Database from 'better-sqlite3'
    const db = new Database(process.argv[1], { timeout: 5000 })
    db.pragma('journal_mode = WAL'); db.pragma('foreign_keys = ON'); db.pragma('synchronous = NORMAL')
    const insert = db.prepare("insert into tasks (chat_id, number, text, created_at, updated_at) values (1, ?, 'written during the backup', 0, 0)")
    const bump = db.prepare('update chats set next_number = ? where id = 1')
    let next = Number(db.prepare('select next_number from chats where id = 1').pluck().get())
    let written = 0
    let stopping = false
    process.on('SIGTERM', () => { stopping = true })
    const tick = () => {
      if (stopping) { db.close(); process.stdout.write('wrote ' + written + '\\n'); return }
      for (let i = 0; i < 10; i += 1) { db.transaction(() => { insert.run(next); bump.run(next + 1) })(); next += 1; written += 1 }
      if (written === 10) process.stdout.write('writing\\n')
      setImmediate(tick)
    }
    tick()
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, dbFile], { cwd: CODE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const done = collect(child)
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => { if (d.toString().includes('writing')) resolve() })
    child.on('close', () => reject(new Error('the writer stopped before writing')))
  })
  return {
    stop: async () => {
      child.kill('SIGTERM')
      const run = await done
      return Number(/wrote (\d+)/.exec(run.stdout)?.[1] ?? NaN)
    },
  }
}
