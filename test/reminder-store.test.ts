// The reminder loop's view of the database (bot/reminders/store.ts), unit by unit, on SQLite in a
// temp folder with the real migrations: what is due, the claim that makes a send at most once,
// what each outcome leaves, the digests' claims, and the numbers health shows.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { openDatabase, type Database } from '../bot/db.js'
import { ReminderStore } from '../bot/reminders/store.js'
import { TaskRepository } from '../bot/tasks/repository.js'

const NOW = Date.parse('2026-12-01T08:00:00Z')
const CHAT = 7
const OTHER = 8

async function fresh (t: Test): Promise<{ db: Database, store: ReminderStore, ids: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-store-'))
  const db = openDatabase({ engine: 'sqlite', file: path.join(dir, 'todo.sqlite') })
  t.teardown(async () => {
    await db.destroy()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await db.migrate.latest()
  const repo = new TaskRepository(db, () => NOW)
  const tasks = [...await repo.add(CHAT, ['a', 'b', 'c', 'd', 'e']), ...await repo.add(OTHER, ['f'])]
  return { db, store: new ReminderStore(db, () => NOW + 1), ids: tasks.map((x) => x.id) }
}

const remindAt = async (db: Database, id: number | undefined, at: number | null, more: Record<string, number | null> = {}): Promise<void> => {
  await db('tasks').where({ id }).update({ remind_at: at, ...more })
}

t.test('reminder store: due is every open task whose reminder time has come, earliest first, up to the limit', async (t) => {
  const { db, store, ids } = await fresh(t)
  const [a, b, c, d, e, f] = ids
  await remindAt(db, a, NOW)
  await remindAt(db, b, NOW - 60_000)
  await remindAt(db, c, NOW + 1)
  await remindAt(db, d, NOW - 60_000, { done_at: NOW - 1 })
  await remindAt(db, e, NOW - 120_000, { deleted_at: NOW - 1 })
  await remindAt(db, f, NOW - 60_000)
  t.strictSame(await store.due(NOW, 10), [
    { taskId: b, chatId: CHAT, fireAt: NOW - 60_000 },
    { taskId: f, chatId: OTHER, fireAt: NOW - 60_000 },
    { taskId: a, chatId: CHAT, fireAt: NOW },
  ], 'due at this very moment counts; a millisecond ahead, done or deleted do not; ties by task id')
  t.strictSame((await store.due(NOW, 2)).map((r) => r.taskId), [b, f])
  t.equal(await store.backlog(NOW), 3)
  t.equal(await store.backlog(NOW - 60_001), 0)
  t.equal(await store.nextDueAt(), NOW - 60_000, 'the earliest open reminder (a deleted one earlier is not counted)')
  await db('tasks').update({ remind_at: null })
  t.equal(await store.nextDueAt(), null)
  t.equal(await store.backlog(NOW), 0)
})

t.test('reminder store: a claim clears the task\'s reminder and writes a sending row, once', async (t) => {
  const { db, store, ids } = await fresh(t)
  const [a, b, c] = ids as [number, number, number]
  await remindAt(db, a, NOW)
  const r = { taskId: a, chatId: CHAT, fireAt: NOW }
  const id = await store.claim(r)
  t.type(id, 'number')
  t.strictSame(await db('reminders').select('id', 'task_id', 'chat_id', 'fire_at', 'status', 'message_id', 'sent_at', 'created_at'), [
    { id, task_id: a, chat_id: CHAT, fire_at: NOW, status: 'sending', message_id: null, sent_at: null, created_at: NOW + 1 },
  ])
  t.equal((await db('tasks').where({ id: a }).first('remind_at') as { remind_at: number | null }).remind_at, null)
  t.equal(await store.claim(r), undefined, 'claimed already: not again')

  await remindAt(db, b, NOW + 600_000)
  t.equal(await store.claim({ taskId: b, chatId: CHAT, fireAt: NOW }), undefined, 'snoozed meanwhile: the old time is not claimed')
  t.equal((await db('tasks').where({ id: b }).first('remind_at') as { remind_at: number }).remind_at, NOW + 600_000, 'and the new time stands')
  await remindAt(db, c, NOW, { done_at: NOW })
  t.equal(await store.claim({ taskId: c, chatId: CHAT, fireAt: NOW }), undefined, 'completed meanwhile')
  await remindAt(db, c, NOW, { done_at: null, deleted_at: NOW })
  t.equal(await store.claim({ taskId: c, chatId: CHAT, fireAt: NOW }), undefined, 'deleted meanwhile')
  t.equal((await db('tasks').where({ id: c }).first('remind_at') as { remind_at: number }).remind_at, NOW, 'a refused claim changes nothing')

  await remindAt(db, a, NOW)
  t.equal(await store.claim(r), undefined, 'this occurrence has a row already (sent before): never twice')
  t.equal((await db('tasks').where({ id: a }).first('remind_at') as { remind_at: number | null }).remind_at, null, 'and no longer due, so the loop does not find it again')
  t.strictSame(await store.due(NOW, 10), [])
  t.equal(await db('reminders').count({ n: '*' }).first().then((x) => Number((x as { n: number }).n)), 1)
})

t.test('reminder store: each outcome of a reminder\'s send, recorded', async (t) => {
  const { db, store, ids } = await fresh(t)
  const [a, b, c, d] = ids as [number, number, number, number]
  const claim = async (taskId: number): Promise<{ id: number, r: { taskId: number, chatId: number, fireAt: number } }> => {
    await remindAt(db, taskId, NOW)
    const r = { taskId, chatId: CHAT, fireAt: NOW }
    const id = await store.claim(r)
    if (id === undefined) throw new Error('not claimed')
    return { id, r }
  }
  const row = async (taskId: number): Promise<unknown> => await db('reminders').where({ task_id: taskId }).first('status', 'message_id', 'sent_at') ?? null

  const sent = await claim(a)
  await store.recordReminder(sent.id, sent.r, 'sent', 99)
  t.strictSame(await row(a), { status: 'sent', message_id: 99, sent_at: NOW + 1 })
  t.equal(await store.lastSentAt(), NOW + 1)

  const failed = await claim(b)
  await store.recordReminder(failed.id, failed.r, 'failed')
  t.strictSame(await row(b), { status: 'failed', message_id: null, sent_at: null })
  const unknown = await claim(c)
  await store.recordReminder(unknown.id, unknown.r, 'unknown')
  t.strictSame(await row(c), { status: 'unknown', message_id: null, sent_at: null })

  const released = await claim(d)
  await store.recordReminder(released.id, released.r, 'released')
  t.equal(await row(d), null, 'released: the row is gone')
  t.equal((await db('tasks').where({ id: d }).first('remind_at') as { remind_at: number }).remind_at, NOW, 'and the task is due for it again')
  t.strictSame(await store.due(NOW, 10), [released.r])

  const again = await claim(d)
  await remindAt(db, d, NOW + 600_000)
  await store.recordReminder(again.id, again.r, 'released')
  t.equal((await db('tasks').where({ id: d }).first('remind_at') as { remind_at: number }).remind_at, NOW + 600_000, 'snoozed while it was being sent: the snooze stands')
  await remindAt(db, d, null, { done_at: NOW })
  const third = { taskId: d, chatId: CHAT, fireAt: NOW }
  await db('reminders').insert({ task_id: d, chat_id: CHAT, fire_at: NOW, status: 'sending', created_at: NOW })
  const thirdId = (await db('reminders').where({ task_id: d }).first('id') as { id: number }).id
  await store.recordReminder(thirdId, third, 'released')
  t.equal((await db('tasks').where({ id: d }).first('remind_at') as { remind_at: number | null }).remind_at, null, 'completed while it was being sent: not due again')
  t.equal(await row(a).then((x) => (x as { status: string }).status), 'sent', 'the other rows are left alone')
})

t.test('reminder store: claims left sending by a crash become unknown, reminders and digests alike', async (t) => {
  const { db, store, ids } = await fresh(t)
  const [a, b] = ids as [number, number]
  await db('reminders').insert([
    { task_id: a, chat_id: CHAT, fire_at: NOW, status: 'sending', created_at: NOW },
    { task_id: b, chat_id: CHAT, fire_at: NOW, status: 'sent', created_at: NOW },
  ])
  await db('digests').insert([
    { chat_id: CHAT, local_date: '2026-12-01', status: 'sending', created_at: NOW },
    { chat_id: OTHER, local_date: '2026-12-01', status: 'sending', created_at: NOW },
  ])
  t.equal(await store.settleInterrupted(), 3)
  t.strictSame(await db('reminders').orderBy('task_id').pluck('status'), ['unknown', 'sent'])
  t.strictSame(await db('digests').orderBy('chat_id').pluck('status'), ['unknown', 'unknown'])
  t.equal(await store.settleInterrupted(), 0)
  t.equal(await store.lastSentAt(), null, 'a sent row without sent_at is no last send')
})

t.test('reminder store: digests — the chats that have one, a claim per chat and day, each outcome', async (t) => {
  const { db, store } = await fresh(t)
  await db('chats').where({ id: CHAT }).update({ digest_time: '8:00', timezone: 'Europe/Berlin' })
  await db('chats').where({ id: OTHER }).update({ digest_time: '07:30' })
  t.strictSame(await store.digestChats(), [
    { chatId: CHAT, timezone: 'Europe/Berlin', digestTime: '8:00' },
    { chatId: OTHER, timezone: null, digestTime: '07:30' },
  ])
  await db('chats').where({ id: OTHER }).update({ digest_time: null })
  t.strictSame((await store.digestChats()).map((c) => c.chatId), [CHAT])

  t.equal(await store.hasDigest(CHAT, '2026-12-01'), false)
  const id = await store.claimDigest(CHAT, '2026-12-01')
  t.type(id, 'number')
  t.equal(await store.hasDigest(CHAT, '2026-12-01'), true)
  t.equal(await store.hasDigest(CHAT, '2026-12-02'), false, 'another day')
  t.equal(await store.hasDigest(OTHER, '2026-12-01'), false, 'another chat')
  t.equal(await store.claimDigest(CHAT, '2026-12-01'), undefined, 'once a day')
  t.strictSame(await db('digests').select('id', 'chat_id', 'local_date', 'status', 'message_id', 'sent_at', 'created_at'), [
    { id, chat_id: CHAT, local_date: '2026-12-01', status: 'sending', message_id: null, sent_at: null, created_at: NOW + 1 },
  ])
  await store.recordDigest(id ?? 0, 'sent', 55)
  t.strictSame(await db('digests').where({ id }).first('status', 'message_id', 'sent_at'), { status: 'sent', message_id: 55, sent_at: NOW + 1 })

  const other = await store.claimDigest(OTHER, '2026-12-01')
  await store.recordDigest(other ?? 0, 'failed')
  t.strictSame(await db('digests').where({ id: other }).first('status', 'message_id', 'sent_at'), { status: 'failed', message_id: null, sent_at: null })
  t.strictSame(await db('digests').orderBy('id').select('chat_id', 'status'), [{ chat_id: CHAT, status: 'sent' }, { chat_id: OTHER, status: 'failed' }], 'only that digest\'s row')
  const next = await store.claimDigest(CHAT, '2026-12-02')
  await store.recordDigest(next ?? 0, 'released')
  t.equal(await store.hasDigest(CHAT, '2026-12-02'), false, 'released: claimed again at the next look')
  t.type(await store.claimDigest(CHAT, '2026-12-02'), 'number')
  t.equal(await db('digests').count({ n: '*' }).first().then((x) => Number((x as { n: number }).n)), 3)
})
