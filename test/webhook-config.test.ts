// Webhook settings: validated like every other variable, one line per problem naming the
// variable and the fix; the secret is never echoed.
import t from 'tap'
import { checkEnvironment, loadConfig } from '../bot/config.js'

const good = { TELEGRAM_BOT_TOKEN: '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc', ALLOWED_USER_IDS: '42' }
const SECRET = 'Abc_def-0123456789abcdefghijklmnopq'

t.test('webhook config: unset URL means polling', async (t) => {
  t.equal(loadConfig(good).webhook, null)
})

t.test('webhook config: the URL, its path, the listen address and the defaults', async (t) => {
  const c = loadConfig({ ...good, TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/telegram', TELEGRAM_WEBHOOK_SECRET: SECRET })
  t.same(c.webhook, { url: 'https://bot.example.org/telegram', path: '/telegram', host: '127.0.0.1', port: 8443, secret: SECRET, maxConnections: 40 })
  const d = loadConfig({ ...good, TELEGRAM_WEBHOOK_URL: 'http://127.0.0.1:9000/hook/x', TELEGRAM_WEBHOOK_SECRET: SECRET, WEBHOOK_LISTEN: '[::1]:9000', WEBHOOK_MAX_CONNECTIONS: '100' })
  t.same(d.webhook, { url: 'http://127.0.0.1:9000/hook/x', path: '/hook/x', host: '::1', port: 9000, secret: SECRET, maxConnections: 100 })
  t.equal(loadConfig({ ...good, TELEGRAM_WEBHOOK_URL: 'https://bot.example.org', TELEGRAM_WEBHOOK_SECRET: SECRET }).webhook?.path, '/')
})

t.test('webhook config: each bad value is named with its fix, the secret never echoed', async (t) => {
  const hook = { ...good, TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/telegram', TELEGRAM_WEBHOOK_SECRET: SECRET }
  const shape = 'use the public https URL your reverse proxy serves, e.g. https://bot.example.org/telegram, or leave it unset to poll'
  const cases: Array<[Record<string, string>, string]> = [
    [{ ...hook, TELEGRAM_WEBHOOK_URL: 'bot.example.org/telegram' }, `TELEGRAM_WEBHOOK_URL is not a URL: ${shape}`],
    [{ ...hook, TELEGRAM_WEBHOOK_URL: 'http://bot.example.org/telegram' }, `TELEGRAM_WEBHOOK_URL is http://, which Telegram refuses: ${shape}`],
    [{ ...hook, TELEGRAM_WEBHOOK_URL: 'ftp://bot.example.org/telegram' }, `TELEGRAM_WEBHOOK_URL is not an https URL: ${shape}`],
    [{ ...hook, TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/telegram?x=1' }, `TELEGRAM_WEBHOOK_URL has a query or fragment: the bot listens on the path alone, ${shape}`],
    [{ ...hook, TELEGRAM_WEBHOOK_SECRET: undefined as unknown as string }, 'TELEGRAM_WEBHOOK_SECRET is missing, and webhook mode (TELEGRAM_WEBHOOK_URL) needs it: put 32+ random characters of A-Z a-z 0-9 _ - in .env (e.g. the output of: openssl rand -hex 32)'],
    [{ ...hook, TELEGRAM_WEBHOOK_SECRET: 'short-secret' }, 'TELEGRAM_WEBHOOK_SECRET is not a usable secret token: use 32–256 characters of A-Z a-z 0-9 _ - (e.g. the output of: openssl rand -hex 32)'],
    [{ ...hook, TELEGRAM_WEBHOOK_SECRET: `${SECRET}!` }, 'TELEGRAM_WEBHOOK_SECRET is not a usable secret token: use 32–256 characters of A-Z a-z 0-9 _ - (e.g. the output of: openssl rand -hex 32)'],
    [{ ...hook, WEBHOOK_LISTEN: '8443' }, 'WEBHOOK_LISTEN is not host:port: use e.g. 127.0.0.1:8443 (the address your reverse proxy forwards to; port 0 picks a free one)'],
    [{ ...hook, WEBHOOK_LISTEN: '127.0.0.1:70000' }, 'WEBHOOK_LISTEN is not host:port: use e.g. 127.0.0.1:8443 (the address your reverse proxy forwards to; port 0 picks a free one)'],
    [{ ...hook, WEBHOOK_MAX_CONNECTIONS: '0' }, 'WEBHOOK_MAX_CONNECTIONS is not a number of connections: use 1–100 (default 40)'],
    [{ ...hook, WEBHOOK_MAX_CONNECTIONS: '101' }, 'WEBHOOK_MAX_CONNECTIONS is not a number of connections: use 1–100 (default 40)'],
  ]
  for (const [env, expected] of cases) {
    const problems = checkEnvironment(env).problems
    t.same(problems, [expected], expected)
    t.notOk(problems.join('\n').includes(SECRET), 'the secret is not in the message')
  }
})

t.test('webhook config: the missing secret is reported with the other problems at once', async (t) => {
  t.same(checkEnvironment({ ...good, HEALTH_PORT: 'x', TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/t' }).problems.map((p) => p.split(' ')[0]), ['HEALTH_PORT', 'TELEGRAM_WEBHOOK_SECRET'])
})
