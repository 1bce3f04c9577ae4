// The exactly-once ledger on both engines: an update id is applied once — redelivered, or handled
// by two processes at the same moment — with its replies; handled ids past Telegram's 24 h are
// pruned, the newest kept for polling to resume after.
import type { Knex } from 'knex'
import t, { type Test } from 'tap'
import { settingsFrom, settingsQuery, type ChatSettings } from '../bot/chats/settings.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import { CHAT_LOCK_SPACE, ChatBusy, DRAIN_LOCK_SPACE, HANDLED_KEEP_MS, UpdateLedger, type ChatClaim } from '../bot/updates/ledger.js'
import { forEachEngine, type EngineCase } from './support/engines.js'

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

forEachEngine(t, 'ledger: a batch commits its updates together; one failing inside it is rolled back alone; a batch that throws leaves nothing', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db, Date.now)
  let seenInside: number[] | undefined
  await ledger.batch(async () => {
    t.equal(await ledger.handleOnce(30, add('milk')), true)
    await t.rejects(ledger.handleOnce(31, async (trx) => {
      await add('half')(trx)
      throw new Error('boom')
    }), { message: 'boom' })
    t.equal(await ledger.handleOnce(31, async () => [{ method: 'sendMessage', params: { chat_id: 7, text: 'sorry' } }]), true)
    t.equal(await ledger.handleOnce(30, add('milk')), false, 'a duplicate inside the batch is still refused')
    t.equal(await ledger.handleOnce(32, add('bread')), true)
    // Read on the pool's other connection: only what is committed.
    seenInside = (await db('handled_updates').pluck('update_id')).map(Number)
  })
  t.same(seenInside, [], 'nothing of the batch is visible before its one commit')
  t.same(await db('tasks').orderBy('number').pluck('text'), ['milk', 'bread'], 'the failed update alone was rolled back')
  t.same((await db('handled_updates').orderBy('update_id').pluck('update_id')).map(Number), [30, 31, 32])
  t.same((await ledger.pending()).map((r) => r.params.text), ['added milk', 'sorry', 'added bread'])

  await t.rejects(ledger.batch(async () => {
    await ledger.handleOnce(40, add('lost with the batch'))
    throw new Error('the process died here')
  }), { message: 'the process died here' })
  t.same((await db('handled_updates').orderBy('update_id').pluck('update_id')).map(Number), [30, 31, 32], 'a batch that did not commit leaves no id: Telegram sends it again')
  t.same(await db('tasks').orderBy('number').pluck('text'), ['milk', 'bread'])
  t.equal(await ledger.handleOnce(40, add('again')), true, 'and it is applied when it comes again')
})

forEachEngine(t, 'ledger: two transactions adding to one chat at once (two processes on PostgreSQL) get distinct numbers, in order', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const adding = (text: string, n: number) => db.transaction(async (trx) => {
    const tasks = await new TaskRepository(trx, Date.now).add(9, Array.from({ length: n }, (_, i) => `${text} ${i + 1}`))
    // Hold the transaction a moment, as a slow update would, while the other one tries.
    await new Promise((resolve) => setTimeout(resolve, 50))
    return tasks.map((task) => task.number)
  })
  const [a, b, c] = await Promise.all([adding('a', 3), adding('b', 2), adding('c', 250)])
  const all = [...(a ?? []), ...(b ?? []), ...(c ?? [])].sort((x, y) => x - y)
  t.same(all, Array.from({ length: 255 }, (_, i) => i + 1), 'every number once, none skipped')
  for (const got of [a, b, c]) t.same(got, [...(got ?? [])].sort((x, y) => x - y).map((_, i) => (got?.[0] ?? 0) + i), 'each one\'s numbers are consecutive')
  t.same(await db('chats').where({ id: 9 }).pluck('next_number').then((r) => r.map(Number)), [256])
}, ['postgres'])

forEachEngine(t, 'ledger: every 1000th update prunes the ids past 24 h in its own transaction, keeping its own id', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  let now = 1_000_000_000_000
  const ledger = new UpdateLedger(db, () => now)
  const ids = (): Promise<number[]> => db('handled_updates').orderBy('update_id').pluck('update_id').then((r) => r.map(Number))
  await ledger.batch(async () => { for (let id = 1; id <= 998; id++) await ledger.handleOnce(id, async () => []) })
  now += HANDLED_KEEP_MS + 1
  await ledger.handleOnce(999, async () => [])
  t.equal((await ids()).length, 999, 'the 999th update prunes nothing')
  await ledger.handleOnce(1000, async () => [])
  t.same(await ids(), [999, 1000], 'the 1000th removes the ids older than 24 h')
  now += HANDLED_KEEP_MS + 1
  await ledger.handleOnce(1001, async () => [])
  t.same(await ids(), [999, 1000, 1001], 'and the count starts again: the next update prunes nothing')
})

