// Bot API faults through the emulator: 429 with retry_after, 5xx, dropped connections, 409, and
// getUpdates failing for a while. The bot never crashes, every command is answered once, and
// health reports the outage while it lasts and recovers after.
import t from 'tap'
import { OWNER, startHarness } from './support/bot-harness.js'

const h = await startHarness()
t.teardown(() => h.close())

const sent: string[] = []
function say (text: string): void {
  sent.push(text)
  h.emu.sendText(OWNER, OWNER, text)
}
async function allAnsweredOnce (): Promise<void> {
  await h.emu.waitFor(() => sent.every((s) => h.emu.messages(OWNER).some((m) => m.rendered.endsWith(` ${s}`))), 20_000)
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

t.test('faults: getUpdates failing for a while — health says so, then recovers; nothing lost', async (t) => {
  h.emu.failFor('getUpdates', { status: 502 }, 6000)
  let failing = await h.bot.health()
  for (let i = 0; i < 100 && failing.status !== 'failing'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    failing = await h.bot.health()
  }
  t.equal(failing.status, 'failing', 'health reports the outage')
  say('during outage 1')
  say('during outage 2')
  t.match(failing.problems.join(';'), /no successful getUpdates for \d+ s \(last error: .*502/)
  const res = await fetch(`http://127.0.0.1:${h.bot.healthPort}/healthz`)
  t.equal(res.status, 503, '/healthz answers 503 during the outage')
  await allAnsweredOnce()
  // Recovery: once getUpdates answers again, health turns ok by itself.
  let healed = await h.bot.health()
  for (let i = 0; i < 150 && healed.status !== 'ok'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    healed = await h.bot.health()
  }
  t.equal(healed.status, 'ok')
  t.equal((await fetch(`http://127.0.0.1:${h.bot.healthPort}/healthz`)).status, 200)
  t.equal(h.bot.metrics.errors, 0, 'no handler failed')
})
