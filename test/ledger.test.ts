// The exactly-once ledger on both engines: an update id is applied once — redelivered, or handled
// by two processes at the same moment — with its replies; handled ids past Telegram's 24 h are
// pruned, the newest kept for polling to resume after.
import t from 'tap'
import { TaskRepository } from '../bot/tasks/repository.js'
import { HANDLED_KEEP_MS, UpdateLedger } from '../bot/updates/ledger.js'
import { forEachEngine } from './support/engines.js'

const add = (text: string) => async (trx: Parameters<Parameters<UpdateLedger['handleOnce']>[1]>[0]) => {
  await new TaskRepository(trx, Date.now).add(7, [text])
  return [{ method: 'sendMessage', params: { chat_id: 7, text: `added ${text}` } }]
}

forEachEngine(t, 'ledger: a redelivered update is not applied again, and its replies are not queued twice', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db)
  t.equal(await ledger.lastUpdateId(), undefined)
  t.equal(await ledger.handleOnce(10, add('milk')), true)
  t.equal(await ledger.handleOnce(10, add('milk')), false)
  t.equal(await ledger.handleOnce(11, add('bread')), true)
  t.equal(await ledger.lastUpdateId(), 11)
  t.same(await db('tasks').orderBy('number').pluck('text'), ['milk', 'bread'])
  t.same((await ledger.pending()).map((r) => [r.updateId, r.params.text]), [[10, 'added milk'], [11, 'added bread']])
})

forEachEngine(t, 'ledger: a failing update leaves nothing, and can then be recorded with its explanation', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db)
  await t.rejects(ledger.handleOnce(20, async (trx) => {
    await add('half')(trx)
    throw new Error('boom')
  }), { message: 'boom' })
  t.same(await db('tasks').pluck('text'), [], 'the task of the failed update was rolled back')
  t.same(await db('handled_updates').pluck('update_id'), [], 'and so was its id')
  t.equal(await ledger.handleOnce(20, async () => [{ method: 'sendMessage', params: { text: 'sorry' } }]), true)
  t.same((await ledger.pending()).map((r) => r.params.text), ['sorry'])
})

// PostgreSQL only: SQLite has one writer at a time by design (the instance lock keeps a second bot
// off the file, and better-sqlite3 would block the event loop waiting for the other connection).
forEachEngine(t, 'ledger: two processes handling the same updates at once apply each exactly once', async (t, e) => {
  const first = e.open()
  const second = e.open()
  t.teardown(async () => { await first.destroy(); await second.destroy() })
  await first.migrate.latest()
  const a = new UpdateLedger(first)
  const b = new UpdateLedger(second)
  const ids = Array.from({ length: 30 }, (_, i) => 100 + i)
  // The second insert of an id waits for the first transaction, then finds the id taken.
  const results = await Promise.all(ids.flatMap((id) => [a.handleOnce(id, add(`t${id}`)), b.handleOnce(id, add(`t${id}`))]))
  t.equal(results.filter(Boolean).length, ids.length, 'one of each pair applied it')
  t.same(await first('tasks').orderBy('text').pluck('text'), ids.map((id) => `t${id}`).sort())
  t.equal(Number((await first('outbox').count({ n: '*' }).first() as { n: number }).n), ids.length, 'one reply each')
}, ['postgres'])

forEachEngine(t, 'ledger: ids older than 24 h are pruned, the newest is kept', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  let now = 1_000_000_000_000
  const ledger = new UpdateLedger(db, () => now)
  for (const id of [1, 2, 3]) await ledger.handleOnce(id, async () => [])
  now += HANDLED_KEEP_MS - 1
  await ledger.handleOnce(4, async () => [])
  t.equal(await ledger.prune(), 0, 'nothing is older than 24 h yet')
  now += 2
  t.equal(await ledger.prune(), 3)
  t.same(await db('handled_updates').pluck('update_id'), [4])
  now += HANDLED_KEEP_MS * 2
  t.equal(await ledger.prune(), 0, 'the newest id stays however old')
  t.equal(await ledger.lastUpdateId(), 4)
})
