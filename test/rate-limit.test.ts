// Telegram's sending limits as the reminder loop keeps them: one message per second per chat,
// 30 per second overall, and a pause after a 429. On a virtual timer (a wait moves its clock at
// once), so the exact waits are asserted without waiting; one real-time case for Ctrl-C.
import t from 'tap'
import { SendRateLimiter, type LimiterTimer } from '../bot/reminders/rate-limit.js'

/** A clock that only moves when the limiter waits (or the test says so); keeps every wait. */
function virtualTimer (): LimiterTimer & { at: number, waits: number[], pass: (ms: number) => void } {
  const v = {
    at: 1_000_000,
    waits: [] as number[],
    now: () => v.at,
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted()
      v.waits.push(ms)
      v.at += ms
    },
    pass: (ms: number) => { v.at += ms },
  }
  return v
}

t.test('rate limit: 30 per second overall; the 31st waits for the first to be a second old', async (t) => {
  const timer = virtualTimer()
  const limiter = new SendRateLimiter({ timer })
  const start = timer.at
  const sentAt: number[] = []
  for (let chat = 1; chat <= 30; chat++) {
    await limiter.take(chat)
    sentAt.push(timer.at - start)
    timer.pass(10)
  }
  t.same(timer.waits, [], 'the first 30 (to 30 chats, 10 ms apart) go at once')
  await limiter.take(31)
  t.same(timer.waits, [1000 - 300], 'the 31st waited until the first was a second old')
  t.equal(timer.at - start, 1000)
  await limiter.take(32)
  t.same(timer.waits, [700, 10], 'the 32nd until the second was')
})

t.test('rate limit: a chat waits a second from the end of its last send; other chats do not', async (t) => {
  const timer = virtualTimer()
  const limiter = new SendRateLimiter({ timer })
  await limiter.take(7)
  timer.pass(400) // the send took 400 ms (it waited out a 429 inside the client)
  limiter.finished(7)
  await limiter.take(8)
  t.same(timer.waits, [], 'another chat goes at once')
  await limiter.take(7)
  t.same(timer.waits, [1000], 'the same chat waited a second from the end of its send')
  timer.pass(1000)
  await limiter.take(7)
  t.same(timer.waits, [1000], 'a second later it goes at once')
})

t.test('rate limit: a pause after a 429 holds every chat until it ends', async (t) => {
  const timer = virtualTimer()
  const limiter = new SendRateLimiter({ timer })
  limiter.pause(3000)
  timer.pass(500)
  limiter.pause(1000) // a shorter pause never ends a longer one early
  await limiter.take(1)
  await limiter.take(2)
  t.same(timer.waits, [2500], 'the first waited out the rest of the pause, the second did not wait again')
})

t.test('rate limit: stopping does not wait out a long pause', async (t) => {
  const limiter = new SendRateLimiter()
  limiter.pause(10_000)
  const controller = new AbortController()
  const started = Date.now()
  setTimeout(() => controller.abort(), 50)
  await t.rejects(limiter.take(9, controller.signal), { name: 'AbortError' })
  t.ok(Date.now() - started < 2000, `stopped after ${Date.now() - started} ms of a 10 s pause`)
  await t.rejects(limiter.take(9, controller.signal), { name: 'AbortError' }, 'an already stopped signal does not wait at all')
})
