// Configuration: every variable validated, one line per problem naming the variable and the fix.
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { checkEnvironment, loadConfig, PROJECT_ROOT } from '../bot/config.js'

const good = { TELEGRAM_BOT_TOKEN: '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc', ALLOWED_USER_IDS: '42, 43' }

t.test('config: defaults fill everything optional', async (t) => {
  const c = loadConfig(good)
  t.same(c.allowedUserIds, [42, 43])
  t.equal(c.apiRoot, 'https://api.telegram.org')
  t.equal(c.databaseFile, `${PROJECT_ROOT}/storage/db/todo.sqlite`)
  t.equal(c.healthPort, 8787)
  t.equal(c.defaultTimezone, 'UTC')
  t.equal(c.logLevel, 'info')
  t.ok(Object.isFrozen(c))
})

t.test('config: each bad value is named with its fix', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ ALLOWED_USER_IDS: '1' }, 'TELEGRAM_BOT_TOKEN is missing: put the token @BotFather gave you in .env'],
    [{ ...good, TELEGRAM_BOT_TOKEN: 'nope' }, 'TELEGRAM_BOT_TOKEN does not look like a bot token (<digits>:<secret>): copy it again from @BotFather'],
    [{ TELEGRAM_BOT_TOKEN: good.TELEGRAM_BOT_TOKEN }, 'ALLOWED_USER_IDS is missing: put your Telegram user id in .env (ask @userinfobot)'],
    [{ ...good, ALLOWED_USER_IDS: '' }, 'ALLOWED_USER_IDS is empty: put your Telegram user id in .env (ask @userinfobot)'],
    [{ ...good, ALLOWED_USER_IDS: '12,abc' }, 'ALLOWED_USER_IDS has "abc" which is not a numeric Telegram user id: use comma-separated numbers like 123456789,987654321'],
    [{ ...good, TELEGRAM_API_ROOT: 'ftp://x' }, 'TELEGRAM_API_ROOT is not an http(s) URL: leave it unset for Telegram, or use e.g. http://127.0.0.1:8081'],
    [{ ...good, HEALTH_PORT: '99999' }, 'HEALTH_PORT is not a port number: use 0–65535 (0 picks a free port)'],
    [{ ...good, DEFAULT_TIMEZONE: 'Mars/Olympus' }, 'DEFAULT_TIMEZONE is not an IANA time zone: use a name like Europe/Berlin or UTC'],
    [{ ...good, LOG_LEVEL: 'loud' }, 'LOG_LEVEL is not a log level: use one of fatal, error, warn, info, debug, trace, silent'],
  ]
  for (const [env, expected] of cases) t.same(checkEnvironment(env).problems, [expected])
})

t.test('config: all problems are reported at once', async (t) => {
  t.same(checkEnvironment({ HEALTH_PORT: 'x' }).problems.map((p) => p.split(' ')[0]), ['TELEGRAM_BOT_TOKEN', 'ALLOWED_USER_IDS', 'HEALTH_PORT'])
})

t.test('config: the bot refuses to start on a bad .env, one line per problem, token never echoed', async (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bot/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, TELEGRAM_BOT_TOKEN: '123456:short', ALLOWED_USER_IDS: 'me' },
    encoding: 'utf8',
  })
  t.equal(r.status, 1)
  t.equal(r.stderr, [
    'mister_todo: configuration is invalid:',
    '  TELEGRAM_BOT_TOKEN does not look like a bot token (<digits>:<secret>): copy it again from @BotFather',
    '  ALLOWED_USER_IDS has "me" which is not a numeric Telegram user id: use comma-separated numbers like 123456789,987654321',
    '(see .env.example)',
    '',
  ].join('\n'))
})
