// What one send of the reminder loop means (bot/reminders/outcome.ts), unit by unit: the error →
// outcome table, what each outcome leaves recorded, and LimitedSender against the HTTP emulator
// with a limiter whose clock the test holds (so its waits are read, not slept).
import { Api, NetworkError, TelegramApiError, TimeoutError } from 'node-telegram-bot-api'
import t, { type Test } from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { LimitedSender, outcomeOf, RECORDED, RETRY_AFTER_5XX_MS } from '../bot/reminders/outcome.js'
import { SendRateLimiter, type LimiterTimer } from '../bot/reminders/rate-limit.js'

const CHAT = 4242

t.test('reminder outcome: only a definite "not sent" from Telegram is retried; anything else is final', async (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
  const cases: Array<[string, unknown, unknown]> = [
    ['429 with retry_after', new TelegramApiError(429, 'Too Many Requests: retry after 7', { retry_after: 7 }), { kind: 'retry', afterMs: 7000 }],
    ['429 without retry_after: a second', new TelegramApiError(429, 'Too Many Requests'), { kind: 'retry', afterMs: 1000 }],
    ['500', new TelegramApiError(500, 'Internal Server Error'), { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS }],
    ['502', new TelegramApiError(502, 'Bad Gateway'), { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS }],
    ['499: not a server error', new TelegramApiError(499, 'Client Closed Request'), { kind: 'failed' }],
    ['403 blocked', new TelegramApiError(403, 'Forbidden: bot was blocked by the user'), { kind: 'failed' }],
    ['400', new TelegramApiError(400, 'Bad Request: chat not found'), { kind: 'failed' }],
    ['connection refused, as the client wraps it', new NetworkError('fetch failed', { cause: refused }), { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS }],
    ['connection refused, bare', refused, { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS }],
    ['the cause decides over the error\'s own code', Object.assign(new Error('x'), { code: 'ECONNREFUSED', cause: reset }), { kind: 'unknown' }],
    ['connection reset: may have arrived', new NetworkError('fetch failed', { cause: reset }), { kind: 'unknown' }],
    ['client timeout', new TimeoutError(), { kind: 'unknown' }],
    ['no error object', null, { kind: 'unknown' }],
    ['a string', 'ECONNREFUSED', { kind: 'unknown' }],
  ]
  for (const [name, err, outcome] of cases) t.strictSame(outcomeOf(err), outcome, name)
})

t.test('reminder outcome: what each outcome leaves recorded', async (t) => {
  t.strictSame(RECORDED, { sent: 'sent', retry: 'released', failed: 'failed', unknown: 'unknown' })
})

/** The emulator, with chats CHAT … CHAT + 3 known to it (Telegram answers "chat not found" otherwise). */
async function emulator (t: Test): Promise<BotApiEmulator> {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  for (let chat = CHAT; chat <= CHAT + 3; chat++) emu.sendText(chat, chat, 'hi')
  return emu
}

/** A limiter clock the test holds: a wait is recorded and moves the clock by its length; an
 * aborted signal rejects it, as the real one does. */
function heldTimer (): LimiterTimer & { at: number, waits: number[] } {
  const timer = {
    at: 1_000_000,
    waits: [] as number[],
    now: () => timer.at,
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted()
      timer.waits.push(ms)
      timer.at += ms
    },
  }
  return timer
}

t.test('reminder outcome: LimitedSender sends as HTML, with the keyboard only when there is one', async (t) => {
  const emu = await emulator(t)
  const sender = new LimitedSender(new Api(emu.token, { apiRoot: emu.apiRoot, maxRetries: 0 }), new SendRateLimiter({ timer: heldTimer() }), new AbortController().signal)
  const keyboard = { inline_keyboard: [[{ text: '✅ Done', callback_data: 'd:1' }]] }
  const first = await sender.send(CHAT, '<b>⏰ #1</b> water plants', keyboard)
  const second = await sender.send(CHAT + 1, 'plain')
  const [a] = emu.messages(CHAT)
  const [b] = emu.messages(CHAT + 1)
  t.strictSame(first, { kind: 'sent', messageId: a?.message_id })
  t.strictSame(second, { kind: 'sent', messageId: b?.message_id })
  t.equal(a?.rendered, '⏰ #1 water plants', 'parse_mode HTML')
  t.strictSame(a?.reply_markup, keyboard)
  t.strictSame(emu.calls('sendMessage').map((c) => Object.keys(c.params).sort()), [['chat_id', 'parse_mode', 'reply_markup', 'text'], ['chat_id', 'parse_mode', 'text']], 'no reply_markup without a keyboard')
})

t.test('reminder outcome: a 429 or 5xx pauses every send for its wait; the chat\'s gap counts from the end of a send', async (t) => {
  const emu = await emulator(t)
  const timer = heldTimer()
  const controller = new AbortController()
  const sender = new LimitedSender(new Api(emu.token, { apiRoot: emu.apiRoot, maxRetries: 0 }), new SendRateLimiter({ timer }), controller.signal)

  await sender.turn(CHAT)
  timer.at += 5000 // the send itself took 5 s
  t.strictSame(await sender.send(CHAT, 'one'), { kind: 'sent', messageId: emu.messages(CHAT)[0]?.message_id })
  await sender.turn(CHAT)
  t.strictSame(timer.waits, [1000], 'a second after the send ended, not after it started')

  emu.failNext('sendMessage', { status: 429, retryAfter: 7 })
  t.strictSame(await sender.send(CHAT, 'two'), { kind: 'retry', afterMs: 7000 })
  await sender.turn(CHAT + 1)
  t.strictSame(timer.waits, [1000, 7000], 'another chat waits out the 429 too')

  emu.failNext('sendMessage', { status: 403 })
  t.strictSame(await sender.send(CHAT + 1, 'three'), { kind: 'failed' })
  await sender.turn(CHAT + 2)
  t.strictSame(timer.waits, [1000, 7000], 'a refusal pauses nothing')

  emu.failNext('sendMessage', { status: 503 })
  t.strictSame(await sender.send(CHAT + 2, 'four'), { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS })
  controller.abort()
  await t.rejects(sender.turn(CHAT + 3), { name: 'AbortError' }, 'a stopping loop ends the wait for a turn')
})
