// Bad operator input, table-driven: missing or malformed .env variables, a database that is not
// SQLite or is newer than the code, no PM2, a backup folder that cannot be written, bad flags.
// Each ops script answers with ONE line on stderr saying what is wrong and what to do
// (`✗ step: reason — see: next command`), exits non-zero, and changes no file.
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { freePort } from './support/bot-harness.js'
import { backup } from '../ops/backup.mjs'
import { createPreflightSandbox, createSandbox, type OpsScript, type Run, type Sandbox } from './support/ops-sandbox.js'

const TOKEN = '123456:TEST-token-abcdefghijklmnopqrstuvwxyz'
const GOOD_ENV = `TELEGRAM_BOT_TOKEN=${TOKEN}\nALLOWED_USER_IDS=1001\n`
const ONE_LINE = /^✗ [a-z]+: [^\n]+ — see: [^\n]+\n$/

/** Every file under root (but node_modules, .git, .pm2, SQLite's -shm) with its bytes' hash and mode. */
function snapshot (root: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (['node_modules', '.git', '.pm2'].includes(entry.name)) continue
      // A read-only look at a WAL database leaves SQLite's shared-memory index and an empty log.
      if (entry.name.endsWith('-shm') || (entry.name.endsWith('-wal') && fs.statSync(path.join(dir, entry.name)).size === 0)) continue
      const file = path.join(dir, entry.name)
      const stat = fs.lstatSync(file)
      if (entry.isDirectory()) {
        out[path.relative(root, file) + '/'] = stat.mode.toString(8)
        walk(file)
      } else {
        out[path.relative(root, file)] = `${stat.mode.toString(8)} ${crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')}`
      }
    }
  }
  walk(root)
  return out
}

/** Makes a folder unwritable even for root (immutable), or by mode for anyone else. */
function lockFolder (dir: string): () => void {
  if (process.getuid?.() === 0) {
    execFileSync('chattr', ['+i', dir])
    return () => execFileSync('chattr', ['-i', dir])
  }
  fs.chmodSync(dir, 0o500)
  return () => fs.chmodSync(dir, 0o700)
}

type Case = {
  name: string
  script: OpsScript
  args: string[]
  /** Prepares the sandbox; may return an undo for the teardown. */
  setup?: (box: Sandbox) => void | (() => void)
  env?: Record<string, string>
  line: RegExp
  code?: number
}

const unknownFlag = (script: OpsScript): Case => ({ name: `${script}: unknown flag`, script, args: ['--frobnicate'], line: new RegExp(`^✗ ${script}: unknown flag --frobnicate — see: npx zx ops/${script}.mjs --help\\n$`), code: 2 })
const garbage = (box: Sandbox): void => { fs.writeFileSync(box.dbFile, 'this is not a database, just some text an editor saved\n'.repeat(100)) }
const future = (box: Sandbox): void => {
  const db = new Database(box.dbFile)
  db.prepare("insert into knex_migrations (name, batch, migration_time) values ('20991231000000_from_the_future.ts', 9, 0)").run()
  db.close()
}

