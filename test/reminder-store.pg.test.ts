// The reminder claim on PostgreSQL (bot/reminders/store.ts): there several bots may claim at once,
// so the claim first takes the task's row with FOR UPDATE SKIP LOCKED; a row another transaction
// holds (a button press that is snoozing or completing it, or another instance's claim) is
// skipped at once, never waited for. The SQLite half of these cases is reminder-store.test.ts.
import t, { type Test } from 'tap'
import type { Database } from '../bot/db.js'
import { ReminderStore } from '../bot/reminders/store.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import { forEachEngine, type EngineCase } from './support/engines.js'

const NOW = Date.parse('2026-12-01T08:00:00Z')
const CHAT = 7

const remindAtOf = async (db: Database, id: number): Promise<number | null> => {
  const row = await db('tasks').where({ id }).first('remind_at') as { remind_at: number | string | null }
  return row.remind_at === null ? null : Number(row.remind_at)
}

/** A migrated database with tasks a and b of CHAT both due at NOW, and a store whose clock is just past it. */
async function twoDueTasks (t: Test, e: EngineCase): Promise<{ db: Database, a: number, b: number, store: ReminderStore }> {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const [a, b] = (await new TaskRepository(db, () => NOW).add(CHAT, ['a', 'b'])).map((x) => x.id) as [number, number]
  await db('tasks').update({ remind_at: NOW })
  return { db, a, b, store: new ReminderStore(db, () => NOW + 1) }
}

forEachEngine(t, 'reminder store: a claim clears the task\'s reminder and writes a sending row, once', async (t, e) => {
  const { db, a, b, store } = await twoDueTasks(t, e)
  const r = { taskId: a, chatId: CHAT, fireAt: NOW }
  const id = await store.claim(r)
  t.type(id, 'number')
  const rows = await db('reminders').select('id', 'task_id', 'chat_id', 'fire_at', 'status') as Array<Record<string, unknown>>
  t.strictSame(rows.map((x) => [x.id, x.task_id, Number(x.chat_id), Number(x.fire_at), x.status]), [[id, a, CHAT, NOW, 'sending']])
  t.equal(await remindAtOf(db, a), null)
  t.equal(await store.claim(r), undefined, 'claimed already: not again')
  t.equal(await store.claim({ taskId: b, chatId: CHAT, fireAt: NOW - 1 }), undefined, 'another time than the task\'s: not claimed')
  t.equal(await remindAtOf(db, b), NOW, 'and b is left due')
}, ['postgres'])

forEachEngine(t, 'reminder store: a task row another transaction holds is skipped at once, not waited for', async (t, e) => {
  const { db, a, b, store } = await twoDueTasks(t, e)
  // A button press on task a, in its transaction, holding a's row (as /done or a snooze does).
  const press = await db.transaction()
  // A failing claim must fail the case, not leave the press open and the teardown waiting on it.
  t.teardown(async () => { if (!press.isCompleted()) await press.rollback() })
  await press('tasks').where({ id: a }).forUpdate().first('id')
  const started = Date.now()
  const claimed = await Promise.race([
    store.claim({ taskId: a, chatId: CHAT, fireAt: NOW }).then((id) => ({ id })),
    new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 3000)),
  ])
  t.strictSame(claimed, { id: undefined }, `skipped in ${Date.now() - started} ms, not waited for`)
  // The other task's row is free: the lock of one row does not hold back another.
  t.type(await Promise.race([store.claim({ taskId: b, chatId: CHAT, fireAt: NOW }), new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 3000))]), 'number', 'b, not held, is claimed')
  await press('tasks').where({ id: a }).update({ done_at: NOW })
  await press.commit()
  t.equal(await remindAtOf(db, a), NOW, 'the skipped claim changed nothing')
  t.strictSame((await db('reminders').pluck('task_id')).map(Number), [b])
  t.equal(await store.claim({ taskId: a, chatId: CHAT, fireAt: NOW }), undefined, 'completed meanwhile: not claimed afterwards either')
}, ['postgres'])
