// TaskRepository.completeByNumbers on both engines (on PostgreSQL it is one statement: the rows
// read in a WITH, the open ones completed by a data-modifying WITH): it answers the tasks as they
// were, completes only the open ones among them, and touches nothing else.
import t, { type Test } from 'tap'
import type { Database } from '../bot/db.js'
import { TaskRepository, type Task } from '../bot/tasks/repository.js'
import { forEachEngine, type EngineCase } from './support/engines.js'

const T0 = Date.parse('2026-12-01T08:00:00Z')
const CHAT = 7
const OTHER = 8

async function migrated (t: Test, e: EngineCase): Promise<{ db: Database, repo: TaskRepository, clock: { at: number } }> {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const clock = { at: T0 }
  return { db, repo: new TaskRepository(db, () => clock.at), clock }
}

const brief = (tasks: readonly Task[]): Array<[number, number | null, number | null]> => tasks.map((x) => [x.number, x.doneAt === null ? null : Number(x.doneAt), x.remindAt === null ? null : Number(x.remindAt)])

forEachEngine(t, 'completeByNumbers: the tasks as they were; the open ones completed, their reminders cleared', async (t, e) => {
  const { repo, clock } = await migrated(t, e)
  await repo.add(CHAT, ['a', 'b', 'c', { text: 'd', dueAt: T0 + 3_600_000, remindAt: T0 + 1_800_000 }, 'e'])
  await repo.add(OTHER, ['other 1', 'other 2'])
  const [b] = await repo.byNumbers(CHAT, [2])
  await repo.complete(CHAT, [b?.id ?? 0])
  const [e5] = await repo.byNumbers(CHAT, [5])
  await repo.remove(CHAT, [e5?.id ?? 0], 1)
  clock.at = T0 + 60_000

  const found = await repo.completeByNumbers(CHAT, [4, 2, 9, 5, 1])
  t.same(brief(found), [[1, null, null], [2, T0, null], [4, null, T0 + 1_800_000]], 'as they were, by number; 9 (none) and 5 (deleted) not found')
  t.same(brief(await repo.byNumbers(CHAT, [1, 2, 3, 4])), [[1, T0 + 60_000, null], [2, T0, null], [3, null, null], [4, T0 + 60_000, null]], '1 and 4 completed now, 2 keeps its time, 3 untouched')
  t.same(brief(await repo.byNumbers(OTHER, [1, 2])), [[1, null, null], [2, null, null]], 'the other chat\'s 1 and 2 untouched')
  t.same(await repo.completeByNumbers(CHAT, [9]), [], 'nothing found, nothing done')
})

forEachEngine(t, 'completeByNumbers: more numbers than one statement takes (an /done 1-600)', async (t, e) => {
  const { repo, clock } = await migrated(t, e)
  await repo.add(CHAT, Array.from({ length: 600 }, (_, i) => `task ${i + 1}`))
  clock.at = T0 + 60_000
  const found = await repo.completeByNumbers(CHAT, Array.from({ length: 601 }, (_, i) => i + 1))
  t.equal(found.length, 600)
  t.ok(found.every((x) => x.doneAt === null), 'as they were')
  t.equal(await repo.countOpen(CHAT), 0, 'all completed')
})
