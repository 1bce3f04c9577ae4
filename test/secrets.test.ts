// Secrets and access, checked after a run that tries to leak them: the bot under Bot API faults,
// with a rejected token and an unreachable API; the ops scripts on their happy and error paths
// (preflight's and deploy's getMe against a closed port and with a wrong token). Afterwards the token is in no
// file the project wrote (names included) and in no output; the database and backups are
// owner-only; /healthz is loopback-only and shows no task text; a stranger left nothing behind.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, freePort, OWNER, spawnBot, tempDir, waitForLog } from './support/bot-harness.js'
import { git } from './support/code-sandbox.js'
import { createPreflightSandbox, createSandbox, type Run } from './support/ops-sandbox.js'

const TOKEN = '987654321:SECRET-zz9PluralZAlpha-qwertyuiop'
const WRONG_TOKEN = '987654321:WRONG-not-the-token-asdfghjklzxcv'
const SECRETS = [TOKEN.split(':')[1] ?? TOKEN, WRONG_TOKEN.split(':')[1] ?? WRONG_TOKEN]
const TASK_TEXT = 'call the notary about the inheritance'
const STRANGER = 424242421
const STRANGER_TEXT = 'stranger wants in 1337'

/** Every file under `root` but node_modules and .git: path → contents. */
function filesUnder (root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === '.git') continue
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(file)
      else if (entry.isFile()) out.set(file, fs.readFileSync(file))
    }
  }
  walk(root)
  return out
}

const mode = (file: string): string => (fs.statSync(file).mode & 0o777).toString(8)

/** Resolves with the connection error code, or 'connected'. */
function connect (host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.once('connect', () => { socket.destroy(); resolve('connected') })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
}

const emu = await BotApiEmulator.start({ token: TOKEN })
t.teardown(() => emu.stop())
const box = await createSandbox(t)
const logFile = path.join(box.root, 'storage', 'logs', 'bot.log')
fs.mkdirSync(path.dirname(logFile), { recursive: true })
// The bot creates its own database here (the sandbox's one is removed first).
fs.rmSync(path.join(box.root, 'storage', 'db'), { recursive: true, force: true })
fs.writeFileSync(path.join(box.root, '.env'), `TELEGRAM_BOT_TOKEN=${TOKEN}\nALLOWED_USER_IDS=${OWNER}\n`, { mode: 0o600 })
const port = await freePort()
const env = botEnv(emu, box.root, { DATABASE_FILE: box.dbFile, HEALTH_PORT: String(port), LOG_LEVEL: 'info', ALLOWED_USER_IDS: String(OWNER) })
const outputs: string[] = []
const keep = (run: Run): Run => {
  outputs.push(run.stdout + run.stderr)
  return run
}

