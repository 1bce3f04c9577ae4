// Configuration values one by one (bot/config.ts): every default, every limit accepted at its
// edge and refused one past it in the exact words the operator reads, blank values as unset,
// and the token-free readers the ops scripts use (database target, copy settings).
import path from 'node:path'
import t from 'tap'
import { checkEnvironment, ConfigError, copySettingsFrom, databaseFileFrom, databaseTargetFrom, loadConfig, PROJECT_ROOT, redactUrl } from '../bot/config.js'

const TOKEN = '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc'
const good = { TELEGRAM_BOT_TOKEN: TOKEN, ALLOWED_USER_IDS: '42, 43' }
const problems = (env: Record<string, string>): string[] => checkEnvironment({ ...good, ...env }).problems

t.test('config: the whole config with nothing optional set', async (t) => {
  const c = loadConfig(good)
  t.strictSame({ ...c }, {
    token: TOKEN,
    allowedUserIds: [42, 43],
    openToAll: false,
    ownerUserId: 42,
    limits: { ratePerMinute: 30, maxTasksPerChat: 10_000 },
    apiRoot: 'https://api.telegram.org',
    databaseFile: path.join(PROJECT_ROOT, 'storage/db/todo.sqlite'),
    database: { engine: 'sqlite', file: path.join(PROJECT_ROOT, 'storage/db/todo.sqlite') },
    healthPort: 8787,
    defaultTimezone: 'UTC',
    logLevel: 'info',
    pollTimeoutS: 25,
    logFile: undefined,
    logMaxBytes: 10_485_760,
    logKeep: 5,
    handoverWaitS: 0,
    projectRoot: PROJECT_ROOT,
    dataRoot: PROJECT_ROOT,
    backupSchedule: '0 3 * * *',
    drillSchedule: '30 4 * * 0',
    backupCopyTo: null,
    backupCopyCommand: null,
    backupCopyTimeoutS: 600,
    webhook: null,
    instances: 1,
    pm2Instance: null,
  })
  t.ok(Object.isFrozen(c.allowedUserIds) && Object.isFrozen(c.limits) && Object.isFrozen(c.database), 'its parts are frozen too')
})

t.test('config: every value set, with the spaces around it trimmed', async (t) => {
  const c = loadConfig({
    TELEGRAM_BOT_TOKEN: ` ${TOKEN} `,
    ALLOWED_USER_IDS: ' 43, 42,,43 ',
    TELEGRAM_API_ROOT: ' http://127.0.0.1:8081// ',
    DATABASE_FILE: ' db/todo.sqlite ',
    HEALTH_PORT: ' 0 ',
    DEFAULT_TIMEZONE: ' Europe/Berlin ',
    LOG_LEVEL: 'debug',
    LOG_FILE: ' logs/bot.log ',
    LOG_MAX_BYTES: ' 1024 ',
    LOG_KEEP: ' 100 ',
    HANDOVER_WAIT_S: ' 600 ',
    MISTER_TODO_ROOT: ' /srv/todo ',
    POLL_TIMEOUT_S: ' 50 ',
    BACKUP_SCHEDULE: ' 15  2 * * * ',
    DRILL_SCHEDULE: 'off',
    BACKUP_COPY_TO: ' /mnt/copies ',
    BACKUP_COPY_COMMAND: ' rsync {file} host:backups/ ',
    BACKUP_COPY_TIMEOUT_S: ' 86400 ',
    RATE_LIMIT_PER_MINUTE: ' 10000 ',
    MAX_TASKS_PER_CHAT: ' 1000000 ',
    NODE_APP_INSTANCE: ' 0 ',
  })
  t.strictSame({ ...c }, {
    token: TOKEN,
    allowedUserIds: [43, 42],
    openToAll: false,
    ownerUserId: 43,
    limits: { ratePerMinute: 10_000, maxTasksPerChat: 1_000_000 },
    apiRoot: 'http://127.0.0.1:8081',
    databaseFile: '/srv/todo/db/todo.sqlite',
    database: { engine: 'sqlite', file: '/srv/todo/db/todo.sqlite' },
    healthPort: 0,
    defaultTimezone: 'Europe/Berlin',
    logLevel: 'debug',
    pollTimeoutS: 50,
    logFile: '/srv/todo/logs/bot.log',
    logMaxBytes: 1024,
    logKeep: 100,
    handoverWaitS: 600,
    projectRoot: PROJECT_ROOT,
    dataRoot: '/srv/todo',
    backupSchedule: '15 2 * * *',
    drillSchedule: null,
    backupCopyTo: '/mnt/copies',
    backupCopyCommand: ['rsync', '{file}', 'host:backups/'],
    backupCopyTimeoutS: 86_400,
    webhook: null,
    instances: 1,
    pm2Instance: 0,
  })
})

