// The task repository (bot/tasks/repository.ts) method by method, on SQLite in a temp folder with
// the real migrations: numbers per chat that are never reused, every query scoped by chat, the
// orders the lists promise, and the exact rows each change leaves.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { openDatabase, type Database } from '../bot/db.js'
import { TaskRepository, taskCountsOf, type Task } from '../bot/tasks/repository.js'

const T0 = Date.parse('2026-12-01T08:00:00Z')
const CHAT = 7
const OTHER = 8

async function fresh (t: Test): Promise<{ db: Database, repo: TaskRepository, clock: { at: number } }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-repo-'))
  const db = openDatabase({ engine: 'sqlite', file: path.join(dir, 'todo.sqlite') })
  t.teardown(async () => {
    await db.destroy()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await db.migrate.latest()
  const clock = { at: T0 }
  return { db, repo: new TaskRepository(db, () => clock.at), clock }
}

const numbers = (tasks: readonly Task[]): number[] => tasks.map((x) => x.number)
const row = async (db: Database, id: number | undefined): Promise<Record<string, unknown>> =>
  await db('tasks').where({ id }).first('done_at', 'deleted_at', 'deleted_batch', 'updated_at', 'remind_at', 'text', 'due_at', 'due_has_time', 'repeat', 'remind_before_min') as Record<string, unknown>

t.test('task repository: add numbers each chat\'s tasks from 1, returns them whole, and never reuses a number', async (t) => {
  const { db, repo, clock } = await fresh(t)
  t.strictSame(await repo.add(CHAT, []), [], 'nothing to add')
  t.strictSame(await db('chats').select('id'), [], 'and no chat row for it')
  const [milk, rent] = await repo.add(CHAT, ['milk', { text: 'rent', dueAt: T0 + 1000, dueHasTime: true, repeat: { unit: 'month', every: 1 }, remindBeforeMin: 30, remindAt: T0 + 500 }])
  t.strictSame(milk, { id: milk?.id, chatId: CHAT, number: 1, text: 'milk', createdAt: T0, doneAt: null, dueAt: null, dueHasTime: false, repeat: null, remindBeforeMin: null, remindAt: null })
  t.strictSame(rent, { id: rent?.id, chatId: CHAT, number: 2, text: 'rent', createdAt: T0, doneAt: null, dueAt: T0 + 1000, dueHasTime: true, repeat: { unit: 'month', every: 1 }, remindBeforeMin: 30, remindAt: T0 + 500 })
  t.strictSame(await db('tasks').where({ id: rent?.id }).first('repeat', 'due_has_time', 'updated_at'), { repeat: '{"unit":"month","every":1}', due_has_time: 1, updated_at: T0 })
  const [imported] = await repo.add(OTHER, [{ text: 'old', createdAt: T0 - 5000, doneAt: T0 - 1000, dueHasTime: false }])
  t.strictSame([imported?.number, imported?.createdAt, imported?.doneAt, imported?.dueHasTime], [1, T0 - 5000, T0 - 1000, false], 'another chat counts from 1; an import keeps its times')
  await repo.remove(CHAT, [rent?.id ?? 0], 1)
  clock.at = T0 + 60_000
  const added = await repo.add(CHAT, ['eggs', 'tea'])
  t.strictSame(numbers(added), [3, 4], '#2 was deleted: its number is not given again')
  t.strictSame(await db('chats').orderBy('id').select('id', 'next_number', 'created_at'), [{ id: CHAT, next_number: 5, created_at: T0 }, { id: OTHER, next_number: 2, created_at: T0 }])
})

t.test('task repository: a long add is stored in pieces, numbered in order', async (t) => {
  const { db, repo } = await fresh(t)
  await repo.add(CHAT, ['first'])
  const texts = Array.from({ length: 450 }, (_, i) => `t${i + 2}`)
  const added = await repo.add(CHAT, texts)
  t.strictSame(numbers(added), Array.from({ length: 450 }, (_, i) => i + 2))
  t.strictSame(added.map((x) => x.text), texts)
  t.equal(await repo.countOpen(CHAT), 451)
  t.strictSame(numbers(await repo.byNumbers(CHAT, Array.from({ length: 600 }, (_, i) => 600 - i))), Array.from({ length: 451 }, (_, i) => i + 1), 'byNumbers: 600 asked in pieces, the 451 that exist, in order')
  t.equal((await db('tasks').max({ n: 'number' }).first() as { n: number }).n, 451)
  const exact = await repo.add(CHAT, Array.from({ length: 400 }, (_, i) => `u${i}`))
  t.strictSame([exact.length, exact[0]?.number, exact.at(-1)?.number], [400, 452, 851], 'exactly two pieces of 200')
  t.equal((await repo.byNumbers(CHAT, Array.from({ length: 500 }, (_, i) => i + 1))).length, 500, 'exactly one piece of 500')
})

t.test('task repository: open lists due tasks first, soonest first, then by number; pages read only their rows', async (t) => {
  const { repo } = await fresh(t)
  const tasks = await repo.add(CHAT, ['a', { text: 'b', dueAt: T0 + 2000 }, 'c', { text: 'd', dueAt: T0 + 1000 }, { text: 'e', dueAt: T0 + 1000 }, 'f', 'g'])
  await repo.add(OTHER, ['other'])
  await repo.complete(CHAT, [tasks[5]?.id ?? 0])
  await repo.remove(CHAT, [tasks[6]?.id ?? 0], 9)
  t.strictSame(numbers(await repo.open(CHAT)), [4, 5, 2, 1, 3], 'not done #6, not deleted #7, not the other chat\'s')
  t.strictSame(numbers(await repo.openPage(CHAT, 0, 2)), [4, 5])
  t.strictSame(numbers(await repo.openPage(CHAT, 2, 2)), [2, 1])
  t.strictSame(numbers(await repo.openPage(CHAT, 4, 2)), [3])
  t.equal(await repo.countOpen(CHAT), 5)
  t.equal(await repo.countOpen(OTHER), 1)
  t.equal(await repo.countOpen(99), 0)
})

t.test('task repository: due before a time, and every open task with a due date', async (t) => {
  const { repo } = await fresh(t)
  const tasks = await repo.add(CHAT, [{ text: 'late', dueAt: T0 + 3000 }, { text: 'now', dueAt: T0 }, 'none', { text: 'overdue', dueAt: T0 - 1 }, { text: 'done', dueAt: T0 - 5 }, { text: 'same', dueAt: T0 }])
  await repo.add(OTHER, [{ text: 'other', dueAt: T0 - 10 }])
  await repo.complete(CHAT, [tasks[4]?.id ?? 0])
  t.strictSame(numbers(await repo.dueBefore(CHAT, T0 + 1)), [4, 2, 6], 'soonest first, ties by number; not done, not undated, not the other chat\'s')
  t.strictSame(numbers(await repo.dueBefore(CHAT, T0)), [4], 'due at `until` itself is not before it')
  t.strictSame(numbers(await repo.openWithDue(CHAT)).sort((a, b) => a - b), [1, 2, 4, 6])
})

t.test('task repository: schedules, reminders and text change only the named chat\'s task', async (t) => {
  const { db, repo, clock } = await fresh(t)
  const [a] = await repo.add(CHAT, ['a'])
  const [b] = await repo.add(OTHER, ['b'])
  clock.at = T0 + 1000
  await repo.setSchedule(CHAT, a?.id ?? 0, { dueAt: T0 + 9000, dueHasTime: true, repeat: { unit: 'day', every: 2 }, remindBeforeMin: 15, remindAt: T0 + 8000 })
  await repo.setSchedule(CHAT, b?.id ?? 0, { dueAt: T0 + 9000, dueHasTime: true, repeat: null, remindBeforeMin: 15, remindAt: T0 + 8000 })
  t.strictSame(await row(db, a?.id), { done_at: null, deleted_at: null, deleted_batch: null, updated_at: T0 + 1000, remind_at: T0 + 8000, text: 'a', due_at: T0 + 9000, due_has_time: 1, repeat: '{"unit":"day","every":2}', remind_before_min: 15 })
  t.strictSame(await row(db, b?.id), { done_at: null, deleted_at: null, deleted_batch: null, updated_at: T0, remind_at: null, text: 'b', due_at: null, due_has_time: 0, repeat: null, remind_before_min: null }, 'another chat\'s task id: untouched')
  clock.at = T0 + 2000
  await repo.setRemindAt(CHAT, a?.id ?? 0, null)
  await repo.setRemindAt(CHAT, b?.id ?? 0, T0)
  await repo.edit(CHAT, a?.id ?? 0, 'a, edited')
  await repo.edit(CHAT, b?.id ?? 0, 'hijacked')
  t.strictSame(await row(db, a?.id), { done_at: null, deleted_at: null, deleted_batch: null, updated_at: T0 + 2000, remind_at: null, text: 'a, edited', due_at: T0 + 9000, due_has_time: 1, repeat: '{"unit":"day","every":2}', remind_before_min: 15 })
  t.strictSame(await row(db, b?.id), { done_at: null, deleted_at: null, deleted_batch: null, updated_at: T0, remind_at: null, text: 'b', due_at: null, due_has_time: 0, repeat: null, remind_before_min: null })
  await repo.setSchedule(CHAT, a?.id ?? 0, { dueAt: null, dueHasTime: false, repeat: null, remindBeforeMin: null, remindAt: null })
  t.strictSame(await row(db, a?.id), { done_at: null, deleted_at: null, deleted_batch: null, updated_at: T0 + 2000, remind_at: null, text: 'a, edited', due_at: null, due_has_time: 0, repeat: null, remind_before_min: null }, 'cleared')
  t.equal(await repo.byId(CHAT, b?.id ?? 0), undefined, 'byId: not through another chat')
  t.equal((await repo.byId(OTHER, b?.id ?? 0))?.text, 'b')
})

t.test('task repository: complete, reopen and done since', async (t) => {
  const { db, repo, clock } = await fresh(t)
  const [a, b, c] = await repo.add(CHAT, [{ text: 'a', remindAt: T0 + 100 }, 'b', 'c'])
  const [x] = await repo.add(OTHER, ['x'])
  clock.at = T0 + 1000
  await repo.complete(CHAT, [a?.id ?? 0, x?.id ?? 0])
  t.strictSame(await row(db, a?.id), { done_at: T0 + 1000, deleted_at: null, deleted_batch: null, updated_at: T0 + 1000, remind_at: null, text: 'a', due_at: null, due_has_time: 0, repeat: null, remind_before_min: null }, 'done, its reminder cleared')
  t.equal((await row(db, x?.id)).done_at, null, 'another chat\'s task: untouched')
  clock.at = T0 + 2000
  await repo.complete(CHAT, [a?.id ?? 0, b?.id ?? 0])
  t.strictSame([(await row(db, a?.id)).done_at, (await row(db, a?.id)).updated_at, (await row(db, b?.id)).done_at], [T0 + 1000, T0 + 1000, T0 + 2000], 'completed again: keeps its first time')
  await repo.remove(CHAT, [b?.id ?? 0], 3)
  t.strictSame(numbers(await repo.doneSince(CHAT, T0 + 1000)), [1], 'from that very moment on; not a deleted one')
  t.strictSame(numbers(await repo.doneSince(CHAT, T0 + 1001)), [])
  t.equal(await repo.countDone(CHAT), 1)
  await repo.complete(OTHER, [x?.id ?? 0])
  clock.at = T0 + 3000
  await repo.reopen(CHAT, [a?.id ?? 0, x?.id ?? 0])
  t.strictSame([(await row(db, a?.id)).done_at, (await row(db, a?.id)).updated_at], [null, T0 + 3000])
  t.equal((await row(db, x?.id)).done_at, T0 + 2000, 'another chat\'s task stays done')
  t.equal(await repo.countDone(CHAT), 0)
  t.equal((await repo.byId(CHAT, c?.id ?? 0))?.doneAt, null)
})

t.test('task repository: remove and clear done in batches; an undo restores exactly its batch', async (t) => {
  const { db, repo, clock } = await fresh(t)
  const [a, b, c, d] = await repo.add(CHAT, ['a', 'b', 'c', 'd'])
  const [x] = await repo.add(OTHER, ['x'])
  clock.at = T0 + 1000
  await repo.remove(CHAT, [a?.id ?? 0, x?.id ?? 0], 11)
  t.strictSame(await db('tasks').whereNotNull('deleted_at').select('id', 'deleted_at', 'deleted_batch', 'updated_at'), [{ id: a?.id, deleted_at: T0 + 1000, deleted_batch: 11, updated_at: T0 + 1000 }], 'not the other chat\'s')
  await repo.complete(CHAT, [c?.id ?? 0])
  clock.at = T0 + 1500
  await repo.complete(CHAT, [b?.id ?? 0])
  clock.at = T0 + 2000
  t.equal(await repo.removeDone(CHAT, 12), 2)
  t.equal(await repo.removeDone(CHAT, 13), 0, 'nothing left to clear')
  t.equal(await repo.countDone(CHAT), 0)
  t.strictSame(numbers(await repo.open(CHAT)), [4])
  t.equal(await repo.byId(CHAT, a?.id ?? 0), undefined, 'a deleted task is not found')
  t.strictSame(await repo.restore(CHAT, 99), [], 'no such batch')
  t.strictSame(await repo.restore(OTHER, 12), [], 'not another chat\'s batch')
  clock.at = T0 + 3000
  const back = await repo.restore(CHAT, 12)
  t.strictSame(back.map((x) => [x.number, x.doneAt]), [[2, T0 + 1500], [3, T0 + 1000]], 'batch 12, done as before, in number order (not in the order they were done)')
  t.strictSame(await db('tasks').whereIn('id', [b?.id ?? 0, c?.id ?? 0]).select('deleted_at', 'deleted_batch', 'updated_at'), [{ deleted_at: null, deleted_batch: null, updated_at: T0 + 3000 }, { deleted_at: null, deleted_batch: null, updated_at: T0 + 3000 }])
  t.equal((await row(db, a?.id)).deleted_batch, 11, 'batch 11 stays deleted')
  t.strictSame(await repo.restore(CHAT, 12), [], 'restored once')
  t.equal((await repo.byId(CHAT, d?.id ?? 0))?.text, 'd')
})

t.test('task repository: counts for health are chats with tasks, open and done, deleted left out', async (t) => {
  const { repo } = await fresh(t)
  t.strictSame(await repo.counts(), { chats: 0, open: 0, done: 0 })
  const [a, b] = await repo.add(CHAT, ['a', 'b', 'c'])
  const [x] = await repo.add(OTHER, ['x'])
  await repo.add(9, ['y'])
  await repo.complete(CHAT, [a?.id ?? 0])
  await repo.remove(CHAT, [b?.id ?? 0], 1)
  await repo.remove(OTHER, [x?.id ?? 0], 1)
  t.strictSame(await repo.counts(), { chats: 2, open: 2, done: 1 })
  t.strictSame(taskCountsOf(undefined), { chats: 0, open: 0, done: 0 })
  t.strictSame(taskCountsOf({ chats: '3', open: null, done: '12' }), { chats: 3, open: 0, done: 12 }, 'PostgreSQL\'s strings and an empty sum')
})
