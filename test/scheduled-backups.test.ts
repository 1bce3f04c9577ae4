// The bot's backup schedule with an injected clock: a backup is taken when due and only once, one
// missed while the bot was down is taken once after start, problems reach the owner once and show
// in health as degraded; the schedule's migration has a real down.
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { startBot, type RunningBot } from '../bot/app.js'
import { AdjustableClock } from '../bot/clock.js'
import { loadConfig } from '../bot/config.js'
import { openDatabase } from '../bot/db.js'
import { createLogger } from '../bot/logger.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { backup } from '../ops/backup.mjs'
import { createSandbox } from './support/ops-sandbox.js'
import { listBackupFiles } from '../ops/lib/backups.mjs'
import { botEnv, LogSink, OWNER, tempDir } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

const BERLIN = 'Europe/Berlin'
/** 2026-11-30 02:00 in Berlin: an hour before the default 03:00 backup. */
const BEFORE_THREE = Date.parse('2026-11-30T01:00:00Z')
const HOUR = 3600_000
const DAY = 24 * HOUR
const CHILD_ENV = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }

type Rig = { emu: BotApiEmulator, root: string, clock: AdjustableClock, bot: RunningBot, logs: LogSink, start: () => Promise<RunningBot>, backups: () => string[], close: () => Promise<void> }

async function rig (t: Test, env: Record<string, string> = {}, options: { catchUpDelayMs?: number, childEnv?: Record<string, string>, clockAt?: number } = {}): Promise<Rig> {
  const emu = await BotApiEmulator.start()
  const root = tempDir('mister-todo-sched-')
  const config = loadConfig(botEnv(emu, root, { DATABASE_FILE: path.join(root, 'storage', 'db', 'todo.sqlite'), DEFAULT_TIMEZONE: BERLIN, DRILL_SCHEDULE: 'off', ...env }))
  const logs = new LogSink()
  const clock = new AdjustableClock(options.clockAt ?? BEFORE_THREE)
  const r: Rig = {
    emu,
    root,
    clock,
    logs,
    bot: undefined as unknown as RunningBot,
    start: async () => {
      r.bot = await startBot(config, { logger: createLogger('debug', logs), clock, backups: { root, catchUpDelayMs: options.catchUpDelayMs ?? 0, env: { ...CHILD_ENV, ...options.childEnv } } })
      await r.bot.ready
      return r.bot
    },
    backups: () => listBackupFiles(path.join(root, 'storage', 'backups')).map((b) => b.name),
    close: async () => {
      await r.bot.stop()
      await emu.stop()
      fs.rmSync(root, { recursive: true, force: true })
    },
  }
  await r.start()
  t.teardown(() => r.close())
  return r
}

/** Waits until the bot's scheduler has finished `n` runs of a job (its row says so). */
async function waitForRuns (r: Rig, job: 'backup' | 'drill', test: (row: { outcome: string | null, finished_at: number | null } | undefined) => boolean, timeoutMs = 30_000): Promise<void> {
  let row: { outcome: string | null, finished_at: number | null } | undefined
  await waitUntil(async () => test(row = await r.bot.db('scheduled_jobs').where({ name: job }).first()), { what: `the ${job} job`, timeoutMs, everyMs: 50, seen: () => `${JSON.stringify(row)}\n${r.logs.lines.slice(-5).join('\n')}` })
}

const settle = (ms = 700): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('scheduled backup: taken when the schedule falls due, once, and not again within the day', async (t) => {
  const r = await rig(t)
  await settle()
  t.same(r.backups(), [], 'nothing before 03:00: a fresh schedule counts nothing before its start as missed')
  r.clock.set(BEFORE_THREE + HOUR + 30_000)
  await waitForRuns(r, 'backup', (row) => row?.outcome === 'ok')
  t.equal(r.backups().length, 1)
  const row = await r.bot.db('scheduled_jobs').where({ name: 'backup' }).first() as { slot_at: number }
  t.equal(new Date(Number(row.slot_at)).toISOString(), '2026-11-30T02:00:00.000Z', 'the slot is 03:00 Berlin')
  r.clock.advance(10 * HOUR)
  await settle()
  t.equal(r.backups().length, 1, 'not due again the same day')
  const health = await r.bot.health()
  t.match(health.backups, { last: { file: r.backups()[0] }, lastCopy: null, lastDrill: null, problem: null, running: null, next: { backup: '2026-12-01T02:00:00.000Z', drill: null } })
  t.equal(health.status, 'ok')
})

