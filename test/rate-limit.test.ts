// Telegram's sending limits as the reminder loop keeps them: one message per second per chat,
// 30 per second overall, and a pause after a 429. Asserts only lower bounds on waiting.
import t from 'tap'
import { SendRateLimiter } from '../bot/reminders/rate-limit.js'

t.test('rate limit: 30 per second overall; the 31st waits for the first to be a second old', async (t) => {
  const limiter = new SendRateLimiter()
  const started = Date.now()
  const times: number[] = []
  for (let chat = 1; chat <= 31; chat++) {
    await limiter.take(chat)
    times.push(Date.now() - started)
  }
  t.ok((times[29] ?? Infinity) < 900, 'the first 30 (to 30 chats) go at once')
  t.ok((times[30] ?? 0) >= 990, `the 31st waited a second (${times[30]} ms)`)
})

t.test('rate limit: a chat waits a second from the end of its last send; a pause holds everyone', async (t) => {
  const limiter = new SendRateLimiter()
  await limiter.take(7)
  const sentAt = Date.now()
  limiter.finished(7)
  await limiter.take(7)
  t.ok(Date.now() - sentAt >= 990, 'the same chat waited a second')
  limiter.pause(300)
  const pausedAt = Date.now()
  await limiter.take(8)
  t.ok(Date.now() - pausedAt >= 290, 'another chat waited out the pause too')
  const controller = new AbortController()
  limiter.pause(10_000)
  setTimeout(() => controller.abort(), 50)
  await t.rejects(limiter.take(9, controller.signal), /stopped/, 'stopping does not wait out a long pause')
})
