// Several instances and migrations (webhook mode on PostgreSQL): a new version whose hand-over
// plan migrates waits for the leader lock, as a hand-over does, and migrates nothing while the old
// leader holds it; once that lets go, one instance of the new version carries the plan out and
// leads, and its sibling, which waited with the same plan, serves without the lock once the plan's
// result is recorded. The migration runs once.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startBot, type RunningBot } from '../bot/app.js'
import { loadConfig, PROJECT_ROOT, type PostgresTarget } from '../bot/config.js'
import { openDatabase, schemaStatus } from '../bot/db.js'
import { gitVersion } from '../bot/health.js'
import { tryPostgresLock } from '../bot/instance-lock-postgres.js'
import { createLogger } from '../bot/logger.js'
import { planFileFor, resultFileFor } from '../bot/takeover.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, freePort, LogSink, tempDir } from './support/bot-harness.js'
import { freshDatabase, NOT_INSTALLED, postgresBin } from './support/postgres.js'

const skip = postgresBin() === null ? NOT_INSTALLED : false

t.test('instances: a plan that migrates waits for the leader lock; one instance migrates, the other serves once it is done', { skip }, async (t) => {
  const { url } = await freshDatabase(t)
  const target: PostgresTarget = { engine: 'postgres', url, poolMax: 2, statementTimeoutMs: 15_000, applicationName: 'mister_todo_test' }
  const db = openDatabase(target)
  await db.migrate.latest()
  await db.migrate.down()
  const pending = (await schemaStatus(db)).pending
  t.equal(pending.length, 1, 'one migration pending')
  // The old version's leader: a session holding the lock.
  const oldLeader = await tryPostgresLock(target)
  if (oldLeader === null) throw new Error('the lock should be free')
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  const dbFile = path.join(dir, 'db', 'todo.sqlite')
  fs.mkdirSync(path.dirname(dbFile), { recursive: true })
  fs.writeFileSync(planFileFor(dbFile), JSON.stringify({ id: 'plan-several-1', version: gitVersion(PROJECT_ROOT), migrate: true }))
  const logs = new LogSink()
  const bots: RunningBot[] = []
  t.teardown(async () => {
    oldLeader.release()
    for (const bot of bots) await bot.stop()
    await db.destroy()
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const start = async (): Promise<RunningBot> => {
    const port = await freePort()
    const config = loadConfig(botEnv(emu, dir, { DATABASE_URL: url, TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, WEBHOOK_LISTEN: `127.0.0.1:${port}`, TELEGRAM_WEBHOOK_SECRET: 'instances-plan-secret-0123456789abcdefghij', HANDOVER_WAIT_S: '30' }))
    const bot = await startBot(config, { logger: createLogger('info', logs) })
    bots.push(bot)
    return bot
  }
  const starting = [start(), start()]
  await new Promise((resolve) => setTimeout(resolve, 2000))
  t.same((await schemaStatus(db)).pending, pending, 'nothing migrated while the old leader holds the lock')
  t.notOk(fs.existsSync(resultFileFor(dbFile)), 'the plan not carried out yet')
  t.notMatch(logs.lines.join('\n'), /took over: serving/, 'neither serves yet')
  oldLeader.release()
  const [a, b] = await Promise.all(starting)
  if (a === undefined || b === undefined) throw new Error('two bots expected')
  t.same((await schemaStatus(db)).pending, [], 'migrated')
  const applied = await db('knex_migrations').where({ name: pending[0] }).count({ n: '*' }).first() as { n: string | number }
  t.equal(Number(applied.n), 1, 'the migration ran once')
  const result = JSON.parse(fs.readFileSync(resultFileFor(dbFile), 'utf8')) as { id: string, ok: boolean, steps: Array<{ name: string }> }
  t.match(result, { id: 'plan-several-1', ok: true })
  t.same(result.steps.map((s) => s.name), ['migrate'], 'carried out once, by one instance')
  const health = await Promise.all([a.health(), b.health()])
  t.same(health.map((h) => h.instance.leads).sort(), [false, true], 'the one that migrated leads, the other does not')
  t.same(health.map((h) => h.schema.pending), [[], []])
  t.equal(logs.lines.filter((l) => l.includes('"msg":"took over: serving"')).length, 2, 'both serve')
})

t.test('instances: a plan that changes nothing (a deploy without migrations) is carried out at once, while another instance leads', { skip }, async (t) => {
  const { url } = await freshDatabase(t)
  const target: PostgresTarget = { engine: 'postgres', url, poolMax: 2, statementTimeoutMs: 15_000, applicationName: 'mister_todo_test' }
  const db = openDatabase(target)
  await db.migrate.latest()
  const leader = await tryPostgresLock(target)
  if (leader === null) throw new Error('the lock should be free')
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  const dbFile = path.join(dir, 'db', 'todo.sqlite')
  fs.mkdirSync(path.dirname(dbFile), { recursive: true })
  fs.writeFileSync(planFileFor(dbFile), JSON.stringify({ id: 'plan-empty-1', version: gitVersion(PROJECT_ROOT) }))
  const port = await freePort()
  const bot = await startBot(loadConfig(botEnv(emu, dir, { DATABASE_URL: url, TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, WEBHOOK_LISTEN: `127.0.0.1:${port}`, TELEGRAM_WEBHOOK_SECRET: 'instances-plan-secret-0123456789abcdefghij', HANDOVER_WAIT_S: '30' })), { logger: createLogger('warn', new LogSink()) })
  t.teardown(async () => {
    await bot.stop()
    leader.release()
    await db.destroy()
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  t.match(JSON.parse(fs.readFileSync(resultFileFor(dbFile), 'utf8')), { id: 'plan-empty-1', ok: true, steps: [] }, 'the result ops waits for, recorded')
  t.equal((await bot.health()).instance.leads, false, 'serving beside the leader')
})