forEachEngine(t, 'ledger: an id handled exactly 24 h ago is kept; an empty ledger prunes nothing', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  let now = 1_000_000_000_000
  const ledger = new UpdateLedger(db, () => now)
  t.equal(await ledger.prune(), 0, 'nothing handled yet')
  await ledger.handleOnce(1, async () => [])
  now += 1
  await ledger.handleOnce(2, async () => [])
  now += 23 * 3600_000
  t.equal(await ledger.prune(), 0, 'a day is 24 hours: id 1 is 23 h old')
  now += 3600_000 - 1
  t.equal(await ledger.prune(), 0, 'id 1 is exactly 24 h old')
  now += 1
  t.equal(await ledger.prune(), 1)
  t.same((await db('handled_updates').pluck('update_id')).map(Number), [2])
})

forEachEngine(t, 'ledger: the outbox keeps each reply\'s file, pages in order, and forgets only what was delivered', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db, () => 1_000)
  const bytes = new TextEncoder().encode('#1 milk\n')
  t.equal(await ledger.handleOnce(5, async () => [
    { method: 'sendMessage', params: { chat_id: 7, text: 'here it is' } },
    { method: 'sendDocument', params: { chat_id: 7, document: { filename: 'tasks.txt' } }, file: bytes },
  ]), true)
  t.equal(await ledger.handleOnce(6, async () => [{ method: 'sendMessage', params: { chat_id: 8, text: 'hi' } }]), true)
  t.equal(await ledger.handleOnce(7, async () => []), true, 'an update without replies')
  t.equal(await ledger.backlog(), 3)
  const rows = await ledger.pending()
  t.same(rows.map((r) => [r.updateId, r.method, r.hasFile]), [[5, 'sendMessage', false], [5, 'sendDocument', true], [6, 'sendMessage', false]])
  t.same(rows[1]?.params, { chat_id: 7, document: { filename: 'tasks.txt' } }, 'the bytes are not in the params')
  t.same(await ledger.pending(2), rows.slice(0, 2), 'a page of two')
  t.same([...(await ledger.fileOf(rows[1]?.id ?? 0)) ?? []], [...bytes], 'the file comes back byte for byte')
  t.equal(await ledger.fileOf(rows[0]?.id ?? 0), undefined, 'a reply without a file')
  t.equal(await ledger.fileOf(9_999), undefined, 'a row that is not there')
  await ledger.delivered([])
  t.equal(await ledger.backlog(), 3, 'nothing delivered, nothing forgotten')
  await ledger.delivered([rows[0]?.id ?? 0, rows[2]?.id ?? 0])
  t.same((await ledger.pending()).map((r) => r.method), ['sendDocument'])
  t.equal(await ledger.backlog(), 1)
})

forEachEngine(t, 'ledger: a failure to record the id is thrown, not taken for a duplicate', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  const ledger = new UpdateLedger(db)
  let applied = false
  await t.rejects(ledger.handleOnce(1, async () => { applied = true; return [] }), /handled_updates/, 'no table: the database error, naming the table')
  t.equal(applied, false, 'and the update was not applied')
})

forEachEngine(t, 'ledger: a batch inside a batch is part of it: one commit, or nothing', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db)
  await t.rejects(ledger.batch(async () => {
    await ledger.batch(async () => { await ledger.handleOnce(50, add('inner')) })
    throw new Error('the outer batch failed')
  }), { message: 'the outer batch failed' })
  t.same(await db('handled_updates').pluck('update_id'), [], 'the inner batch did not commit by itself')
  t.same(await db('tasks').pluck('text'), [])
  t.equal(await ledger.batch(async () => await ledger.batch(async () => await ledger.handleOnce(50, add('inner')))), true)
  t.same(await db('tasks').pluck('text'), ['inner'])
})

forEachEngine(t, "ledger: the chat's settings are read with the claim, in a batch and alone, and a duplicate reads nothing", async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  await db('chats').insert({ id: 7, next_number: 1, created_at: 0, timezone: 'Europe/Berlin', remind_before_min: 15, digest_time: '08:00' })
  const ledger = new UpdateLedger(db)
  const seen: ChatSettings[] = []
  const chat = (id: number): ChatClaim => ({ id, read: (trx) => settingsQuery(trx, id) })
  const apply = (text: string) => async (trx: Knex.Transaction, rows: readonly unknown[]) => { seen.push(settingsFrom(rows)); return await add(text)(trx) }
  t.equal(await ledger.handleOnce(60, apply('alone'), chat(7)), true)
  t.equal(await ledger.batch(async () => {
    t.equal(await ledger.handleOnce(61, apply('in a batch'), chat(7)), true)
    t.equal(await ledger.handleOnce(62, apply('a new chat'), chat(8)), true)
    return await ledger.handleOnce(61, apply('again'), chat(7))
  }), false, 'the duplicate in the batch is refused')
  t.equal(await ledger.handleOnce(60, apply('again'), chat(7)), false)
  const berlin = { timezone: 'Europe/Berlin', remindBeforeMin: 15, digestTime: '08:00' }
  t.same(seen, [berlin, berlin, { timezone: null, remindBeforeMin: 0, digestTime: null }], 'each applied update saw its chat; the duplicates were not applied')
  t.same(await db('tasks').orderBy('number').pluck('text'), ['alone', 'in a batch', 'a new chat'])
})