const OPS_CASES: Case[] = [
  ...(['backup', 'restore', 'migrate', 'health', 'logs'] as const).map(unknownFlag),
  { name: 'backup: --keep 0', script: 'backup', args: ['--keep', '0'], line: /--keep must be a whole number ≥ 1, got "0"/, code: 2 },
  { name: 'backup: --keep without a value', script: 'backup', args: ['--keep'], line: /--keep needs a value/, code: 2 },
  { name: 'health: --wait soon', script: 'health', args: ['--wait', 'soon'], line: /--wait must be a whole number/, code: 2 },
  { name: 'logs: --lines lots', script: 'logs', args: ['--lines', 'lots'], line: /--lines must be a whole number/, code: 2 },
  { name: 'logs: --since yesterday', script: 'logs', args: ['--since', 'yesterday', '--no-follow'], line: /--since/, code: 2 },
  { name: 'migrate: unknown command', script: 'migrate', args: ['upgrade'], line: /unknown command upgrade: use status, rehearse, latest or rollback/, code: 2 },
  { name: 'restore: a backup that does not exist', script: 'restore', args: ['--backup', 'todo_1999-01-01_00-00-00.sqlite', '--yes'], line: /todo_1999-01-01_00-00-00\.sqlite/ },
  { name: 'backup: DATABASE_FILE names no file', script: 'backup', args: [], env: { DATABASE_FILE: 'storage/db/typo.sqlite' }, line: /no database at storage\/db\/typo\.sqlite — see: check DATABASE_FILE in \.env/ },
  { name: 'migrate rollback: DATABASE_FILE names no file', script: 'migrate', args: ['rollback', '--yes'], env: { DATABASE_FILE: 'storage/db/typo.sqlite' }, line: /no database at storage\/db\/typo\.sqlite/ },
  { name: 'backup: DATABASE_FILE is a folder', script: 'backup', args: [], env: { DATABASE_FILE: 'storage' }, line: /^✗ backup: storage is a folder, not a database file; nothing was written — see: check DATABASE_FILE in \.env/ },
  { name: 'backup: the database is not SQLite', script: 'backup', args: [], setup: garbage, line: /storage\/db\/todo\.sqlite is not an SQLite database/ },
  { name: 'migrate status: the database is not SQLite', script: 'migrate', args: ['status'], setup: garbage, line: /storage\/db\/todo\.sqlite is not an SQLite database/ },
  { name: 'migrate latest: the database is not SQLite', script: 'migrate', args: ['latest', '--yes'], setup: garbage, line: /storage\/db\/todo\.sqlite is not an SQLite database/ },
  { name: 'migrate latest: the database is newer than the code', script: 'migrate', args: ['latest', '--yes'], setup: future, line: /has migrations this code does not know: 20991231000000_from_the_future\.ts — see: deploy the newer code/ },
  { name: 'backup: the backup folder cannot be written', script: 'backup', args: [], setup: (box) => lockFolder(box.backupsDir), line: /^✗ backup: cannot write to storage\/backups: it is not writable \(E(PERM|ACCES)\); nothing was written — see: ls -ld storage\/backups/ },
  { name: 'health: PM2 is not running', script: 'health', args: [], line: /^✗ health: mister_todo is not running under pm2 — see: npm start\n$/ },
  { name: 'health: HEALTH_PORT malformed in .env, named as the bot names it', script: 'health', args: [], setup: (box) => fs.writeFileSync(path.join(box.root, '.env'), 'HEALTH_PORT=eighty\n', { mode: 0o600 }), line: /^✗ health: HEALTH_PORT is not a port number: use 0–65535 \(0 picks a free port\) — see: set HEALTH_PORT to 1–65535 in \.env/ },
  { name: 'health: HEALTH_PORT with an inline comment is read as the bot reads it', script: 'health', args: [], setup: (box) => fs.writeFileSync(path.join(box.root, '.env'), 'HEALTH_PORT=8787 # the usual one\n', { mode: 0o600 }), line: /^✗ health: mister_todo is not running under pm2 — see: npm start\n$/ },
  { name: 'logs: no log file yet', script: 'logs', args: ['--no-follow'], line: /no log file at .*bot\.log: the bot has not run under pm2 here yet — see: npm start/ },
]

t.test('operator input: ops scripts answer bad input with one line and change nothing', async (t) => {
  for (const c of OPS_CASES) {
    await t.test(c.name, async (t) => {
      const box = await createSandbox(t, { tasks: 5 })
      await backup({ root: box.root, env: box.env, quiet: true })
      const undo = c.setup?.(box)
      if (typeof undo === 'function') t.teardown(undo)
      const before = snapshot(box.root)
      const run = await box.run(c.script, c.args, c.env)
      expectOneLine(t, run, c)
      t.same(snapshot(box.root), before, 'no file changed')
    })
  }
})

function expectOneLine (t: Test, run: Run, c: Case): void {
  t.equal(run.code, c.code ?? 1, 'exit code')
  t.match(run.stderr, ONE_LINE, 'one ✗ line with what to do')
  t.match(run.stderr, c.line)
  t.notMatch(run.stdout, /✗|Error|at .*\.m?[jt]s:\d+/, 'no stack trace or second error on stdout')
}