t.test('secrets: the bot under faults, with a wrong token and with no API, logs no token', async (t) => {
  const bot = spawnBot(env)
  t.teardown(() => { bot.kill('SIGKILL') })
  await waitForLog(bot, /"msg":"ready"/)
  emu.sendText(OWNER, OWNER, TASK_TEXT)
  await emu.waitForMessage(OWNER)
  // A stranger tries everything a user can do.
  emu.sendText(STRANGER, STRANGER, STRANGER_TEXT)
  emu.sendText(STRANGER, STRANGER, '/list')
  emu.pressButton(STRANGER, STRANGER, 1, 'x:1:0:o')
  emu.sendText(STRANGER, -100500, `${STRANGER_TEXT} in a group`)
  await emu.waitFor(() => emu.messages(STRANGER).length >= 2 && emu.messages(-100500).length >= 1, 20_000)
  // Errors whose cause carries the request URL (…/bot<token>/sendMessage).
  emu.failNext('sendMessage', { status: 500 }, 3)
  emu.failNext('sendMessage', { drop: true }, 3)
  emu.failNext('getUpdates', { status: 502 }, 1)
  emu.sendText(OWNER, OWNER, '/list')
  emu.sendText(OWNER, OWNER, 'second task')
  await emu.waitFor(() => emu.messages(OWNER).some((m) => m.rendered.includes('Your tasks')) && emu.messages(OWNER).some((m) => m.rendered.endsWith('second task')), 30_000)
  await t.test('secrets: /healthz is on loopback only and shows numbers only', async (t) => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`)
    const body = await res.text()
    t.equal(res.status, 200)
    t.notMatch(body, TASK_TEXT)
    t.notMatch(body, 'second task')
    t.equal(await connect('127.0.0.2', port), 'ECONNREFUSED', 'not on another loopback address')
    t.equal(await connect('::1', port), 'ECONNREFUSED', 'not on IPv6')
    t.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404)
  })
  bot.kill('SIGINT')
  t.equal((await exited(bot)).code, 0)
  fs.appendFileSync(logFile, bot.output())

  const broken: Array<[Record<string, string>, RegExp]> = [
    [{ TELEGRAM_BOT_TOKEN: WRONG_TOKEN }, /Telegram rejected the bot token \(401 Unauthorized\): check TELEGRAM_BOT_TOKEN in \.env, or ask @BotFather for a new one/],
    [{ TELEGRAM_API_ROOT: `http://127.0.0.1:${await freePort()}` }, /cannot reach the Bot API \(TELEGRAM_API_ROOT\): /],
  ]
  for (const [extra, why] of broken) {
    const failing = spawnBot({ ...env, ...extra })
    t.equal((await exited(failing)).code, 1, `the bot refuses to start with ${Object.keys(extra).join()}`)
    t.match(failing.output(), why, `the refusal names what is wrong with ${Object.keys(extra).join()}`)
    fs.appendFileSync(logFile, failing.output())
  }
})

t.test('secrets: ops scripts on their happy and error paths print no token', async (t) => {
  const runs = [
    await box.run('backup', []),
    await box.run('backup', []),
    await box.run('backup', ['--list']),
    await box.run('migrate', ['status']),
    await box.run('restore', ['--dry-run']),
    await box.run('health', []),
    await box.run('logs', ['--no-follow', '--lines', '500']),
    await box.run('logs', ['--no-follow', '--errors']),
  ].map(keep)
  t.same(runs.map((r) => r.code), [0, 0, 0, 0, 0, 1, 0, 0], runs.map((r) => r.stderr).join(''))
  t.match(runs[6]?.stdout, /getUpdates failed|reply not delivered|rejected/, 'the log shows the faults')

  const pf = createPreflightSandbox()
  t.teardown(pf.cleanup)
  const dotEnv = (extra: string): void => fs.writeFileSync(path.join(pf.dir, '.env'), `TELEGRAM_BOT_TOKEN=${TOKEN}\nALLOWED_USER_IDS=${OWNER}\n${extra}`, { mode: 0o600 })
  dotEnv(`TELEGRAM_API_ROOT=http://127.0.0.1:${await freePort()}\n`)
  const closed = keep(await pf.run([]))
  t.equal(closed.code, 1)
  t.match(closed.stderr, /^✗ env: cannot reach http:\/\/127\.0\.0\.1:\d+ for getMe: .*ECONNREFUSED.* — see: check the network, or rerun with --offline\n$/)
  fs.writeFileSync(path.join(pf.dir, '.env'), `TELEGRAM_BOT_TOKEN=${WRONG_TOKEN}\nALLOWED_USER_IDS=${OWNER}\nTELEGRAM_API_ROOT=${emu.apiRoot}\n`, { mode: 0o600 })
  const wrong = keep(await pf.run([]))
  t.match(wrong.stderr, /^✗ env: Telegram refuses TELEGRAM_BOT_TOKEN \(401 Unauthorized\): the token is wrong or revoked — see: copy the token again from @BotFather into \.env\n$/)
  dotEnv(`TELEGRAM_API_ROOT=${emu.apiRoot}\n`)
  const good = keep(await pf.run([]))
  t.equal(good.code, 0, good.stderr)
  t.match(good.stdout, /✓ env {2}\.env valid for [0-9a-f]{7}, token works \(@mister_todo_bot\)/)
  fs.chmodSync(path.join(pf.dir, '.env'), 0o640)
  t.match(keep(await pf.run(['--offline'])).stdout, /! preflight {2}\.env is readable by others: chmod 600 /, 'preflight warns about a .env others can read')
  fs.chmodSync(path.join(pf.dir, '.env'), 0o600)

  // Deploys that fail while the token is at hand: their reasons go to the journal.
  const dev = path.join(tempDir(), 'dev')
  t.teardown(() => fs.rmSync(path.dirname(dev), { recursive: true, force: true }))
  git(path.dirname(dev), 'clone', '-q', pf.origin, dev)
  fs.writeFileSync(path.join(dev, 'NOTES.md'), 'incoming\n')
  git(dev, 'add', '-A')
  git(dev, 'commit', '-qm', 'incoming')
  git(dev, 'push', '-q', 'origin', 'main')
  const noApi = await freePort()
  dotEnv(`TELEGRAM_API_ROOT=http://127.0.0.1:${noApi}\n`)
  t.match(keep(await pf.run(['--yes', '--test-command', 'true'], {}, 'deploy')).stderr, `✗ deploy: nothing changed: cannot reach http://127.0.0.1:${noApi} for getMe: connect ECONNREFUSED 127.0.0.1:${noApi}`)
  fs.writeFileSync(path.join(pf.dir, '.env'), `TELEGRAM_BOT_TOKEN=${WRONG_TOKEN}\nALLOWED_USER_IDS=${OWNER}\nTELEGRAM_API_ROOT=${emu.apiRoot}\n`, { mode: 0o600 })
  t.match(keep(await pf.run(['--yes', '--test-command', 'true'], {}, 'deploy')).stderr, '✗ deploy: nothing changed: Telegram refuses TELEGRAM_BOT_TOKEN (401 Unauthorized): the token is wrong or revoked')
  t.match(keep(await pf.run(['--history'], {}, 'deploy')).stdout, /failed/)
  t.equal(fs.readFileSync(path.join(pf.dir, 'storage', 'deploys.jsonl'), 'utf8').trim().split('\n').length, 2, 'both failures are in the journal')

  for (const [i, out] of outputs.entries()) {
    for (const secret of SECRETS) t.notOk(out.includes(secret), `output ${i}: no token`)
  }
  for (const root of [box.root, pf.dir]) {
    for (const [file, bytes] of filesUnder(root)) {
      if (file === path.join(root, '.env')) continue
      for (const secret of SECRETS) {
        t.notOk(file.includes(secret), `${path.relative(root, file)}: no token in the name`)
        t.notOk(bytes.includes(secret), `${path.relative(root, file)}: no token inside`)
      }
    }
  }
  t.notMatch(fs.readFileSync(logFile, 'utf8'), /\/bot\d{5,}:/, 'no Bot API URL with a token in the log')
  t.notOk(fs.readFileSync(logFile, 'utf8').includes(TASK_TEXT), 'no task text in the info log')
})

