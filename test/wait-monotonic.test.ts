// The tests' waits (and the bot's, and ops') measure how long they have waited on the monotonic
// clock: a step of the wall clock (NTP on a CI machine) once cut a 15 s wait for the bot's
// "ready" short after about 10 s, with nothing printed yet by the bot.
import t from 'tap'
import { waitUntil } from './support/wait.js'

t.test('a wait is not cut short when the wall clock jumps forward', async (t) => {
  const realNow = Date.now
  const startedAt = realNow()
  // The wall clock is stepped a minute ahead just after the wait starts.
  Date.now = () => realNow() + (realNow() - startedAt > 20 ? 60_000 : 0)
  t.teardown(() => { Date.now = realNow })
  const value = await waitUntil(() => realNow() - startedAt > 200 && 'done', { what: 'a condition true after 200 ms', timeoutMs: 2000 })
  t.equal(value, 'done')
})
