// bot/takeover.ts on real SQLite files: what the incoming version does with a plan at take-over.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { openDatabase } from '../bot/db.js'
import { createLogger } from '../bot/logger.js'
import { carryOutPlan } from '../bot/takeover.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import { UpdateLedger } from '../bot/updates/ledger.js'
import { LogSink, tempDir } from './support/bot-harness.js'

t.test('take-over: a restore keeps the ids the replaced database handled after the backup, not their changes', async (t) => {
  const dir = tempDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'db', 'todo.sqlite')
  const backup = path.join(dir, 'backup.sqlite')
  const add = (text: string) => async (trx: Parameters<Parameters<UpdateLedger['handleOnce']>[1]>[0]) => {
    await new TaskRepository(trx, Date.now).add(7, [text])
    return []
  }
  let db = openDatabase(file)
  await db.migrate.latest()
  const ledger = new UpdateLedger(db, Date.now)
  for (let id = 1; id <= 3; id += 1) await ledger.handleOnce(id, add(`before ${id}`))
  await db.destroy()
  fs.copyFileSync(file, backup)
  db = openDatabase(file)
  const later = new UpdateLedger(db, Date.now)
  // The outgoing version handled these after the backup (and answered them).
  for (let id = 4; id <= 6; id += 1) await later.handleOnce(id, add(`after ${id}`))
  await db.destroy()

  const result = await carryOutPlan({ id: 'p1', version: 'v', restore: { from: backup, keepAs: path.join(dir, 'replaced.sqlite') } }, { engine: 'sqlite', file }, file, createLogger('warn', new LogSink()))
  t.match(result.steps, [{ name: 'restore', detail: 'backup.sqlite put in place; the replaced database kept as replaced.sqlite; 3 update id(s) handled since the backup carried over' }])
  db = openDatabase(file)
  t.teardown(() => db.destroy())
  t.same(await db('tasks').orderBy('number').pluck('text'), ['before 1', 'before 2', 'before 3'], 'the backup\'s tasks, not the later ones')
  t.same((await db('handled_updates').orderBy('update_id').pluck('update_id')).map(Number), [1, 2, 3, 4, 5, 6])
  const restored = new UpdateLedger(db, Date.now)
  t.equal(await restored.handleOnce(6, add('after 6 again')), false, 'Telegram sending the last batch again changes nothing and is not answered')
  t.equal(await restored.lastUpdateId(), 6, 'polling resumes after the newest id the outgoing version handled')
  t.same(await db('tasks').orderBy('number').pluck('text'), ['before 1', 'before 2', 'before 3'])
})