t.test('secrets: the database and backups are owner-only', async (t) => {
  const db = path.dirname(box.dbFile)
  t.equal(mode(db), '700', 'storage/db is 0700')
  for (const name of fs.readdirSync(db)) t.equal(mode(path.join(db, name)), '600', `storage/db/${name} is 0600`)
  t.equal(mode(box.backupsDir), '700', 'storage/backups is 0700')
  t.ok(box.backups().length >= 4)
  for (const name of box.backups()) t.equal(mode(path.join(box.backupsDir, name)), '600', `storage/backups/${name} is 0600`)
})

t.test('secrets: a stranger left nothing in any table', async (t) => {
  const db = new Database(box.dbFile, { readonly: true })
  t.teardown(() => db.close())
  const tables = db.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'").pluck().all() as string[]
  t.ok(tables.includes('tasks') && tables.includes('chats'))
  for (const table of tables) {
    const dump = JSON.stringify(db.prepare(`select * from "${table}"`).all())
    t.notMatch(dump, String(STRANGER), `${table}: no stranger id`)
    t.notMatch(dump, '-100500', `${table}: no stranger group`)
    t.notMatch(dump, 'stranger wants in', `${table}: no stranger text`)
  }
  t.same(emu.messages(STRANGER).map((m) => m.rendered.split(' (')[0]), ['Sorry, this is a private to-do bot.', 'Sorry, this is a private to-do bot.'], 'only the refusal')
  t.notMatch(fs.readFileSync(logFile, 'utf8'), 'stranger wants in', 'their text is not logged')
})
