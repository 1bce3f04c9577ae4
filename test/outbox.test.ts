// The outbox: a reply the Bot API could not take stays queued and is delivered later, once, in
// order — the client's own retries are not what keeps it.
import t from 'tap'
import { OWNER, startHarness } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

t.test('outbox: replies survive a sendMessage outage longer than the client retries, in order, once', async (t) => {
  const h = await startHarness()
  t.teardown(() => h.close())
  h.emu.failFor('sendMessage', { status: 500 }, 4000)
  h.emu.sendText(OWNER, OWNER, 'task one')
  h.emu.sendText(OWNER, OWNER, 'task two')
  let queuedSeen = 0
  const until = Date.now() + 20_000
  while (h.emu.messages(OWNER).length < 2) {
    if (Date.now() > until) throw new Error('the replies never arrived')
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