// PostgreSQL sends the claim as one simple-protocol query with its values inlined.
forEachEngine(t, 'ledger: a chat read with a text value is refused before anything is sent, and nothing is stored', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db)
  const read = (trx: Knex.Transaction): Knex.QueryBuilder => trx('chats').where({ timezone: "x'); drop table tasks; --" })
  await t.rejects(ledger.handleOnce(70, add('never'), { id: 7, read }), { message: /update 70: a claim inlines integers only/ })
  await t.rejects(ledger.batch(() => ledger.handleOnce(71, add('never'), { id: 7, read })), { message: /update 71: a claim inlines integers only/ })
  t.same(await db('handled_updates').pluck('update_id'), [])
  t.same(await db('tasks').pluck('text'), [], 'the tasks table is still there, empty')
}, ['postgres'])

// A chat's lock and the drain lock keep several processes apart; a process that is alone (polling:
// the instance lock keeps the others off) takes neither.
/** A migrated database, and a connection of another process's that has run `locks` (session advisory locks). */
async function heldByAnother (t: Test, e: EngineCase, locks: string): Promise<{ db: Knex, holder: { query: (sql: string) => Promise<unknown> } }> {
  const db = e.open()
  const other = e.open()
  t.teardown(async () => { await db.destroy(); await other.destroy() })
  await db.migrate.latest()
  const holder = await other.client.acquireConnection() as { query: (sql: string) => Promise<unknown> }
  t.teardown(() => other.client.releaseConnection(holder))
  await holder.query(locks)
  return { db, holder }
}

forEachEngine(t, 'ledger: a chat whose lock another process holds waits for it, unless this process is alone; so does the drain', async (t, e) => {
  const { db, holder } = await heldByAnother(t, e, `select pg_advisory_lock(${CHAT_LOCK_SPACE}, hashtext('7')), pg_advisory_lock(${DRAIN_LOCK_SPACE}, 0)`)
  const chat = { id: 7, read: (trx: Knex.Transaction) => settingsQuery(trx, 7) }

  t.equal(await new UpdateLedger(db, Date.now, { alone: true }).handleOnce(80, add('alone'), chat), true, 'alone: applied at once')
  t.equal(await new UpdateLedger(db, Date.now, { alone: true }).exclusively(async () => 'drained'), 'drained', 'alone: drained at once')

  const shared = new UpdateLedger(db)
  let applied = false
  let drained = false
  const waiting = shared.handleOnce(81, add('shared'), chat).then((r) => { applied = r })
  const draining = shared.exclusively(async () => { drained = true })
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same([applied, drained], [false, false], 'not alone: both wait for the other process')
  await holder.query('select pg_advisory_unlock_all()')
  await Promise.all([waiting, draining])
  t.same([applied, drained], [true, true], 'and go on once it lets go')
  t.same(await db('tasks').orderBy('number').pluck('text'), ['alone', 'shared'])
}, ['postgres'])

// Webhook group commit (bot/webhook/group-commit.ts): a group holds its chats' locks until it
// commits, so in a group a chat another process holds is tried, never waited for.
forEachEngine(t, 'ledger: in a group, a chat another process holds is left out whole (ChatBusy); the others commit; alone it waits and applies', async (t, e) => {
  const { db, holder } = await heldByAnother(t, e, `select pg_advisory_lock(${CHAT_LOCK_SPACE}, hashtext('7'))`)
  const chat = (id: number): ChatClaim => ({ id, read: (trx: Knex.Transaction) => settingsQuery(trx, id) })
  const ledger = new UpdateLedger(db)
  const started = Date.now()
  await ledger.group(async (batch) => {
    await t.rejects(ledger.handleOnce(90, add('held chat'), chat(7), batch), new ChatBusy(7))
    t.equal(await ledger.handleOnce(91, add('free chat'), chat(8), batch), true)
  })
  t.ok(Date.now() - started < 5000, 'the group did not wait for the held chat')
  t.same(await db('handled_updates').pluck('update_id'), [91], 'nothing of the held chat\'s update was kept')
  t.same((await db('outbox').pluck('params')).map((p: string) => JSON.parse(p).text), ['added free chat'])
  let applied = false
  const alone = ledger.handleOnce(90, add('held chat'), chat(7)).then((r) => { applied = r })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(applied, false, 'alone, it waits for the chat')
  await holder.query('select pg_advisory_unlock_all()')
  await alone
  t.equal(applied, true, 'and applies once the other process lets go')
  t.same(await db('handled_updates').orderBy('update_id').pluck('update_id'), [90, 91])
}, ['postgres'])