t.test('scheduled backup: three runs missed while the bot was down are made up by one backup after start, once', async (t) => {
  const r = await rig(t, {}, { catchUpDelayMs: 300 })
  await settle(300)
  await r.bot.stop()
  r.clock.set(BEFORE_THREE + 3 * DAY)
  await r.start()
  t.same(r.backups(), [], 'not at once: after the catch-up delay')
  await waitForRuns(r, 'backup', (row) => row?.outcome === 'ok')
  t.equal(r.backups().length, 1, 'one backup for three missed days')
  const row = await r.bot.db('scheduled_jobs').where({ name: 'backup' }).first() as { slot_at: number }
  t.equal(new Date(Number(row.slot_at)).toISOString(), '2026-12-02T02:00:00.000Z', 'recorded as the last missed firing')
  await r.bot.stop()
  await r.start()
  await settle(1000)
  t.equal(r.backups().length, 1, 'a second restart does not take it again')
})

t.test('scheduled backup: a copy that hangs past its limit tells the owner once, health is degraded, local backups are kept', async (t) => {
  const r = await rig(t, { BACKUP_COPY_COMMAND: 'node -e "setTimeout(() => {}, 30000)" {file}', BACKUP_COPY_TIMEOUT_S: '1' })
  await r.bot.stop()
  // Listening before the start: the reply may come before start() returns.
  const hello = r.emu.waitForMessage(OWNER)
  r.emu.sendText(OWNER, OWNER, '/start')
  await r.start()
  await hello
  const before = r.emu.messages(OWNER).length
  for (let day = 0; day < 2; day += 1) {
    r.clock.set(BEFORE_THREE + day * DAY + HOUR + 1000)
    await waitForRuns(r, 'backup', (row) => row?.outcome === 'ok' && Number(row.finished_at) > BEFORE_THREE + day * DAY + HOUR)
  }
  // Both runs fall on one real day (the child names backups by the real time): the daily rule keeps the newer.
  t.equal(r.backups().length, 1, 'the local backup is kept')
  // A second notice would come within the limiter's second per chat.
  await settle(1500)
  const notices = r.emu.messages(OWNER).slice(before)
  t.equal(notices.length, 1, 'told once, not on each failed copy')
  const name = /copy of (todo_\S+\.sqlite) failed/.exec(notices[0]?.text ?? '')?.[1] ?? ''
  t.equal(notices[0]?.text, `⚠️ Mister_Todo's off-machine copy of ${name} failed: command node: "node" did not finish within 1 s (BACKUP_COPY_TIMEOUT_S) and was stopped\nThe local backup is kept. See: npx zx ops/backup.mjs --list`)
  const health = await r.bot.health()
  t.equal(health.status, 'degraded')
  t.same(health.problems, [])
  t.match(health.backups, { lastCopy: { ok: false, to: ['command node'], error: '"node" did not finish within 1 s (BACKUP_COPY_TIMEOUT_S) and was stopped' }, problem: `Mister_Todo's off-machine copy of ${name} failed: command node: "node" did not finish within 1 s (BACKUP_COPY_TIMEOUT_S) and was stopped\nThe local backup is kept. See: npx zx ops/backup.mjs --list` })
  const res = await fetch(`http://127.0.0.1:${r.bot.healthPort}/healthz`)
  t.equal(res.status, 200, 'degraded is served as 200: the bot works')
})

