// The outbox: a reply the Bot API could not take stays queued and is delivered later, once, in
// order — the client's own retries are not what keeps it.
import t from 'tap'
import { openDatabase } from '../bot/db.js'
import { FRIEND, OWNER, startHarness } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

t.test('outbox: replies survive a sendMessage outage longer than the client retries, in order, once', async (t) => {
  const h = await startHarness()
  t.teardown(() => h.close())
  h.emu.failFor('sendMessage', { status: 500 }, 4000)
  h.emu.sendText(OWNER, OWNER, 'task one')
  h.emu.sendText(OWNER, OWNER, 'task two')
  let queuedSeen = 0
  const until = performance.now() + 20_000
  while (h.emu.messages(OWNER).length < 2) {
    if (performance.now() > until) throw new Error('the replies never arrived')
    queuedSeen = Math.max(queuedSeen, (await h.bot.health()).metrics.outboxBacklog ?? 0)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.ok(queuedSeen >= 1, `replies waited in the outbox during the outage (up to ${queuedSeen})`)
  t.ok(h.emu.calls('sendMessage').filter((c) => c.status === 500).length >= 2, 'the outage was seen')
  t.same(h.emu.messages(OWNER).map((m) => m.rendered), ['Added:\n#1 task one', 'Added:\n#2 task two'])
  t.same(await h.bot.db('tasks').orderBy('id').pluck('text'), ['task one', 'task two'])
  // Telegram has the message a moment before the bot hears so and deletes the row.
  let backlog: number | null = null
  await waitUntil(async () => (backlog = (await h.bot.health()).metrics.outboxBacklog) === 0, { what: 'the outbox to empty', timeoutMs: 3000, seen: () => String(backlog) })
  t.equal(backlog, 0)
})

t.test('outbox: replies to different chats are in flight together, each chat\'s in order', async (t) => {
  const h = await startHarness()
  t.teardown(() => h.close())
  // Each sendMessage takes 300 ms to answer: one after another, no two calls could start closer.
  h.emu.setMethodDelay('sendMessage', 300)
  h.emu.sendText(OWNER, OWNER, 'first')
  await h.emu.waitFor(() => h.emu.calls('sendMessage').length > 0, 10_000)
  // Queued while that reply is in flight: the next poll takes them together.
  for (const i of [1, 2, 3]) {
    h.emu.sendText(OWNER, OWNER, `owner ${i}`)
    h.emu.sendText(FRIEND, FRIEND, `friend ${i}`)
  }
  await waitUntil(() => h.emu.messages(OWNER).length === 4 && h.emu.messages(FRIEND).length === 3, { what: 'every reply', timeoutMs: 20_000 })
  const calls = h.emu.calls('sendMessage').filter((c) => c.status === 200)
  const overlapping = calls.some((a) => calls.some((b) => a.params.chat_id !== b.params.chat_id && Math.abs(a.at - b.at) < 250))
  t.ok(overlapping, 'a reply to one chat went out while another chat\'s was in flight')
  t.same(h.emu.messages(OWNER).map((m) => m.rendered), ['Added:\n#1 first', 'Added:\n#2 owner 1', 'Added:\n#3 owner 2', 'Added:\n#4 owner 3'])
  t.same(h.emu.messages(FRIEND).map((m) => m.rendered), ['Added:\n#1 friend 1', 'Added:\n#2 friend 2', 'Added:\n#3 friend 3'])
  t.equal(h.emu.calls('sendMessage').length, 7, 'each reply sent once')
})

t.test('outbox: a stop while replies are in flight waits for them, and leaves the outbox empty', async (t) => {
  const h = await startHarness()
  t.teardown(() => h.close())
  h.emu.setMethodDelay('sendMessage', 1000)
  h.emu.sendText(OWNER, OWNER, 'in flight at the stop')
  await h.emu.waitFor(() => h.emu.calls('sendMessage').length > 0, 10_000)
  await h.bot.stop()
  t.same(h.emu.messages(OWNER).map((m) => m.rendered), ['Added:\n#1 in flight at the stop'], 'delivered before the stop ended')
  const db = openDatabase(h.config.databaseFile)
  t.teardown(() => db.destroy())
  t.same(await db('outbox').pluck('id'), [], 'nothing left to send again')
})
