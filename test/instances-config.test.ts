// Several instances, as the settings see them: WEB_CONCURRENCY above 1 only in webhook mode on
// PostgreSQL (polling: one poller per token; SQLite: one writer per file), refused at start with
// one line that says why; each PM2 instance gets its own health port; the ecosystem file runs
// WEB_CONCURRENCY instances and leaves one instance exactly as it was.
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { checkEnvironment, loadConfig, PROJECT_ROOT } from '../bot/config.js'
import { exited, spawnBot } from './support/bot-harness.js'

const BASE = { TELEGRAM_BOT_TOKEN: '123456:abcdefghijklmnopqrstuvwxyz', ALLOWED_USER_IDS: '1001' }
const WEBHOOK = { TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/telegram', TELEGRAM_WEBHOOK_SECRET: 'instances-config-secret-0123456789abcdef' }
const PG = { DATABASE_URL: 'postgres://bot:secret@127.0.0.1:5432/todo' }

t.test('instances config: more than one instance in polling mode is refused, saying why', async (t) => {
  t.same(checkEnvironment({ ...BASE, ...PG, WEB_CONCURRENCY: '2' }).problems, ['WEB_CONCURRENCY is 2, but polling mode runs one process per bot token (Telegram answers a second poller with 409): set WEB_CONCURRENCY=1, or use webhook mode (TELEGRAM_WEBHOOK_URL) on PostgreSQL'])
})

t.test('instances config: more than one instance on SQLite is refused, saying why', async (t) => {
  t.same(checkEnvironment({ ...BASE, ...WEBHOOK, WEB_CONCURRENCY: '3' }).problems, ['WEB_CONCURRENCY is 3, but SQLite allows one writing process per file: set WEB_CONCURRENCY=1, or use PostgreSQL (DATABASE_URL)'])
})

t.test('instances config: not a number, or out of range', async (t) => {
  for (const value of ['0', 'two', '65']) {
    t.same(checkEnvironment({ ...BASE, ...WEBHOOK, ...PG, WEB_CONCURRENCY: value }).problems, ['WEB_CONCURRENCY is not a number of instances: use 1–64 (default 1; more than 1 needs webhook mode on PostgreSQL)'], value)
  }
})

t.test('instances config: webhook mode on PostgreSQL takes several; each PM2 instance serves health on HEALTH_PORT + its number', async (t) => {
  const three = { ...BASE, ...WEBHOOK, ...PG, WEB_CONCURRENCY: '3', HEALTH_PORT: '9100' }
  t.match(loadConfig({ ...three, NODE_APP_INSTANCE: '0' }), { instances: 3, pm2Instance: 0, healthPort: 9100 })
  t.match(loadConfig({ ...three, NODE_APP_INSTANCE: '2' }), { instances: 3, pm2Instance: 2, healthPort: 9102 })
  t.match(loadConfig({ ...three, HEALTH_PORT: '0', NODE_APP_INSTANCE: '2' }), { healthPort: 0 }, '0 still means any free port')
  t.match(loadConfig({ ...BASE, HEALTH_PORT: '9100', NODE_APP_INSTANCE: '0' }), { instances: 1, pm2Instance: 0, healthPort: 9100 }, 'one instance: as before')
  t.match(loadConfig({ ...BASE }), { instances: 1, pm2Instance: null })
})

t.test('instances config: the bot refuses at start with the reason on one line, and exits 1', async (t) => {
  const bot = spawnBot({ ...BASE, TELEGRAM_API_ROOT: 'http://127.0.0.1:9', WEB_CONCURRENCY: '2' })
  t.same(await exited(bot), { code: 1, signal: null })
  t.equal(bot.output(), 'mister_todo: configuration is invalid:\n  WEB_CONCURRENCY is 2, but polling mode runs one process per bot token (Telegram answers a second poller with 409): set WEB_CONCURRENCY=1, or use webhook mode (TELEGRAM_WEBHOOK_URL) on PostgreSQL\n(see .env.example)\n')
})

type EcosystemApp = { instances: number, node_args: string[], env: Record<string, string> }

function ecosystem (env: Record<string, string>): EcosystemApp {
  const out = execFileSync(process.execPath, ['-e', "import('./ecosystem.config.js').then((m) => process.stdout.write(JSON.stringify(m.apps[0])))"], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' })
  return JSON.parse(out) as EcosystemApp
}

t.test('instances config: the ecosystem file runs WEB_CONCURRENCY instances; one instance as before', async (t) => {
  const one = ecosystem({})
  t.equal(one.instances, 1)
  t.same(Object.keys(one.env).sort(), ['HANDOVER_WAIT_S', 'LOG_FILE', 'MISTER_TODO_ROOT', 'NODE_ENV'], 'nothing added for one instance')
  t.match(ecosystem({ WEB_CONCURRENCY: '1' }), { instances: 1 })
  const three = ecosystem({ WEB_CONCURRENCY: '3' })
  t.equal(three.instances, 3)
  t.equal(three.env.WEB_CONCURRENCY, '3', 'the bot is told the same number')
  t.equal(ecosystem({ WEB_CONCURRENCY: 'lots' }).instances, 1, 'a wrong value runs one (the bot then says what is wrong)')
})

t.test('instances config: the ecosystem file runs every instance with the memory flags and one V8 helper thread', async (t) => {
  for (const app of [ecosystem({}), ecosystem({ WEB_CONCURRENCY: '3' })]) {
    t.same(app.node_args.slice(1), ['--max-semi-space-size=1', '--max-old-space-size=64', '--v8-pool-size=1'])
  }
})
