// What a send's outcome leaves recorded (bot/reminders/outcome.ts, one table for reminders and
// digests): Telegram saying for certain it did not send (5xx after the client's own retries)
// releases the claim, so the message goes out later, once; a refusal for good (403) is recorded
// as failed and never retried. The real bot, the emulator, SQLite, a clock the test sets.
import { DateTime } from 'luxon'
import t from 'tap'
import { AdjustableClock } from '../bot/clock.js'
import { OWNER, startHarness } from './support/bot-harness.js'
import { reminderLoopLooked, waitUntil } from './support/wait.js'

const ZONE = 'Europe/Berlin'
const berlin = (local: string): number => DateTime.fromISO(local, { zone: ZONE }).toMillis()
const clock = new AdjustableClock(berlin('2026-12-01T06:00'), 0)
const h = await startHarness({ DEFAULT_TIMEZONE: ZONE }, { clock })
t.teardown(() => h.close())

async function jumpTo (local: string): Promise<void> {
  clock.set(berlin(local))
  await reminderLoopLooked(() => h.bot.health(), new Date(clock.now()).toISOString())
}

async function logged (text: string, from: number): Promise<void> {
  await waitUntil(() => h.logs.lines.slice(from).some((l) => l.includes(text)), { what: `"${text}" in the log`, timeoutMs: 15_000 })
}

const sent = (prefix: string): string[] => h.emu.messages(OWNER).map((m) => m.rendered).filter((r) => r.startsWith(prefix))
const blocked = { status: 403 as const, description: 'Forbidden: bot was blocked by the user' }

t.test('reminder outcomes: a 5xx releases the reminder, which is sent once Telegram answers; a 403 is recorded failed, never retried', async (t) => {
  await h.say('water plants at 7:00')
  const task = await h.bot.db('tasks').where({ chat_id: OWNER, number: 1 }).first('id', 'remind_at') as { id: number, remind_at: number }
  t.equal(task.remind_at, berlin('2026-12-01T07:00'))
  const mark = h.logs.lines.length
  h.emu.failNext('sendMessage', { status: 502 }, 20)
  clock.set(berlin('2026-12-01T07:00'))
  await logged('reminder not accepted yet; will retry', mark)
  t.same(await h.bot.db('reminders').where({ task_id: task.id }).select('status'), [], 'the claim was released: no reminder row')
  t.equal((await h.bot.db('tasks').where({ id: task.id }).first('remind_at') as { remind_at: number }).remind_at, berlin('2026-12-01T07:00'), 'the task is due for its reminder again')
  h.emu.clearFaults()
  await waitUntil(async () => (await h.bot.db('reminders').where({ task_id: task.id, status: 'sent' }).select('id')).length === 1, { what: 'the reminder recorded as sent', timeoutMs: 15_000 })
  t.same(sent('⏰').map((r) => r.split('\n')[0]), ['⏰ #1 water plants'], 'sent once')
  t.match(await h.bot.db('reminders').where({ task_id: task.id }).select('status', 'fire_at'), [{ status: 'sent', fire_at: berlin('2026-12-01T07:00') }])

  await h.say('feed cat at 8:00')
  const cat = await h.bot.db('tasks').where({ chat_id: OWNER, number: 2 }).first('id') as { id: number }
  const mark2 = h.logs.lines.length
  h.emu.failNext('sendMessage', blocked)
  clock.set(berlin('2026-12-01T08:00'))
  await logged('reminder refused by Telegram', mark2)
  t.same(await h.bot.db('reminders').where({ task_id: cat.id }).select('status', 'message_id', 'sent_at'), [{ status: 'failed', message_id: null, sent_at: null }])
  t.equal((await h.bot.db('tasks').where({ id: cat.id }).first('remind_at') as { remind_at: number | null }).remind_at, null, 'the claim stands')
  await jumpTo('2026-12-01T09:00')
  t.same(sent('⏰').map((r) => r.split('\n')[0]), ['⏰ #1 water plants'], 'not sent again')
})

t.test('reminder outcomes: a digest released by a 5xx goes out later that morning; one refused for good is recorded failed', async (t) => {
  await jumpTo('2026-12-01T20:00')
  t.equal((await h.say('/digest 8:00')).rendered, '☀️ Every day at 08:00 (Europe/Berlin) I\'ll send what is due that day and what is overdue.')
  const mark = h.logs.lines.length
  h.emu.failNext('sendMessage', { status: 503 }, 20)
  clock.set(berlin('2026-12-02T08:00'))
  await waitUntil(async () => h.emu.calls('sendMessage').some((c) => c.status === 503), { what: 'the digest send to fail', timeoutMs: 15_000 })
  await reminderLoopLooked(() => h.bot.health(), new Date(clock.now()).toISOString(), 15_000)
  t.same(await h.bot.db('digests').where({ chat_id: OWNER, local_date: '2026-12-02' }).select('status'), [], 'the claim was released: no digest row')
  t.same(sent('☀️ Good morning'), [], 'nothing arrived yet')
  h.emu.clearFaults()
  // The clock here stands still between jumps: a small one brings the next look.
  clock.set(berlin('2026-12-02T08:01'))
  await waitUntil(async () => (await h.bot.db('digests').where({ chat_id: OWNER, local_date: '2026-12-02', status: 'sent' }).select('id')).length === 1, { what: 'the digest recorded as sent', timeoutMs: 15_000 })
  t.equal(sent('☀️ Good morning').length, 1, 'sent once')
  t.match(await h.bot.db('digests').where({ chat_id: OWNER, local_date: '2026-12-02' }).select('status'), [{ status: 'sent' }])
  t.ok(h.logs.lines.slice(mark).some((l) => l.includes('digest not accepted yet; will retry')), 'the release is logged')

  const mark2 = h.logs.lines.length
  h.emu.failNext('sendMessage', blocked)
  clock.set(berlin('2026-12-03T08:00'))
  await logged('digest not sent; not sent again today', mark2)
  t.same(await h.bot.db('digests').where({ chat_id: OWNER, local_date: '2026-12-03' }).select('status', 'message_id', 'sent_at'), [{ status: 'failed', message_id: null, sent_at: null }])
  await jumpTo('2026-12-03T09:00')
  t.equal(sent('☀️ Good morning').length, 1, 'not sent again')
})
