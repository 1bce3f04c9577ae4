// Sending reminders and digests (bot/reminders/send-reminders.ts, send-digests.ts) without the
// rest of the bot: SQLite in a temp folder with the real migrations, the HTTP emulator, a clock
// that stands still, a limiter whose waits are instant, and the log lines as the operator reads them.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DateTime } from 'luxon'
import { Api } from 'node-telegram-bot-api'
import t, { type Test } from 'tap'
import { AdjustableClock } from '../bot/clock.js'
import { openDatabase, type Database } from '../bot/db.js'
import { createLogger } from '../bot/logger.js'
import { LimitedSender, type SenderDeps } from '../bot/reminders/outcome.js'
import { SendRateLimiter } from '../bot/reminders/rate-limit.js'
import { DigestSender } from '../bot/reminders/send-digests.js'
import { ReminderSender } from '../bot/reminders/send-reminders.js'
import { ReminderStore } from '../bot/reminders/store.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import { WriteGate } from '../bot/write-gate.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'

const ZONE = 'Europe/Berlin'
const CHAT = 7
const OTHER = 8
const berlin = (local: string): number => DateTime.fromISO(local, { zone: ZONE }).toMillis()
const NOW = berlin('2026-12-01T08:00')

type World = { db: Database, emu: BotApiEmulator, deps: SenderDeps, logs: Array<Record<string, unknown>>, stop: (after: number) => void, repo: TaskRepository }

async function world (t: Test): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-senders-'))
  const db = openDatabase({ engine: 'sqlite', file: path.join(dir, 'todo.sqlite') })
  const emu = await BotApiEmulator.start()
  t.teardown(async () => {
    await db.destroy()
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await db.migrate.latest()
  for (const chat of [CHAT, OTHER]) emu.sendText(chat, chat, 'hi')
  await db('chats').insert([CHAT, OTHER].map((id) => ({ id, created_at: NOW })))
  const clock = new AdjustableClock(NOW, 0)
  const logs: Array<Record<string, unknown>> = []
  const logger = createLogger('info', { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } })
  // The limiter's own clock: a wait moves it at once (the waits are rate-limit.ts's, tested there).
  let limiterAt = 0
  const instant = { now: () => limiterAt, sleep: async (ms: number) => { limiterAt += ms } }
  const sender = new LimitedSender(new Api(emu.token, { apiRoot: emu.apiRoot, maxRetries: 0 }), new SendRateLimiter({ timer: instant }), new AbortController().signal)
  let checks = 0
  let stopAfter = Infinity
  const deps: SenderDeps = { db, store: new ReminderStore(db, () => clock.now()), sender, clock, logger, gate: new WriteGate(), defaultZone: ZONE, stopped: () => ++checks > stopAfter }
  const repo = new TaskRepository(db, () => NOW - 3_600_000)
  return { db, emu, deps, logs, stop: (after) => { checks = 0; stopAfter = after }, repo }
}

/** The log lines' message and fields, without the time, pid and app every line has. */
const read = (logs: Array<Record<string, unknown>>): Array<Record<string, unknown>> => logs.map(({ time: _t, pid: _p, app: _a, level, ...rest }) => ({ level, ...rest }))

t.test('reminder senders: every due reminder goes out in order, batch after batch, each claimed and recorded sent', async (t) => {
  const w = await world(t)
  const texts = Array.from({ length: 53 }, (_, i) => `task ${i + 1}`)
  const tasks = await w.repo.add(CHAT, texts.map((text, i) => ({ text, remindAt: NOW - (53 - i) * 1000 })))
  await w.repo.add(CHAT, [{ text: 'later', remindAt: NOW + 1 }])
  const reminders = new ReminderSender(w.deps)
  await reminders.sendDue()
  t.equal(reminders.sent, 53)
  t.strictSame(w.emu.messages(CHAT).map((m) => m.rendered.split('\n')[0]), texts.map((x, i) => `⏰ #${i + 1} ${x}`), 'all 53, oldest first; not the one a millisecond ahead')
  t.strictSame(await w.db('reminders').where({ status: 'sent' }).count({ n: '*' }).first(), { n: 53 })
  const first = w.emu.messages(CHAT)[0]
  t.equal(first?.reply_markup?.inline_keyboard.flat().map((b) => b.text).join(' '), '✅ Done 💤 10 min 💤 1 hour 🌅 Tomorrow')
  t.strictSame(read(w.logs)[0], { level: 30, taskId: tasks[0]?.id, chatId: CHAT, fireAt: new Date(NOW - 53_000).toISOString(), lateS: 53, msg: 'reminder sent' })
})

t.test('reminder senders: a reminder shows the due time on the chat\'s clock, and says when it was late', async (t) => {
  const w = await world(t)
  await w.db('chats').where({ id: OTHER }).update({ timezone: 'Asia/Tokyo' })
  await w.repo.add(CHAT, [{ text: 'pay rent', dueAt: NOW, dueHasTime: true, remindAt: NOW - 10 * 60_000 }])
  await w.repo.add(OTHER, [{ text: 'call', dueAt: NOW + 3_600_000, dueHasTime: true, remindAt: NOW }])
  await new ReminderSender(w.deps).sendDue()
  t.equal(w.emu.messages(CHAT)[0]?.rendered, '⏰ #1 pay rent\ndue 08:00 (reminder delayed: I was offline at 07:50)', 'the bot\'s default zone')
  t.equal(w.emu.messages(OTHER)[0]?.rendered, '⏰ #1 call\ndue 17:00', 'the chat\'s own zone')
})