t.test('config: a blank optional value counts as unset, so its default applies', async (t) => {
  const c = loadConfig({ ...good, HEALTH_PORT: '  ', DATABASE_FILE: '', LOG_LEVEL: ' ', MISTER_TODO_ROOT: '\t', DATABASE_URL: ' ', TELEGRAM_WEBHOOK_URL: '', BACKUP_COPY_TO: ' ' })
  t.equal(c.healthPort, 8787)
  t.equal(c.databaseFile, path.join(PROJECT_ROOT, 'storage/db/todo.sqlite'))
  t.equal(c.logLevel, 'info')
  t.equal(c.dataRoot, PROJECT_ROOT)
  t.equal(c.database.engine, 'sqlite')
  t.equal(c.webhook, null)
  t.equal(c.backupCopyTo, null)
})

t.test('config: a required value set but blank is named as empty, with what to put there', async (t) => {
  t.strictSame(problems({ TELEGRAM_BOT_TOKEN: '   ' }), ['TELEGRAM_BOT_TOKEN is empty: put the token @BotFather gave you in .env'])
  t.strictSame(problems({ ALLOWED_USER_IDS: '' }), ['ALLOWED_USER_IDS is empty: put your Telegram user id in .env (ask @userinfobot)'])
  t.strictSame(checkEnvironment({ TELEGRAM_BOT_TOKEN: '', ALLOWED_USER_IDS: ' \t', OWNER_USER_ID: '42', DATABASE_FILE: ' ' }).problems, [
    'TELEGRAM_BOT_TOKEN is empty: put the token @BotFather gave you in .env',
    'ALLOWED_USER_IDS is empty: put your Telegram user id in .env (ask @userinfobot)',
  ], 'as .env.example has them: one line each, and nothing about the optional blanks beside them')
  t.strictSame(checkEnvironment({ DATABASE_FILE: '' }).problems, [
    'TELEGRAM_BOT_TOKEN is missing: put the token @BotFather gave you in .env',
    'ALLOWED_USER_IDS is missing: put your Telegram user id in .env (ask @userinfobot)',
  ], 'not in the environment at all: missing')
})

t.test('config: every log level is accepted', async (t) => {
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) t.equal(loadConfig({ ...good, LOG_LEVEL: level }).logLevel, level)
})

