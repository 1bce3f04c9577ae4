// The poll loop against the emulator: a back-off after a failed getUpdates ends the moment the bot
// is stopped (a Ctrl-C or a hand-over never waits out a two-minute retry_after).
import t from 'tap'
import { OWNER, startHarness } from './support/bot-harness.js'

t.test('poller: stopping during a two-minute back-off ends polling at once', async (t) => {
  const h = await startHarness()
  t.teardown(() => h.close())
  // Over the client's own 60 s limit for waiting out a 429, so the error reaches the poller.
  h.emu.failNext('getUpdates', { status: 429, retryAfter: 120 })
  const backOff = await h.emu.waitFor(() => h.logs.lines.find((l) => l.includes('getUpdates failed; retrying')), 10_000)
  t.match(backOff, '"retryInMs":120000', 'the poller waits out the retry_after Telegram gave')
  const started = Date.now()
  await h.bot.stop()
  const took = Date.now() - started
  t.ok(took < 2000, `stopped ${took} ms into a 120 s back-off`)
  t.ok(h.logs.lines.some((l) => l.includes('polling ended for the stop')), 'polling ended')
  t.same(h.emu.messages(OWNER), [], 'nothing was sent meanwhile')
})