t.test('reminder senders: each outcome but sent is logged with what happens next', async (t) => {
  const w = await world(t)
  const [a, b, c] = await w.repo.add(CHAT, ['a', 'b', 'c'].map((text, i) => ({ text, remindAt: NOW - 3000 + i })))
  const reminders = new ReminderSender(w.deps)
  w.emu.failNext('sendMessage', { status: 403, description: 'Forbidden: bot was blocked by the user' })
  w.emu.failNext('sendMessage', { status: 429, retryAfter: 3 })
  w.emu.failNext('sendMessage', { drop: true })
  w.stop(3)
  await reminders.sendDue()
  t.equal(reminders.sent, 0)
  t.strictSame(read(w.logs), [
    { level: 40, taskId: a?.id, chatId: CHAT, outcome: 'failed', msg: 'reminder refused by Telegram' },
    { level: 40, taskId: b?.id, retryInMs: 3000, msg: 'reminder not accepted yet; will retry' },
    { level: 40, taskId: c?.id, chatId: CHAT, outcome: 'unknown', msg: 'reminder may not have arrived (connection lost while sending); not sent again' },
  ])
  t.strictSame(await w.db('reminders').orderBy('task_id').select('task_id', 'status'), [{ task_id: a?.id, status: 'failed' }, { task_id: c?.id, status: 'unknown' }])
  t.strictSame(await w.deps.store.due(NOW, 10), [{ taskId: b?.id, chatId: CHAT, fireAt: NOW - 2999 }], 'the 429 released it')
})

t.test('reminder senders: a stopping loop ends after the send in flight; a reminder claimed or deleted meanwhile is not sent', async (t) => {
  const w = await world(t)
  const [a, b] = await w.repo.add(CHAT, ['a', 'b', 'c'].map((text, i) => ({ text, remindAt: NOW - 3000 + i })))
  w.stop(1)
  const reminders = new ReminderSender(w.deps)
  await reminders.sendDue()
  t.equal(reminders.sent, 1)
  t.strictSame(w.emu.messages(CHAT).map((m) => m.rendered), ['⏰ #1 a'])

  await w.db('reminders').insert({ task_id: b?.id, chat_id: CHAT, fire_at: NOW - 2999, status: 'sent', created_at: NOW })
  await w.repo.remove(CHAT, [a?.id ?? 0], 1)
  w.stop(Infinity)
  await reminders.sendDue()
  t.strictSame(w.emu.messages(CHAT).map((m) => m.rendered), ['⏰ #1 a', '⏰ #3 c'], 'b has its row already; c goes out')
  t.equal(reminders.sent, 2)
})

t.test('reminder senders: a digest goes out once its hour has come, with what is due that day; the next is when the soonest is due', async (t) => {
  const w = await world(t)
  await w.db('chats').where({ id: CHAT }).update({ digest_time: '8:00' })
  await w.db('chats').where({ id: OTHER }).update({ digest_time: '9:30', timezone: 'Europe/London' })
  await w.repo.add(CHAT, [
    { text: 'overdue', dueAt: berlin('2026-11-30T00:00'), dueHasTime: false },
    { text: 'tonight', dueAt: berlin('2026-12-01T23:59'), dueHasTime: true },
    { text: 'tomorrow', dueAt: berlin('2026-12-02T00:00'), dueHasTime: false },
  ])
  const digests = new DigestSender(w.deps)
  t.equal(await digests.sendDue(), berlin('2026-12-01T10:30'), 'London\'s 9:30 is due next')
  t.equal(w.emu.messages(CHAT)[0]?.rendered, '☀️ Good morning! Due today (Tue 1 Dec) and overdue:\n\n#1 overdue — ⚠️ overdue, was due Mon 30 Nov\n#2 tonight — due Tue 1 Dec 23:59')
  t.strictSame(w.emu.messages(OTHER), [], 'not yet in London')
  t.strictSame(read(w.logs), [{ level: 30, chatId: CHAT, localDate: '2026-12-01', tasks: 2, msg: 'digest sent' }])
  t.strictSame(await w.db('digests').select('chat_id', 'local_date', 'status'), [{ chat_id: CHAT, local_date: '2026-12-01', status: 'sent' }])

  t.equal(await digests.sendDue(), berlin('2026-12-01T10:30'), 'asked again: nothing sent twice')
  t.equal(w.emu.messages(CHAT).length, 1)
  w.stop(0)
  t.equal(await digests.sendDue(), Infinity, 'stopping: nothing looked at')
  await w.db('chats').update({ digest_time: null })
  w.stop(Infinity)
  t.equal(await digests.sendDue(), Infinity, 'no digests: nothing due')
})

t.test('reminder senders: a digest Telegram did not take is released; one refused is failed for the day', async (t) => {
  const w = await world(t)
  await w.db('chats').where({ id: CHAT }).update({ digest_time: '7:00' })
  const digests = new DigestSender(w.deps)
  w.emu.failNext('sendMessage', { status: 503 })
  await digests.sendDue()
  t.strictSame(await w.db('digests').select('status'), [], 'released')
  await digests.sendDue()
  t.equal(w.emu.messages(CHAT)[0]?.rendered, '☀️ Good morning! Nothing is due today (Tue 1 Dec).', 'sent at the next look')
  await w.db('digests').delete()
  w.emu.failNext('sendMessage', { status: 403, description: 'Forbidden: bot was blocked by the user' })
  await digests.sendDue()
  await digests.sendDue()
  t.equal(w.emu.messages(CHAT).length, 1, 'not sent again that day')
  t.strictSame(await w.db('digests').select('status', 'message_id', 'sent_at'), [{ status: 'failed', message_id: null, sent_at: null }])
  t.strictSame(read(w.logs).map((l) => [l.level, l.msg, l.outcome]), [
    [40, 'digest not accepted yet; will retry', 'retry'],
    [30, 'digest sent', undefined],
    [40, 'digest not sent; not sent again today', 'failed'],
  ])
})
