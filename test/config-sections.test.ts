// bot/config.ts's first half, section by section, without starting anything: webhook mode (the
// URL, the listen address, the secret, the connections and the settings made of them), several
// instances (WEB_CONCURRENCY, each instance's health port) and the DATABASE_URL helpers. Every
// value accepted at its edge and refused one past it, in the exact words the operator reads.
import t from 'tap'
import { checkEnvironment, loadConfig, postgresUrlProblem, redactUrl, webhookUrlProblem } from '../bot/config.js'

const BASE = { TELEGRAM_BOT_TOKEN: '123456:abcdefghijklmnopqrstuvwxyz', ALLOWED_USER_IDS: '1001' }
const SECRET = 'config-sections-secret-0123456789abcdef'
const WEBHOOK = { TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/telegram', TELEGRAM_WEBHOOK_SECRET: SECRET }
const PG = { DATABASE_URL: 'postgres://bot:secret@127.0.0.1:5432/todo' }
const problems = (env: Record<string, string>): string[] => checkEnvironment({ ...BASE, ...env }).problems
const SHAPE = 'use the public https URL your reverse proxy serves, e.g. https://bot.example.org/telegram, or leave it unset to poll'

t.test('config sections: the webhook URL, each refusal in its words', async (t) => {
  t.equal(webhookUrlProblem('https://bot.example.org/telegram'), null)
  t.equal(webhookUrlProblem('http://127.0.0.1:8443/hook'), null, 'http on loopback: a local proxy or a test')
  t.equal(webhookUrlProblem('http://localhost/hook'), null)
  t.equal(webhookUrlProblem('http://[::1]:9000/hook'), null)
  t.equal(webhookUrlProblem('not a url'), `is not a URL: ${SHAPE}`)
  t.equal(webhookUrlProblem('http://bot.example.org/telegram'), `is http://, which Telegram refuses: ${SHAPE}`)
  t.equal(webhookUrlProblem('ftp://bot.example.org/telegram'), `is not an https URL: ${SHAPE}`)
  t.equal(webhookUrlProblem('https://bot.example.org/telegram?x=1'), `has a query or fragment: the bot listens on the path alone, ${SHAPE}`)
  t.equal(webhookUrlProblem('https://bot.example.org/telegram#top'), `has a query or fragment: the bot listens on the path alone, ${SHAPE}`)
  t.same(problems({ ...WEBHOOK, TELEGRAM_WEBHOOK_URL: 'http://bot.example.org/x' }), [`TELEGRAM_WEBHOOK_URL is http://, which Telegram refuses: ${SHAPE}`])
})

t.test('config sections: the webhook settings made of the variables', async (t) => {
  t.strictSame({ ...loadConfig({ ...BASE, ...WEBHOOK }).webhook }, { url: 'https://bot.example.org/telegram', path: '/telegram', host: '127.0.0.1', port: 8443, secret: SECRET, maxConnections: 40 })
  t.strictSame({ ...loadConfig({ ...BASE, ...WEBHOOK, TELEGRAM_WEBHOOK_URL: ' https://bot.example.org ', WEBHOOK_LISTEN: '[::1]:0', WEBHOOK_MAX_CONNECTIONS: '100' }).webhook }, { url: 'https://bot.example.org/', path: '/', host: '::1', port: 0, secret: SECRET, maxConnections: 100 })
  t.strictSame({ ...loadConfig({ ...BASE, ...WEBHOOK, WEBHOOK_LISTEN: 'proxy-host.local:65535', WEBHOOK_MAX_CONNECTIONS: '1' }).webhook }, { url: 'https://bot.example.org/telegram', path: '/telegram', host: 'proxy-host.local', port: 65535, secret: SECRET, maxConnections: 1 })
  t.equal(loadConfig(BASE).webhook, null, 'no URL: polling')
  t.ok(Object.isFrozen(loadConfig({ ...BASE, ...WEBHOOK }).webhook))
})

t.test('config sections: the listen address, the connections and the secret, at their edges', async (t) => {
  const listen = 'WEBHOOK_LISTEN is not host:port: use e.g. 127.0.0.1:8443 (the address your reverse proxy forwards to; port 0 picks a free one)'
  for (const v of ['127.0.0.1', '127.0.0.1:65536', ':8443', 'host:123456', 'a b:1', '[zz]:1', 'x:1:']) t.same(problems({ ...WEBHOOK, WEBHOOK_LISTEN: v }), [listen], v)
  const connections = 'WEBHOOK_MAX_CONNECTIONS is not a number of connections: use 1–100 (default 40)'
  for (const v of ['0', '101', '4x', '-1', '1.5']) t.same(problems({ ...WEBHOOK, WEBHOOK_MAX_CONNECTIONS: v }), [connections], v)
  const secret = 'TELEGRAM_WEBHOOK_SECRET is not a usable secret token: use 32–256 characters of A-Z a-z 0-9 _ - (e.g. the output of: openssl rand -hex 32)'
  for (const v of ['a'.repeat(31), 'a'.repeat(257), `${'a'.repeat(32)}!`, `!${'a'.repeat(32)}`]) t.same(problems({ ...WEBHOOK, TELEGRAM_WEBHOOK_SECRET: v }), [secret], `${v.length} characters`)
  for (const v of ['a'.repeat(32), 'A-z_9'.repeat(51) + 'x']) t.same(problems({ ...WEBHOOK, TELEGRAM_WEBHOOK_SECRET: v }), [], `${v.length} characters`)
  t.same(problems({ TELEGRAM_WEBHOOK_URL: WEBHOOK.TELEGRAM_WEBHOOK_URL }), ['TELEGRAM_WEBHOOK_SECRET is missing, and webhook mode (TELEGRAM_WEBHOOK_URL) needs it: put 32+ random characters of A-Z a-z 0-9 _ - in .env (e.g. the output of: openssl rand -hex 32)'])
  t.same(problems({ TELEGRAM_WEBHOOK_SECRET: SECRET }), [], 'a secret without a URL is harmless')
})

t.test('config sections: several instances only in webhook mode on PostgreSQL, each refusal saying why', async (t) => {
  t.same(problems({ ...PG, WEB_CONCURRENCY: '2' }), ['WEB_CONCURRENCY is 2, but polling mode runs one process per bot token (Telegram answers a second poller with 409): set WEB_CONCURRENCY=1, or use webhook mode (TELEGRAM_WEBHOOK_URL) on PostgreSQL'])
  t.same(problems({ ...WEBHOOK, WEB_CONCURRENCY: '3' }), ['WEB_CONCURRENCY is 3, but SQLite allows one writing process per file: set WEB_CONCURRENCY=1, or use PostgreSQL (DATABASE_URL)'])
  t.same(problems({ WEB_CONCURRENCY: '1' }), [], 'one is always fine')
  t.same(problems({ ...WEBHOOK, ...PG, WEB_CONCURRENCY: '64' }), [])
  for (const value of ['0', 'two', '65', '2.5']) {
    t.same(problems({ ...WEBHOOK, ...PG, WEB_CONCURRENCY: value }), ['WEB_CONCURRENCY is not a number of instances: use 1–64 (default 1; more than 1 needs webhook mode on PostgreSQL)'], value)
  }
  t.same(problems({ NODE_APP_INSTANCE: 'first' }), ['NODE_APP_INSTANCE is not an instance number (PM2 sets it: 0, 1, …)'])
})

t.test('config sections: each instance serves health on HEALTH_PORT + its number; one instance and port 0 as they are', async (t) => {
  const three = { ...WEBHOOK, ...PG, WEB_CONCURRENCY: '3', HEALTH_PORT: '9100' }
  const of = (env: Record<string, string>): unknown[] => { const c = loadConfig({ ...BASE, ...env }); return [c.instances, c.pm2Instance, c.healthPort] }
  t.same(of({ ...three, NODE_APP_INSTANCE: '0' }), [3, 0, 9100])
  t.same(of({ ...three, NODE_APP_INSTANCE: '2' }), [3, 2, 9102])
  t.same(of({ ...three }), [3, null, 9100], 'no instance number: the port itself')
  t.same(of({ ...three, HEALTH_PORT: '0', NODE_APP_INSTANCE: '2' }), [3, 2, 0], '0 still means any free port')
  t.same(of({ HEALTH_PORT: '9100', NODE_APP_INSTANCE: '2' }), [1, 2, 9100], 'one instance: the port as set')
  t.same(of({}), [1, null, 8787])
})

t.test('config sections: DATABASE_URL problems never repeat the value, and the shown URL hides the password', async (t) => {
  const shape = 'write it as postgres://user:password@host:5432/database (percent-encode @ : / in the password), or leave it unset for SQLite'
  t.equal(postgresUrlProblem('postgres://bot:pw@db:5432/todo'), null)
  t.equal(postgresUrlProblem('postgresql://bot@db/todo'), null)
  t.equal(postgresUrlProblem('nonsense'), `is not a URL: ${shape}`)
  t.equal(postgresUrlProblem('mysql://bot:pw@db/todo'), `is not a PostgreSQL URL (it starts with mysql://): ${shape}`)
  t.equal(postgresUrlProblem('x-y.z+1://h/d'), `is not a PostgreSQL URL (it starts with x-y.z+1://): ${shape}`)
  t.equal(postgresUrlProblem('postgres:///todo'), `names no host: ${shape}`)
  t.equal(postgresUrlProblem('postgres://bot:pw@db:5432/'), `names no database: ${shape}`)
  t.equal(postgresUrlProblem('postgres://bot:pw@db:5432'), `names no database: ${shape}`)
  t.equal(redactUrl('postgres://bot:s3cret@db:5432/todo'), 'postgres://bot:xxxxx@db:5432/todo')
  t.equal(redactUrl('postgres://bot@db:5432/todo'), 'postgres://bot@db:5432/todo')
  t.equal(redactUrl('not a url'), '(DATABASE_URL)')
})

t.test('config sections: spaces around a value are not part of it', async (t) => {
  const c = loadConfig({ ...BASE, ...WEBHOOK, ...PG, TELEGRAM_WEBHOOK_SECRET: ` ${SECRET} `, WEBHOOK_MAX_CONNECTIONS: ' 7 ', WEB_CONCURRENCY: ' 2 ', NODE_APP_INSTANCE: ' 1 ', HEALTH_PORT: '9100' })
  t.same([c.webhook?.secret, c.webhook?.maxConnections, c.instances, c.pm2Instance, c.healthPort], [SECRET, 7, 2, 1, 9101])
  t.same(problems({ ALLOWED_USER_IDS: '42, 43', OWNER_USER_ID: ' 43 ' }), ['OWNER_USER_ID 43 is not the first id of ALLOWED_USER_IDS, and the first listed id is the owner: put 43 first in ALLOWED_USER_IDS or remove OWNER_USER_ID'])
})