t.test('scheduled backup: too little free space fails the backup, the owner is told once, and /health shows it', async (t) => {
  const r = await rig(t, {}, { childEnv: { MISTER_TODO_FREE_BYTES: '1000' } })
  await r.bot.stop()
  // Listening before the start: the reply may come before start() returns.
  const hello = r.emu.waitForMessage(OWNER)
  r.emu.sendText(OWNER, OWNER, '/start')
  await r.start()
  await hello
  const before = r.emu.messages(OWNER).length
  for (let day = 0; day < 2; day += 1) {
    r.clock.set(BEFORE_THREE + day * DAY + HOUR + 1000)
    await waitForRuns(r, 'backup', (row) => row?.outcome === 'failed' && Number(row.finished_at) > BEFORE_THREE + day * DAY + HOUR)
  }
  t.same(r.backups(), [])
  // A second notice would come within the limiter's second per chat.
  await settle(1500)
  const notices = r.emu.messages(OWNER).slice(before)
  t.equal(notices.length, 1)
  t.match(notices[0]?.text, /^⚠️ Mister_Todo's scheduled backup failed: not enough disk space for storage\/backups: 1\.0 kB free, \S+ kB needed \(twice the \S+ kB database\); nothing was written\nThe bot keeps running\. See: npx zx ops\/backup\.mjs --list$/)
  const reply = await (async () => { const w = r.emu.waitForMessage(OWNER); r.emu.sendText(OWNER, OWNER, '/health'); return await w })()
  t.match(reply.text, /^⚠️ <b>Healthy, with a backup problem<\/b>\n/)
  t.match(reply.text, /\nBackups: last none\n• Mister_Todo's scheduled backup failed: not enough disk space/)
})

t.test('scheduled backup: a backup older than two days tells the owner once', async (t) => {
  // A yearly schedule that does not fire while the test runs.
  const r = await rig(t, { BACKUP_SCHEDULE: '0 3 1 1 *' }, { clockAt: Date.now() })
  await r.bot.stop()
  const old = await backup({ root: r.root, env: { DATABASE_FILE: path.join(r.root, 'storage', 'db', 'todo.sqlite') }, quiet: true, now: () => new Date(Date.now() - 5 * DAY) })
  // Listening before the start: the reply may come before start() returns.
  const hello = r.emu.waitForMessage(OWNER)
  r.emu.sendText(OWNER, OWNER, '/start')
  await r.start()
  await hello
  await settle()
  t.equal(r.emu.messages(OWNER).filter((m) => m.text.startsWith('⚠️')).length, 0, 'not within two days of the schedule\'s start in this database')
  r.clock.advance(2 * DAY + HOUR)
  const notice = await r.emu.waitForMessage(OWNER, (m) => m.text.startsWith('⚠️'))
  t.equal(notice.text, `⚠️ Mister_Todo's newest backup is 7 days old (${path.basename(old.file ?? '')}): scheduled backups are not being taken. See: npx zx ops/backup.mjs --list`)
  r.clock.advance(HOUR)
  await settle(1500)
  t.equal(r.emu.messages(OWNER).filter((m) => m.text.startsWith('⚠️')).length, 1, 'once')
  t.equal((await r.bot.health()).status, 'degraded')
})

t.test('scheduled drill: a failing drill tells the owner once; the next week\'s passing drill clears it', async (t) => {
  const r = await rig(t, { BACKUP_SCHEDULE: 'off', DRILL_SCHEDULE: '30 4 * * 0' }, { clockAt: Date.parse('2026-11-29T02:00:00Z') })
  await r.bot.stop()
  // Listening before the start: the reply may come before start() returns.
  const hello = r.emu.waitForMessage(OWNER)
  r.emu.sendText(OWNER, OWNER, '/start')
  await r.start()
  await hello
  r.clock.set(Date.parse('2026-11-29T03:31:00Z'))
  await waitForRuns(r, 'drill', (row) => row?.outcome === 'failed')
  const notice = await r.emu.waitFor(() => r.emu.messages(OWNER).find((m) => m.text.startsWith('⚠️')))
  t.equal(notice.text, '⚠️ Mister_Todo\'s restore drill failed at verify: no backup in storage/backups to drill\nYour backups may not restore. See: npx zx ops/backup.mjs --drill')
  t.match(await r.bot.health(), { status: 'degraded', backups: { lastDrill: { ok: false, step: 'drill verify' } } })

  await backup({ root: r.root, env: { DATABASE_FILE: path.join(r.root, 'storage', 'db', 'todo.sqlite'), ALLOWED_USER_IDS: String(OWNER) }, quiet: true })
  r.clock.set(Date.parse('2026-12-06T03:31:00Z'))
  await waitForRuns(r, 'drill', (row) => row?.outcome === 'ok')
  const health = await r.bot.health()
  t.match(health.backups, { lastDrill: { ok: true, step: null, error: null }, problem: null })
  t.equal(health.status, 'ok')
  t.equal(r.emu.messages(OWNER).filter((m) => m.text.startsWith('⚠️')).length, 1, 'told once')
})

t.test('scheduled backup: the schedule\'s migration goes up, down and up again', async (t) => {
  const dir = tempDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const db = openDatabase(path.join(dir, 'todo.sqlite'))
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  t.ok(await db.schema.hasTable('scheduled_jobs'))
  t.ok(await db.schema.hasTable('owner_notices'))
  // Newer migrations may follow this one: undo it by name.
  await db.migrate.down({ name: '20261130120000_backup_schedule.ts' })
  t.notOk(await db.schema.hasTable('scheduled_jobs'))
  t.notOk(await db.schema.hasTable('owner_notices'))
  t.ok(await db.schema.hasTable('reminders'), 'only this migration was undone')
  await db.migrate.latest()
  await db('scheduled_jobs').insert({ name: 'backup', since_at: 1, slot_at: 1 })
  t.same(await db('scheduled_jobs').select('name', 'slot_at'), [{ name: 'backup', slot_at: 1 }])
})

t.test('scheduled backup: the schedule and copy settings are checked at start, one line naming the variable and the fix', async (t) => {
  const good = { TELEGRAM_BOT_TOKEN: '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc', ALLOWED_USER_IDS: '42' }
  const c = loadConfig(good)
  t.match(c, { backupSchedule: '0 3 * * *', drillSchedule: '30 4 * * 0', backupCopyTo: null, backupCopyCommand: null, backupCopyTimeoutS: 600 })
  t.match(loadConfig({ ...good, BACKUP_SCHEDULE: 'off', DRILL_SCHEDULE: ' OFF ', BACKUP_COPY_COMMAND: `rclone copy {file} 'remote:my backups/'` }), { backupSchedule: null, drillSchedule: null, backupCopyCommand: ['rclone', 'copy', '{file}', 'remote:my backups/'] })
  const cases: Array<[Record<string, string>, string]> = [
    [{ BACKUP_SCHEDULE: '0 3 * *' }, 'BACKUP_SCHEDULE has 4 fields ("0 3 * *"): use five fields (minute hour day-of-month month day-of-week) like "0 3 * * *", or off'],
    [{ BACKUP_SCHEDULE: '0 0 3 * * *' }, 'BACKUP_SCHEDULE has 6 fields ("0 0 3 * * *"): use five fields (minute hour day-of-month month day-of-week) like "0 3 * * *", or off'],
    [{ DRILL_SCHEDULE: '61 4 * * 0' }, 'DRILL_SCHEDULE is not a valid cron expression ("61 4 * * 0": Invalid value for minute: 61): use five fields (minute hour day-of-month month day-of-week) like "30 4 * * 0", or off'],
    [{ BACKUP_COPY_COMMAND: 'rclone copy "{file} remote:' }, 'BACKUP_COPY_COMMAND has an unclosed double quote: write it as on a command line, e.g. rclone copy {file} remote:mister_todo/'],
    [{ BACKUP_COPY_COMMAND: 'rclone copy storage/backups remote:' }, 'BACKUP_COPY_COMMAND does not name {file}: put {file} where the backup file goes, e.g. rclone copy {file} remote:mister_todo/'],
    [{ BACKUP_COPY_TIMEOUT_S: '0' }, 'BACKUP_COPY_TIMEOUT_S is not a time limit in seconds: use 1–86400 (default 600)'],
  ]
  const { checkEnvironment } = await import('../bot/config.js')
  for (const [env, expected] of cases) t.same(checkEnvironment({ ...good, ...env }).problems, [expected])
})

t.test('scheduled backup: retention keeps exactly the newest of 7 days, 4 weeks and 12 months, and --list says which rule keeps each', async (t) => {
  const { planRetention } = await import('../ops/lib/retention.mjs')
  // A scheduled backup every day at 03:00 for 400 days up to Tuesday 2026-12-01, plus deploy backups.
  const entries = []
  for (let i = 0; i < 400; i += 1) {
    const stamp = new Date(Date.parse('2026-12-01T03:00:00Z') - i * DAY).toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-')
    entries.push({ name: `todo_${stamp}.sqlite`, stamp, seq: 1, origin: 'schedule' as const })
  }
  for (let i = 0; i < 12; i += 1) entries.push({ name: `todo_2026-10-${String(i + 10)}_12-00-00.sqlite`, stamp: `2026-10-${String(i + 10)}_12-00-00`, seq: 1, origin: 'command' as const })
  const plan = planRetention(entries, { keep: 10, pinned: new Set(['todo_2026-10-10_12-00-00.sqlite']) })
  const kept = [...plan].filter(([, v]) => v.keep).map(([name, v]) => `${name.slice(5, 15)} ${v.rules.join('+')}`)
  // Tuesday 1 Dec shares its ISO week with Monday 30 Nov; 30 Nov is November's newest.
  t.same(kept, [
    '2026-12-01 daily+weekly+monthly',
    '2026-11-30 daily+monthly',
    '2026-11-29 daily+weekly',
    '2026-11-28 daily',
    '2026-11-27 daily',
    '2026-11-26 daily',
    '2026-11-25 daily',
    '2026-11-22 weekly',
    '2026-11-15 weekly',
    '2026-10-31 monthly',
    '2026-10-21 newest 10', '2026-10-20 newest 10', '2026-10-19 newest 10', '2026-10-18 newest 10', '2026-10-17 newest 10',
    '2026-10-16 newest 10', '2026-10-15 newest 10', '2026-10-14 newest 10', '2026-10-13 newest 10', '2026-10-12 newest 10',
    '2026-10-10 deploy journal',
    '2026-09-30 monthly', '2026-08-31 monthly', '2026-07-31 monthly', '2026-06-30 monthly', '2026-05-31 monthly',
    '2026-04-30 monthly', '2026-03-31 monthly', '2026-02-28 monthly', '2026-01-31 monthly',
  ])
  t.equal(kept.length, 7 + 2 + 10 + 10 + 1, '7 daily, 2 more weekly, 10 more monthly, the newest 10 others, 1 the journal names')

  // The same rules, as --list shows them, on real files.
  const box = await createSandbox(t, { tasks: 3 })
  for (const at of ['2026-11-20T03:00:00Z', '2026-11-21T03:00:00Z', '2026-11-21T09:00:00Z']) await backup({ root: box.root, env: box.env, origin: 'schedule', keep: null, quiet: true, now: () => new Date(at) })
  await backup({ root: box.root, env: box.env, quiet: true, now: () => new Date('2026-11-21T10:00:00Z') })
  const run = await box.run('backup', ['--list'])
  t.equal(run.code, 0, run.stderr)
  t.same(run.stdout.split('\n').slice(1, 5).map((l) => l.replace(/^ +(todo_\S+).*?(-|yes|failed) +(.+?) +ok$/, '$1 $3')), [
    'todo_2026-11-21_10-00-00.sqlite newest 10',
    'todo_2026-11-21_09-00-00.sqlite daily, weekly, monthly',
    'todo_2026-11-21_03-00-00.sqlite none: the next scheduled backup deletes it',
    'todo_2026-11-20_03-00-00.sqlite daily',
  ])
})

t.test('scheduled backup: a database in the temp folder with no backups root given gets no schedule (tests, npm run try)', async (t) => {
  const emu = await BotApiEmulator.start()
  const dir = tempDir('mister-todo-throwaway-')
  const logs = new LogSink()
  const clock = new AdjustableClock(BEFORE_THREE)
  const bot = await startBot(loadConfig(botEnv(emu, dir)), { logger: createLogger('debug', logs), clock })
  t.teardown(async () => {
    await bot.stop()
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await bot.ready
  clock.advance(2 * HOUR)
  await settle()
  t.equal((await bot.health()).backups, null)
  t.same(await bot.db('scheduled_jobs').select('name'), [], 'nothing scheduled, nothing taken')
  t.ok(logs.lines.some((l) => l.includes('"msg":"backups: no schedule for a database in the temp folder (a throwaway)"')))
})
