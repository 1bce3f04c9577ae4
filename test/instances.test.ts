// Several instances in webhook mode on one PostgreSQL, as real processes behind a round-robin
// proxy (several machines behind nginx): a 2 000-update burst from 100 chats is applied once,
// answered once, in each chat's order, by two and by three instances; the same update delivered
// to two instances at once is applied once, and one chat's updates sent to both at once get
// numbers without a gap or a repeat, and a read-then-write (/done) side by side happens once;
// /healthz, /health and /stats name the instances and the leader. (The leader: instances-leader.test.ts.)
import t, { type Test } from 'tap'
import type { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { OWNER } from './support/bot-harness.js'
import { healthz, INSTANCE_SECRET, startCluster, type Cluster } from './support/instance-cluster.js'
import { NOT_INSTALLED, postgresBin } from './support/postgres.js'
import { waitUntil } from './support/wait.js'

const SECRET = INSTANCE_SECRET
const skip = postgresBin() === null ? NOT_INSTALLED : false
const CHATS = 100
const PER_CHAT = 20
const USERS = Array.from({ length: CHATS }, (_, i) => 5000 + i)

/** A chat's replies as the task numbers they name, in the order the chat got them. */
function replyNumbers (emu: BotApiEmulator, chat: number): string[] {
  return emu.messages(chat).map((m) => /n(\d+)/.exec(m.rendered)?.[1] ?? m.rendered)
}

async function burst (t: Test, n: number): Promise<void> {
  const c = await startCluster(t, n, USERS)
  const started = Date.now()
  for (let k = 0; k < PER_CHAT; k++) {
    for (const [i, user] of USERS.entries()) c.emu.sendText(user, user, `c${i} n${k}`)
  }
  await waitUntil(() => USERS.every((u) => c.emu.messages(u).length >= PER_CHAT), {
    what: `${PER_CHAT} replies in each of ${CHATS} chats`,
    // Correctness, not speed, is asserted here (bench/webhook-scale.ts measures): a loaded CI machine may take long.
    timeoutMs: 120_000,
    everyMs: 100,
    seen: () => `${USERS.reduce((sum, u) => sum + c.emu.messages(u).length, 0)} replies`,
  })
  t.comment(`${n} instances: ${CHATS * PER_CHAT} updates answered in ${Date.now() - started} ms; proxy sent ${c.proxy.sent.join(' / ')}`)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const expected = Array.from({ length: PER_CHAT }, (_, k) => String(k))
  const wrong = USERS.filter((u) => JSON.stringify(replyNumbers(c.emu, u)) !== JSON.stringify(expected))
  t.same(wrong, [], 'every chat answered once per message, in the order it wrote')
  const rows = await c.db('tasks').orderBy(['chat_id', 'number']).select('chat_id', 'number', 'text') as Array<{ chat_id: number, number: number, text: string }>
  const byChat = new Map<number, string[]>()
  for (const r of rows) byChat.set(Number(r.chat_id), [...byChat.get(Number(r.chat_id)) ?? [], `${r.number} ${r.text}`])
  const badChats = USERS.filter((u, i) => JSON.stringify(byChat.get(u)) !== JSON.stringify(expected.map((k) => `${Number(k) + 1} c${i} n${k}`)))
  t.same(badChats, [], 'every chat\'s tasks applied once, numbered 1–20 in its order')
  t.equal(rows.length, CHATS * PER_CHAT)
  const handled = await c.db('handled_updates').count({ n: '*' }).first() as { n: number | string }
  t.equal(Number(handled.n), CHATS * PER_CHAT, 'each update in the ledger once')
  const attempts = c.emu.webhookAttempts()
  t.same(attempts.filter((a) => a.status !== 200), [], 'no delivery refused or failed')
  t.equal(attempts.length, CHATS * PER_CHAT, 'each update delivered once')
  const health = await Promise.all(c.instances.map((i) => healthz(i.healthPort)))
  t.ok(health.every((h) => h.metrics.updates > 0), `every instance applied some: ${health.map((h) => h.metrics.updates).join(' / ')}`)
  t.equal(health.reduce((sum, h) => sum + h.metrics.updates, 0), CHATS * PER_CHAT)
  t.equal(health.filter((h) => h.instance.leads).length, 1, 'exactly one instance leads')
  t.ok(health.every((h) => h.instance.several && new RegExp(`^${h.instance.pid}@`).test(h.instance.name)), 'each names itself pid@host')
  t.equal(await c.db('outbox').count({ n: '*' }).first().then((r) => Number((r as { n: number }).n)), 0, 'the outbox is empty')
  const stats = c.emu.waitForMessage(OWNER)
  c.emu.sendText(OWNER, OWNER, '/stats')
  t.match((await stats).rendered, new RegExp(`\\nInstances: ${n} \\(webhook mode on PostgreSQL\\)$`), 'the owner\'s /stats counts the instances')
  if (n === 2) await concurrentDeliveries(t, c)
}

/** Telegram-shaped updates POSTed straight to the instances, side by side. */
async function concurrentDeliveries (t: Test, c: Cluster): Promise<void> {
  const chat = USERS[0] ?? 0
  let id = 900_000
  const update = (text: string): Record<string, unknown> => ({ update_id: ++id, message: { message_id: id, date: Math.floor(Date.now() / 1000), chat: { id: chat, type: 'private' }, from: { id: chat, is_bot: false, first_name: 'U' }, text } })
  const post = async (port: number, body: Record<string, unknown>): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET }, body: JSON.stringify(body) })
    await res.arrayBuffer()
    return res.status
  }
  const [a, b] = c.instances
  if (a === undefined || b === undefined) throw new Error('two instances expected')
  const before = c.emu.messages(chat).length
  // The same update to both at once, five times: each applied and answered once.
  const dupes = Array.from({ length: 5 }, (_, k) => update(`dup n${k}`))
  const dupStatuses = await Promise.all(dupes.flatMap((u) => [post(a.port, u), post(b.port, u)]))
  t.same(dupStatuses, dupStatuses.map(() => 200), 'both deliveries of each answered 200')
  // Ten updates of one chat, alternately to each instance, all at once.
  const many = Array.from({ length: 10 }, (_, k) => update(`many n${k}`))
  const statuses = await Promise.all(many.map((u, k) => post(k % 2 === 0 ? a.port : b.port, u)))
  t.same(statuses, statuses.map(() => 200), 'all answered 200')
  await waitUntil(() => c.emu.messages(chat).length >= before + 15, { what: '15 more replies', timeoutMs: 15_000 })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const texts = await c.db('tasks').where({ chat_id: chat }).where('number', '>', PER_CHAT).orderBy('number').select('number', 'text') as Array<{ number: number, text: string }>
  t.same(texts.map((r) => Number(r.number)), Array.from({ length: 15 }, (_, k) => PER_CHAT + 1 + k), 'numbers 21–35: none repeated, none skipped')
  t.same(texts.filter((r) => r.text.startsWith('dup')).map((r) => r.text).sort(), dupes.map((_, k) => `dup n${k}`), 'each duplicate applied once')
  t.same(texts.filter((r) => r.text.startsWith('many')).map((r) => r.text).sort(), many.map((_, k) => `many n${k}`).sort(), 'each of the ten applied once')
  const replies = c.emu.messages(chat).slice(before)
  t.equal(replies.length, 15, 'answered once each')
  t.same(replies.filter((m) => /went wrong/.test(m.rendered)), [], 'no update failed')
  // A read then a write in one chat (/done reads whether the task is done): side by side in two
  // processes only the chat's lock keeps two of them from both finding it open.
  const dones = Array.from({ length: 6 }, () => update(`/done ${PER_CHAT + 1}`))
  const doneStatuses = await Promise.all(dones.map((u, k) => post(k % 2 === 0 ? a.port : b.port, u)))
  t.same(doneStatuses, doneStatuses.map(() => 200), 'every /done answered 200')
  await waitUntil(() => c.emu.messages(chat).length >= before + 21, { what: '6 more replies', timeoutMs: 15_000 })
  const doneReplies = c.emu.messages(chat).slice(before + 15).map((m) => m.rendered.split('\n')[0]).sort()
  t.same(doneReplies, [`#${PER_CHAT + 1} was already done.`, `#${PER_CHAT + 1} was already done.`, `#${PER_CHAT + 1} was already done.`, `#${PER_CHAT + 1} was already done.`, `#${PER_CHAT + 1} was already done.`, `✅ Done: #${PER_CHAT + 1} ${texts[0]?.text ?? ''}`].sort(), 'done once; the other five found it done')
  // The owner's /health, asked of each instance: it names itself and says whether it leads.
  const healthReplies: string[] = []
  const fullReplies: string[] = []
  for (const instance of [a, b]) {
    const waiting = c.emu.waitForMessage(chat)
    t.equal(await post(instance.port, update('/health')), 200)
    fullReplies.push((await waiting).rendered)
    healthReplies.push(fullReplies.at(-1)?.split('\n').find((l) => l.startsWith('Instance: ')) ?? 'no Instance line')
  }
  const pids = [a, b].map((i) => String(i.child.pid))
  t.match(healthReplies, [new RegExp(`^Instance: ${pids[0]}@\\S+, (leads \\(runs reminders, digests, backups\\)|does not lead)$`), new RegExp(`^Instance: ${pids[1]}@\\S+, (leads \\(runs reminders, digests, backups\\)|does not lead)$`)])
  t.equal(healthReplies.filter((l) => l.endsWith(', leads (runs reminders, digests, backups)')).length, 1, '/health: one of the two leads')
  t.same(fullReplies.map((r) => /\nReminders: running, /.test(r) ? 'runs them' : r.includes('\nReminders, digests and backups: run by the leading instance\n') ? 'leader runs them' : r).sort(), ['leader runs them', 'runs them'], '/health: reminders where they run')
}

t.test('instances: two on one PostgreSQL take a 2 000-update burst from 100 chats: each applied and answered once, in order', { skip }, async (t) => {
  await burst(t, 2)
})

t.test('instances: three on one PostgreSQL take the same burst the same way', { skip }, async (t) => {
  await burst(t, 3)
})