t.test('operator input: preflight names the bad variable and the fix, and changes nothing', async (t) => {
  const box = createPreflightSandbox()
  t.teardown(box.cleanup)
  const closed = await freePort()
  const withEnv = (name: string, value: string | undefined): string => {
    const lines = GOOD_ENV.split('\n').filter((l) => l !== '' && !l.startsWith(`${name}=`))
    return [...lines, ...(value === undefined ? [] : [`${name}=${value}`])].join('\n') + '\n'
  }
  const cases: Array<{ name: string, dotEnv: string | null, args?: string[], line: RegExp, code?: number }> = [
    { name: 'no .env at all', dotEnv: null, line: /there is no \.env at .* TELEGRAM_BOT_TOKEN is missing.* — see: cp \.env\.example \.env/ },
    { name: 'TELEGRAM_BOT_TOKEN missing', dotEnv: withEnv('TELEGRAM_BOT_TOKEN', undefined), line: /TELEGRAM_BOT_TOKEN is missing: put the token @BotFather gave you in \.env — see: fix \.env/ },
    { name: 'TELEGRAM_BOT_TOKEN malformed', dotEnv: withEnv('TELEGRAM_BOT_TOKEN', 'my-token'), line: /TELEGRAM_BOT_TOKEN does not look like a bot token/ },
    { name: 'ALLOWED_USER_IDS missing', dotEnv: withEnv('ALLOWED_USER_IDS', undefined), line: /ALLOWED_USER_IDS is missing/ },
    { name: 'ALLOWED_USER_IDS malformed', dotEnv: withEnv('ALLOWED_USER_IDS', '1001,@me'), line: /ALLOWED_USER_IDS has "@me" which is not a numeric Telegram user id/ },
    { name: 'TELEGRAM_API_ROOT malformed', dotEnv: withEnv('TELEGRAM_API_ROOT', 'api.telegram.org'), line: /TELEGRAM_API_ROOT is not an http\(s\) URL/ },
    { name: 'HEALTH_PORT malformed', dotEnv: withEnv('HEALTH_PORT', '99999'), line: /HEALTH_PORT is not a port number/ },
    { name: 'DEFAULT_TIMEZONE malformed', dotEnv: withEnv('DEFAULT_TIMEZONE', 'Mars/Olympus'), line: /DEFAULT_TIMEZONE is not an IANA time zone/ },
    { name: 'LOG_LEVEL malformed', dotEnv: withEnv('LOG_LEVEL', 'loud'), line: /LOG_LEVEL is not a log level/ },
    { name: 'LOG_MAX_BYTES malformed', dotEnv: withEnv('LOG_MAX_BYTES', '10MB'), line: /LOG_MAX_BYTES is not a size in bytes/ },
    { name: 'LOG_KEEP malformed', dotEnv: withEnv('LOG_KEEP', '0'), line: /LOG_KEEP is not a count of rotated files/ },
    { name: 'POLL_TIMEOUT_S malformed', dotEnv: withEnv('POLL_TIMEOUT_S', '100'), line: /POLL_TIMEOUT_S is not a long-poll timeout/ },
    { name: 'the Bot API cannot be reached', dotEnv: withEnv('TELEGRAM_API_ROOT', `http://127.0.0.1:${closed}`), args: [], line: new RegExp(`^✗ env: cannot reach http://127\\.0\\.0\\.1:${closed} for getMe: .+ — see: check the network, or rerun with --offline\\n$`) },
    { name: 'unknown flag', dotEnv: GOOD_ENV, args: ['--frobnicate'], line: /^✗ preflight: unknown flag --frobnicate — see: npx zx ops\/preflight\.mjs --help\n$/, code: 2 },
  ]
  for (const c of cases) {
    const file = path.join(box.dir, '.env')
    fs.rmSync(file, { force: true })
    if (c.dotEnv !== null) fs.writeFileSync(file, c.dotEnv, { mode: 0o600 })
    const before = snapshot(box.dir)
    const run = await box.run(c.args ?? ['--offline'])
    await t.test(`preflight: ${c.name}`, async (t) => {
      expectOneLine(t, run, { name: c.name, script: 'preflight', args: [], line: c.line, code: c.code })
      t.notMatch(run.stdout + run.stderr, TOKEN.split(':')[1] ?? TOKEN, 'the token is not shown')
      t.same(snapshot(box.dir), before, 'no file changed')
    })
  }
  // And the good .env passes, with a warning when others can read it.
  fs.writeFileSync(path.join(box.dir, '.env'), GOOD_ENV, { mode: 0o644 })
  fs.chmodSync(path.join(box.dir, '.env'), 0o644)
  const good = await box.run(['--offline'])
  t.equal(good.code, 0, good.stderr)
  t.match(good.stdout, /! preflight {2}\.env is readable by others: chmod 600 /)
  t.match(good.stdout, /✓ env {2}\.env valid for [0-9a-f]{7} \(token not checked: --offline\)/)
})