t.test('config: each number is accepted at its limits and refused one past them', async (t) => {
  const accepted: Array<[string, string, (c: ReturnType<typeof loadConfig>) => unknown, unknown]> = [
    ['HEALTH_PORT', '65535', (c) => c.healthPort, 65_535],
    ['LOG_MAX_BYTES', '1024', (c) => c.logMaxBytes, 1024],
    ['LOG_KEEP', '1', (c) => c.logKeep, 1],
    ['HANDOVER_WAIT_S', '0', (c) => c.handoverWaitS, 0],
    ['POLL_TIMEOUT_S', '0', (c) => c.pollTimeoutS, 0],
    ['BACKUP_COPY_TIMEOUT_S', '1', (c) => c.backupCopyTimeoutS, 1],
    ['RATE_LIMIT_PER_MINUTE', '1', (c) => c.limits.ratePerMinute, 1],
    ['MAX_TASKS_PER_CHAT', '1', (c) => c.limits.maxTasksPerChat, 1],
  ]
  for (const [key, value, read, expected] of accepted) t.equal(read(loadConfig({ ...good, [key]: value })), expected, `${key}=${value}`)
  const refused: Array<[string, string[], string]> = [
    ['HEALTH_PORT', ['65536', '-1', '80a'], 'is not a port number: use 0–65535 (0 picks a free port)'],
    ['LOG_MAX_BYTES', ['1023', '10MB'], 'is not a size in bytes: use a number of at least 1024 (default 10485760, 10 MB)'],
    ['LOG_KEEP', ['0', '101', 'x5'], 'is not a count of rotated files: use 1–100 (default 5)'],
    ['HANDOVER_WAIT_S', ['601', '1m'], 'is not a number of seconds: use 0–600 (0: refuse at once when another bot holds the database)'],
    ['POLL_TIMEOUT_S', ['51', '5s'], 'is not a long-poll timeout: use 0–50 seconds'],
    ['BACKUP_COPY_TIMEOUT_S', ['86401', '1h'], 'is not a time limit in seconds: use 1–86400 (default 600)'],
    ['RATE_LIMIT_PER_MINUTE', ['10001', '5/m'], 'is not a number of updates per minute: use 1–10000 (default 30)'],
    ['MAX_TASKS_PER_CHAT', ['0', '1000001'], 'is not a number of tasks: use 1–1000000 (default 10000)'],
    ['DATABASE_POOL_MAX', ['101', 'x'], 'is not a number of connections: use 1–100 (default 5)'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', ['3600001'], 'is not a time limit in milliseconds: use 0–3600000 (default 15000; 0: no limit)'],
  ]
  for (const [key, values, message] of refused) {
    for (const value of values) t.same(problems({ [key]: value }), [`${key} ${message}`], `${key}=${value}`)
  }
})

t.test('config: a number with a sign or an exponent is refused, though JavaScript would read it', async (t) => {
  const refused: Array<[string, string[], string]> = [
    ['HEALTH_PORT', ['+80', '8e3'], 'is not a port number: use 0–65535 (0 picks a free port)'],
    ['LOG_MAX_BYTES', ['+2048', '2e3'], 'is not a size in bytes: use a number of at least 1024 (default 10485760, 10 MB)'],
    ['LOG_KEEP', ['+5', '1e1'], 'is not a count of rotated files: use 1–100 (default 5)'],
    ['HANDOVER_WAIT_S', ['+5', '1e2', '-5'], 'is not a number of seconds: use 0–600 (0: refuse at once when another bot holds the database)'],
    ['POLL_TIMEOUT_S', ['+5', '1e1'], 'is not a long-poll timeout: use 0–50 seconds'],
    ['BACKUP_COPY_TIMEOUT_S', ['+5', '1e3'], 'is not a time limit in seconds: use 1–86400 (default 600)'],
    ['DATABASE_POOL_MAX', ['+5', '1e1'], 'is not a number of connections: use 1–100 (default 5)'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', ['+5', '1e3', '-5'], 'is not a time limit in milliseconds: use 0–3600000 (default 15000; 0: no limit)'],
    ['RATE_LIMIT_PER_MINUTE', ['+5', '1e1'], 'is not a number of updates per minute: use 1–10000 (default 30)'],
    ['MAX_TASKS_PER_CHAT', ['+5', '1e1'], 'is not a number of tasks: use 1–1000000 (default 10000)'],
  ]
  for (const [key, values, message] of refused) {
    for (const value of values) t.same(problems({ [key]: value }), [`${key} ${message}`], `${key}=${value}`)
  }
})

t.test('config: the PostgreSQL pool and statement limits at their edges, trimmed', async (t) => {
  const url = 'postgres://todo@db.example/todo'
  t.strictSame(loadConfig({ ...good, DATABASE_URL: url, DATABASE_POOL_MAX: ' 1 ', DATABASE_STATEMENT_TIMEOUT_MS: ' 3600000 ', DATABASE_APPLICATION_NAME: ' todo-eu ' }).database, { engine: 'postgres', url, poolMax: 1, statementTimeoutMs: 3_600_000, applicationName: 'todo-eu' })
  t.match(loadConfig({ ...good, DATABASE_URL: url, DATABASE_POOL_MAX: '100' }).database, { poolMax: 100 })
})

t.test('config: the token, the user ids and the API root are checked for their shape', async (t) => {
  const tokenProblem = 'TELEGRAM_BOT_TOKEN does not look like a bot token (<digits>:<secret>): copy it again from @BotFather'
  for (const token of ['1234:ABCDEFGHIJKLMNOPQRSTUVWXYZ', '12345:ABCDEFGHIJKLMNOPQRS', 'x12345:ABCDEFGHIJKLMNOPQRSTUVWXYZ', '12345:ABCDEFGHIJKLMNOPQRSTUVWXYZ!', '12345 ABCDEFGHIJKLMNOPQRSTUVWXYZ']) {
    t.same(problems({ TELEGRAM_BOT_TOKEN: token }), [tokenProblem], token)
  }
  t.equal(loadConfig({ ...good, TELEGRAM_BOT_TOKEN: '12345:ABCDEFGHIJKLMNOPQRS-' }).token, '12345:ABCDEFGHIJKLMNOPQRS-', 'five digits and twenty characters are enough')
  const idProblem = (bad: string): string => `ALLOWED_USER_IDS has ${bad} a numeric Telegram user id: use comma-separated numbers like 123456789,987654321`
  t.same(problems({ ALLOWED_USER_IDS: '0' }), [idProblem('"0" which is not')])
  t.same(problems({ ALLOWED_USER_IDS: '42,12345678901234567,-5' }), [idProblem('"12345678901234567", "-5" which is not')])
  t.same(problems({ ALLOWED_USER_IDS: ' , ,' }), ['ALLOWED_USER_IDS has no numeric Telegram user id: use comma-separated numbers like 123456789,987654321'], 'commas alone: no id at all')
  t.same(loadConfig({ ...good, ALLOWED_USER_IDS: '1234567890123456' }).allowedUserIds, [1_234_567_890_123_456], 'sixteen digits')
  const rootProblem = 'TELEGRAM_API_ROOT is not an http(s) URL: leave it unset for Telegram, or use e.g. http://127.0.0.1:8081'
  for (const root of ['http://', 'x http://a', 'https:// a']) t.same(problems({ TELEGRAM_API_ROOT: root }), [rootProblem], root)
  t.equal(loadConfig({ ...good, TELEGRAM_API_ROOT: 'https://telegram.internal/' }).apiRoot, 'https://telegram.internal')
})

t.test('config: the PostgreSQL session name and the time zone', async (t) => {
  const nameProblem = 'DATABASE_APPLICATION_NAME is not a session name: use up to 40 plain ASCII characters (default mister_todo)'
  const url = 'postgres://todo@db.example/todo'
  t.match(loadConfig({ ...good, DATABASE_URL: url, DATABASE_APPLICATION_NAME: 'a'.repeat(40) }).database, { applicationName: 'a'.repeat(40) })
  for (const name of ['a'.repeat(41), 'tödo']) t.same(problems({ DATABASE_URL: url, DATABASE_APPLICATION_NAME: name }), [nameProblem], name)
  t.same(problems({ DATABASE_URL: 'postgres:///todo' }), ['DATABASE_URL names no host: write it as postgres://user:password@host:5432/database (percent-encode @ : / in the password), or leave it unset for SQLite'])
  t.same(problems({ DEFAULT_TIMEZONE: 'Berlin' }), ['DEFAULT_TIMEZONE is not an IANA time zone: use a name like Europe/Berlin or UTC'])
})

t.test('config: the owner with a list and in open mode', async (t) => {
  t.same(problems({ ALLOWED_USER_IDS: ' * ' }), ['OWNER_USER_ID is missing, and ALLOWED_USER_IDS=* (open to anyone) needs it: put your own Telegram user id in .env (ask @userinfobot)'])
  t.same(problems({ ALLOWED_USER_IDS: '42,x', OWNER_USER_ID: '99' }), ['ALLOWED_USER_IDS has "x" which is not a numeric Telegram user id: use comma-separated numbers like 123456789,987654321'], 'a bad list: only the list is named')
  t.same(problems({ ALLOWED_USER_IDS: '42', OWNER_USER_ID: '12345678901234567' }), ['OWNER_USER_ID is not a positive numeric Telegram user id: put your own user id there (ask @userinfobot)'], 'a bad owner: only the owner is named')
  t.same(problems({ ALLOWED_USER_IDS: ' 42 , 43', OWNER_USER_ID: ' 042 ' }), [], 'the same number written with a leading zero')
  const ownerShape = 'OWNER_USER_ID is not a positive numeric Telegram user id: put your own user id there (ask @userinfobot)'
  for (const owner of ['me', '0']) t.same(problems({ ALLOWED_USER_IDS: '*', OWNER_USER_ID: owner }), [ownerShape], owner)
  t.same(problems({ ALLOWED_USER_IDS: '42,43', OWNER_USER_ID: '99' }), ['OWNER_USER_ID 99 is not in ALLOWED_USER_IDS: the owner must be one of the allowed users; add it (first) to ALLOWED_USER_IDS or remove OWNER_USER_ID'])
  t.same(problems({ ALLOWED_USER_IDS: '42,43', OWNER_USER_ID: '43' }), ['OWNER_USER_ID 43 is not the first id of ALLOWED_USER_IDS, and the first listed id is the owner: put 43 first in ALLOWED_USER_IDS or remove OWNER_USER_ID'])
  t.same(problems({ ALLOWED_USER_IDS: '*,42' }), ['ALLOWED_USER_IDS has "*" which is not a numeric Telegram user id: use comma-separated numbers like 123456789,987654321'])
  t.same(problems({ ALLOWED_USER_IDS: '*', OWNER_USER_ID: '7', RATE_LIMIT_PER_MINUTE: '0' }), ['RATE_LIMIT_PER_MINUTE is not a number of updates per minute: use 1–10000 (default 30)'])
  const open = loadConfig({ ...good, ALLOWED_USER_IDS: '*', OWNER_USER_ID: '1234567890123456' })
  t.same([open.openToAll, open.ownerUserId, open.allowedUserIds], [true, 1_234_567_890_123_456, [1_234_567_890_123_456]])
  t.ok(Object.isFrozen(open.allowedUserIds))
})

t.test('config: the webhook secret, listen address and URL at their edges', async (t) => {
  const hook = { TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/hook', TELEGRAM_WEBHOOK_SECRET: 'a'.repeat(32) }
  t.strictSame(loadConfig({ ...good, ...hook }).webhook, { url: hook.TELEGRAM_WEBHOOK_URL, path: '/hook', host: '127.0.0.1', port: 8443, secret: 'a'.repeat(32), maxConnections: 40 })
  t.strictSame(loadConfig({ ...good, ...hook, TELEGRAM_WEBHOOK_SECRET: 'b'.repeat(256), WEBHOOK_LISTEN: ' localhost:0 ', WEBHOOK_MAX_CONNECTIONS: '1' }).webhook, { url: hook.TELEGRAM_WEBHOOK_URL, path: '/hook', host: 'localhost', port: 0, secret: 'b'.repeat(256), maxConnections: 1 })
  const secretProblem = 'TELEGRAM_WEBHOOK_SECRET is not a usable secret token: use 32–256 characters of A-Z a-z 0-9 _ - (e.g. the output of: openssl rand -hex 32)'
  for (const secret of ['a'.repeat(31), 'a'.repeat(257)]) t.same(problems({ ...hook, TELEGRAM_WEBHOOK_SECRET: secret }), [secretProblem], `${secret.length} characters`)
  const listenProblem = 'WEBHOOK_LISTEN is not host:port: use e.g. 127.0.0.1:8443 (the address your reverse proxy forwards to; port 0 picks a free one)'
  for (const listen of [':8443', 'localhost:123456', 'local host:80', '[::1]]:80', 'x:80:']) t.same(problems({ ...hook, WEBHOOK_LISTEN: listen }), [listenProblem], listen)
  t.strictSame(loadConfig({ ...good, ...hook, WEBHOOK_LISTEN: '10.0.0.5:65535' }).webhook, { url: hook.TELEGRAM_WEBHOOK_URL, path: '/hook', host: '10.0.0.5', port: 65_535, secret: 'a'.repeat(32), maxConnections: 40 })
  t.match(loadConfig({ ...good, TELEGRAM_WEBHOOK_URL: 'http://localhost:9/h', TELEGRAM_WEBHOOK_SECRET: hook.TELEGRAM_WEBHOOK_SECRET }).webhook, { url: 'http://localhost:9/h', path: '/h' })
  t.same(problems({ ...hook, TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/hook#x' }), ['TELEGRAM_WEBHOOK_URL has a query or fragment: the bot listens on the path alone, use the public https URL your reverse proxy serves, e.g. https://bot.example.org/telegram, or leave it unset to poll'])
  t.equal(loadConfig({ ...good, TELEGRAM_WEBHOOK_SECRET: hook.TELEGRAM_WEBHOOK_SECRET }).webhook, null, 'a secret alone does not switch to webhooks')
})

t.test('config: the backup and drill schedules and the copy command', async (t) => {
  t.match(loadConfig({ ...good, BACKUP_SCHEDULE: 'Off', DRILL_SCHEDULE: ' OFF ' }), { backupSchedule: null, drillSchedule: null })
  t.same(loadConfig({ ...good, BACKUP_COPY_COMMAND: `rclone copy {file} 'remote:my backups/'` }).backupCopyCommand, ['rclone', 'copy', '{file}', 'remote:my backups/'])
  const cases: Array<[Record<string, string>, string]> = [
    [{ BACKUP_SCHEDULE: '0 3 * *' }, 'BACKUP_SCHEDULE has 4 fields ("0 3 * *"): use five fields (minute hour day-of-month month day-of-week) like "0 3 * * *", or off'],
    [{ DRILL_SCHEDULE: '61 4 * * 0' }, 'DRILL_SCHEDULE is not a valid cron expression ("61 4 * * 0": Invalid value for minute: 61): use five fields (minute hour day-of-month month day-of-week) like "30 4 * * 0", or off'],
    [{ BACKUP_COPY_COMMAND: 'rclone copy "{file} remote:' }, 'BACKUP_COPY_COMMAND has an unclosed double quote: write it as on a command line, e.g. rclone copy {file} remote:mister_todo/'],
    [{ BACKUP_COPY_COMMAND: 'rclone copy storage/backups remote:' }, 'BACKUP_COPY_COMMAND does not name {file}: put {file} where the backup file goes, e.g. rclone copy {file} remote:mister_todo/'],
  ]
  for (const [env, expected] of cases) t.same(problems(env), [expected], expected)
})

t.test('config: loadConfig throws one ConfigError listing every problem', async (t) => {
  const err = t.throws(() => loadConfig({ HEALTH_PORT: 'x' })) as ConfigError
  t.ok(err instanceof ConfigError)
  t.equal(err.code, 'ECONFIG')
  t.equal(err.message, [
    'configuration is invalid:',
    '  TELEGRAM_BOT_TOKEN is missing: put the token @BotFather gave you in .env',
    '  ALLOWED_USER_IDS is missing: put your Telegram user id in .env (ask @userinfobot)',
    '  HEALTH_PORT is not a port number: use 0–65535 (0 picks a free port)',
  ].join('\n'))
  t.same(err.problems, err.message.split('\n').slice(1).map((l) => l.trim()))
})

t.test('config: the database path and target for the ops scripts, without a token', async (t) => {
  t.equal(databaseFileFrom({}), path.join(PROJECT_ROOT, 'storage/db/todo.sqlite'))
  t.equal(databaseFileFrom({ DATABASE_FILE: ' ', MISTER_TODO_ROOT: ' ' }), path.join(PROJECT_ROOT, 'storage/db/todo.sqlite'))
  t.equal(databaseFileFrom({ DATABASE_FILE: ' db/x.sqlite ', MISTER_TODO_ROOT: ' /srv/todo ' }), '/srv/todo/db/x.sqlite')
  t.equal(databaseFileFrom({ DATABASE_FILE: '/var/todo.sqlite', MISTER_TODO_ROOT: '/srv/todo' }), '/var/todo.sqlite')
  t.strictSame(databaseTargetFrom({ MISTER_TODO_ROOT: '/srv/todo', DATABASE_URL: '  ', HEALTH_PORT: 'not checked here' }), { target: { engine: 'sqlite', file: '/srv/todo/storage/db/todo.sqlite' }, problems: [] })
  t.strictSame(databaseTargetFrom({ DATABASE_URL: ' postgres://u:p@h/db ', DATABASE_POOL_MAX: '7' }), {
    target: { engine: 'postgres', url: 'postgres://u:p@h/db', poolMax: 7, statementTimeoutMs: 15_000, applicationName: 'mister_todo' }, problems: [],
  })
  t.strictSame(databaseTargetFrom({ DATABASE_URL: 'mysql://u:p@h/db', DATABASE_POOL_MAX: '0' }), {
    problems: [
      'DATABASE_URL is not a PostgreSQL URL (it starts with mysql://): write it as postgres://user:password@host:5432/database (percent-encode @ : / in the password), or leave it unset for SQLite',
      'DATABASE_POOL_MAX is not a number of connections: use 1–100 (default 5)',
    ],
  })
})

t.test('config: the off-machine copy settings for ops/backup.mjs, without a token', async (t) => {
  t.strictSame(copySettingsFrom({ TELEGRAM_BOT_TOKEN: 'not checked here', BACKUP_COPY_TO: ' ' }), { settings: { backupCopyTo: null, backupCopyCommand: null, backupCopyTimeoutS: 600 }, problems: [] })
  t.strictSame(copySettingsFrom({ BACKUP_COPY_TO: ' /mnt/usb ', BACKUP_COPY_COMMAND: 'cp {file} /mnt/b/', BACKUP_COPY_TIMEOUT_S: '30' }), { settings: { backupCopyTo: '/mnt/usb', backupCopyCommand: ['cp', '{file}', '/mnt/b/'], backupCopyTimeoutS: 30 }, problems: [] })
  t.strictSame(copySettingsFrom({ BACKUP_COPY_TO: 'usb' }).settings?.backupCopyTo, path.join(PROJECT_ROOT, 'usb'))
  // After a deploy the code runs from releases/<commit>/: a relative folder is the data root's, as
  // every data path is, not the release's (a later deploy prunes that).
  t.strictSame(copySettingsFrom({ BACKUP_COPY_TO: 'copies', MISTER_TODO_ROOT: '/srv/todo' }).settings?.backupCopyTo, '/srv/todo/copies')
  t.equal(loadConfig({ ...good, BACKUP_COPY_TO: 'copies', MISTER_TODO_ROOT: '/srv/todo' }).backupCopyTo, '/srv/todo/copies', 'the bot reads it the same way')
  t.strictSame(copySettingsFrom({ BACKUP_COPY_COMMAND: 'cp a b', BACKUP_COPY_TIMEOUT_S: '0' }), {
    problems: [
      'BACKUP_COPY_COMMAND does not name {file}: put {file} where the backup file goes, e.g. rclone copy {file} remote:mister_todo/',
      'BACKUP_COPY_TIMEOUT_S is not a time limit in seconds: use 1–86400 (default 600)',
    ],
  })
})

t.test('config: a database URL is shown without its password', async (t) => {
  t.equal(redactUrl('postgres://todo:s3cret@db.example:5433/todo'), 'postgres://todo:xxxxx@db.example:5433/todo')
  t.equal(redactUrl('postgres://todo@db.example/todo'), 'postgres://todo@db.example/todo')
  t.equal(redactUrl('postgres://todo:s3cret@[bad/todo'), '(DATABASE_URL)')
})
