// Bot API faults through the emulator: 429 with retry_after, 5xx, dropped connections, 409,
// responses that hang past the client timeout, and getUpdates failing for a while (6 s here, a
// minute under `npm run soak`). The bot never crashes, every command is answered once, and health
// reports the outage while it lasts and recovers after.
import t from 'tap'
import { API_TIMEOUT_MS } from '../bot/app.js'
import type { Health } from '../bot/health.js'
import { OWNER, startHarness, type Harness } from './support/bot-harness.js'
import { conversation } from './support/conversation.js'
import { waitUntil } from './support/wait.js'

const OUTAGE_MS = process.env.SOAK === 'full' ? 60_000 : 6000

const h = await startHarness()
t.teardown(() => h.close())
let crashed: unknown
h.bot.done.catch((err: unknown) => { crashed = err })

const { sent, say, allAnswered } = conversation(h.emu, OWNER)
async function allAnsweredOnce (): Promise<void> {
  await allAnswered()
  const stored = await h.bot.db('tasks').where({ chat_id: OWNER }).orderBy('number').pluck('text')
  t.same(stored, sent, 'every command applied exactly once, in order')
}

t.test('faults: 429 with retry_after on sendMessage is waited out', async (t) => {
  h.emu.failNext('sendMessage', { status: 429, retryAfter: 1 })
  const started = Date.now()
  say('after 429')
  await allAnsweredOnce()
  t.ok(Date.now() - started >= 900, 'honoured retry_after')
})

t.test('faults: 500, 502 and dropped connections on both sides', async () => {
  h.emu.failNext('getUpdates', { status: 502 }, 2)
  h.emu.failNext('sendMessage', { status: 500 }, 1)
  h.emu.failNext('sendMessage', { drop: true }, 1)
  say('through 5xx')
  h.emu.failNext('getUpdates', { drop: true }, 1)
  say('through a drop')
  await allAnsweredOnce()
})

t.test('faults: 409 while another poller is alive is retried, not fatal', async () => {
  h.emu.failNext('getUpdates', { status: 409 }, 2)
  say('after 409')
  await allAnsweredOnce()
})

async function healthWhen (bot: Harness['bot'], wanted: Health['status'], timeoutMs: number): Promise<Health> {
  let health = await bot.health()
  return await waitUntil(async () => (health = await bot.health()).status === wanted && health, { what: `health "${wanted}"`, timeoutMs, everyMs: 100 })
    .catch(() => health)
}

t.test(`faults: getUpdates failing for ${OUTAGE_MS / 1000} s — health says so while it lasts, then recovers; nothing lost`, async (t) => {
  const outageStart = Date.now()
  h.emu.failFor('getUpdates', { status: 502 }, OUTAGE_MS)
  const failing = await healthWhen(h.bot, 'failing', 10_000)
  t.equal(failing.status, 'failing', 'health reports the outage')
  say('during outage 1')
  t.match(failing.problems.join(';'), /no successful getUpdates for \d+ s \(last error: .*502/)
  const res = await fetch(`http://127.0.0.1:${h.bot.healthPort}/healthz`)
  t.equal(res.status, 503, '/healthz answers 503 during the outage')
  // Health keeps saying so for as long as the outage lasts, with a "failing since" that follows
  // the clock: the first sample is the one that saw the outage begin, the loop adds one about every
  // second (every 5 s in the minute-long soak).
  const samples = [{ at: Date.now(), health: failing }]
  // Sampled through the outage, and on until there are three spanning at least 1.5 s (so "failing
  // since" has a whole second to grow) while it still lasts: a loaded machine may see it begin late.
  const enough = (): boolean => samples.length >= 3 && Date.now() - (samples[0]?.at ?? 0) >= 1500
  while (Date.now() < outageStart + OUTAGE_MS - 700 && (!enough() || Date.now() < outageStart + OUTAGE_MS - 1500)) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, OUTAGE_MS / 12)))
    samples.push({ at: Date.now(), health: await h.bot.health() })
  }
  say('during outage 2')
  t.ok(samples.length >= 3, `health sampled ${samples.length} times during the outage`)
  t.same(samples.map((s) => s.health.status), samples.map(() => 'failing'), 'failing in every sample during the outage')
  // The first failed getUpdates comes at most one held poll (1 s) and a back-off after the outage began.
  const off = samples.filter(({ at, health }) => {
    const since = health.poll.failingSinceS ?? -100
    const elapsed = (at - outageStart) / 1000
    return since > elapsed + 0.5 || since < elapsed - 2.5
  })
  t.same(off.map((s) => `${s.health.poll.failingSinceS} s at ${((s.at - outageStart) / 1000).toFixed(1)} s`), [], '"failing since" follows the clock in every sample')
  const first = samples[0]?.health.poll.failingSinceS ?? 0
  const last = samples.at(-1)?.health.poll.failingSinceS ?? 0
  t.ok(last > first, `"failing since" grows (${first} → ${last} s)`)
  await allAnsweredOnce()
  // Recovery: once getUpdates answers again, health turns ok by itself (after at most one back-off).
  const healed = await healthWhen(h.bot, 'ok', 40_000)
  t.equal(healed.status, 'ok')
  t.comment(`outage ${OUTAGE_MS} ms; health ok again ${Date.now() - outageStart - OUTAGE_MS} ms after it ended`)
  t.equal((await fetch(`http://127.0.0.1:${h.bot.healthPort}/healthz`)).status, 200)
  t.equal(h.bot.metrics.errors, 0, 'no handler failed')
})

t.test(`faults: responses that hang past the client timeout (${API_TIMEOUT_MS / 1000} s) are abandoned and retried`, async (t) => {
  // Two bots at once, so the two waits overlap: one whose sendMessage hangs, one whose getUpdates does.
  const other = await startHarness()
  t.teardown(() => other.close())
  const hung = (hh: Harness, method: string): number => hh.emu.calls(method).filter((c) => c.status === 0).length
  const droppedBefore = hung(h, 'sendMessage')
  h.emu.failNext('sendMessage', { hangMs: 120_000 })
  say('reply hangs')
  other.emu.failNext('getUpdates', { hangMs: 120_000 })
  // Let the held long poll (1 s) end, so the hanging one has begun before the user writes.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const reply = other.emu.waitForMessage(OWNER, undefined, 30_000)
  other.emu.sendText(OWNER, OWNER, 'poll hangs')
  const outage = await healthWhen(other.bot, 'failing', 20_000)
  t.equal(outage.status, 'failing', 'health reports the hanging poll')
  t.match((await reply).rendered, /poll hangs$/, 'the command sent during the hang is answered')
  await allAnsweredOnce()
  t.equal(h.emu.messages(OWNER).filter((m) => m.rendered.endsWith(' reply hangs')).length, 1, 'the reply arrives once')
  t.equal(hung(h, 'sendMessage'), droppedBefore + 1, 'the hanging sendMessage was abandoned')
  t.same(await other.bot.db('tasks').pluck('text'), ['poll hangs'], 'applied once')
  t.ok(hung(other, 'getUpdates') >= 1, 'the hanging getUpdates was abandoned')
  t.equal((await healthWhen(other.bot, 'ok', 10_000)).status, 'ok', 'health recovers')
  t.equal(h.bot.metrics.errors + other.bot.metrics.errors, 0, 'no handler failed')
})

t.test('faults: the bot never crashed and is still polling', async (t) => {
  t.equal(crashed, undefined)
  const polls = h.bot.pollState.polls
  say('still here')
  await allAnsweredOnce()
  t.ok(h.bot.pollState.polls > polls)
})
