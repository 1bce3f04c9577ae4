// pollUpdates (bot/updates/poller.ts) unit by unit: a scripted getUpdates (the Bot API's answers,
// in order; what crosses the process boundary is injected) and a real SQLite ledger. What is asked
// of Telegram, what is handled, what the health state and the log say, and when polling ends.
import path from 'node:path'
import { TelegramApiError, type Api } from 'node-telegram-bot-api'
import type * as T from 'node-telegram-bot-api/types'
import t, { type Test } from 'tap'
import { openDatabase } from '../bot/db.js'
import { createLogger } from '../bot/logger.js'
import { UpdateLedger } from '../bot/updates/ledger.js'
import { ALLOWED_UPDATES, pollUpdates, tokenRejected, type PollState } from '../bot/updates/poller.js'
import { tempDir } from './support/bot-harness.js'

/** One answer of getUpdates: updates, an error to throw, or a function of the call's signal. */
type Answer = T.Update[] | Error | ((r: Run, signal: AbortSignal) => Promise<T.Update[]>)

type Run = {
  calls: Array<{ params: T.GetUpdatesParams, at: number }>
  handled: number[]
  batches: number[][]
  afterPolls: number
  firstPolls: number
  logs: Array<Record<string, unknown>>
  state: PollState
  controller: AbortController
  ledger: UpdateLedger
  done: Promise<void>
}

const update = (id: number): T.Update => ({ update_id: id, message: { message_id: id, date: 0, chat: { id: 1, type: 'private' }, text: `u${id}` } } as T.Update)

/** Runs the poll loop over `answers`; after the last one the loop is stopped (the abort ends it). */
async function run (t: Test, answers: Answer[], options: { handled?: number[], onHandle?: (id: number, r: Run) => void, batch?: boolean, started?: (r: Run) => void } = {}): Promise<Run> {
  const db = openDatabase({ engine: 'sqlite', file: path.join(tempDir(), 'todo.sqlite') })
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db)
  for (const id of options.handled ?? []) await ledger.handleOnce(id, async () => [])
  const logs: Array<Record<string, unknown>> = []
  const controller = new AbortController()
  const r: Run = {
    calls: [], handled: [], batches: [], afterPolls: 0, firstPolls: 0, logs, controller, ledger, done: Promise.resolve(),
    state: { lastPollAt: null, lastError: null, failingSince: null, polls: 0, failures: 0 },
  }
  const api = {
    getUpdates: async (params: T.GetUpdatesParams, signal: AbortSignal): Promise<T.Update[]> => {
      r.calls.push({ params, at: Date.now() })
      const answer = answers.shift()
      if (answer === undefined) {
        controller.abort()
        throw new Error('aborted')
      }
      if (answer instanceof Error) throw answer
      if (typeof answer === 'function') return await answer(r, signal)
      return answer
    },
  } as unknown as Api
  let batch: number[] | undefined
  r.done = pollUpdates({
    api,
    ledger,
    handle: async (u) => {
      r.handled.push(u.update_id)
      batch?.push(u.update_id)
      options.onHandle?.(u.update_id, r)
    },
    ...(options.batch === false ? {} : { batch: async (work: () => Promise<void>) => { batch = []; await work(); r.batches.push(batch); batch = undefined } }),
    afterPoll: async () => { r.afterPolls++ },
    timeoutS: 25,
    signal: controller.signal,
    logger: createLogger('info', { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } }),
    state: r.state,
    onFirstPoll: () => { r.firstPolls++ },
  })
  options.started?.(r)
  await r.done
  return r
}

/** The log lines' message and the fields that matter to the operator. */
const lines = (r: Run): unknown[][] => r.logs.map((l) => [l.msg, ...(['attempt', 'retryInMs', 'endedBy409'].filter((k) => k in l).map((k) => l[k]))])

t.test('poller: a fresh database polls without an offset; the first poll does not wait, the next ones long-poll', async (t) => {
  const r = await run(t, [[], [update(500), update(501)], []])
  const ask = { limit: 100, allowed_updates: ['message', 'edited_message', 'callback_query', 'my_chat_member'] }
  t.strictSame(r.calls.map((c) => c.params), [
    { offset: undefined, timeout: 0, ...ask },
    { offset: undefined, timeout: 25, ...ask },
    { offset: 502, timeout: 25, ...ask },
    { offset: 502, timeout: 25, ...ask },
  ])
  t.strictSame(ALLOWED_UPDATES, ask.allowed_updates)
  t.strictSame(r.handled, [500, 501])
  t.strictSame(r.batches, [[500, 501]], 'one batch for the answer with updates, none for the empty ones')
  t.equal(r.afterPolls, 3, 'afterPoll after every answered poll')
  t.equal(r.firstPolls, 1, 'onFirstPoll once')
  t.equal(r.state.polls, 3)
  t.equal(r.state.failures, 0)
  t.same(lines(r), [['polling ended for the stop', false]])
})

t.test('poller: polling resumes after the newest handled update id in the database', async (t) => {
  const r = await run(t, [[update(41), update(42), update(43)]], { handled: [40, 41] })
  t.equal(r.calls[0]?.params.offset, 42)
  t.strictSame(r.handled, [42, 43], 'an update below the offset (41, handled already) is skipped')
  t.equal(r.calls[1]?.params.offset, 44)
})

t.test('poller: without a batch runner each update is handled directly', async (t) => {
  const r = await run(t, [[update(7), update(8)]], { batch: false })
  t.strictSame(r.handled, [7, 8])
  t.strictSame(r.batches, [])
})

t.test('poller: a stop in the middle of a batch handles no further update, and asks no more', async (t) => {
  const r = await run(t, [[update(1), update(2), update(3)], []], { onHandle: (id, r) => { if (id === 1) r.controller.abort() } })
  t.strictSame(r.handled, [1])
  t.equal(r.calls.length, 1, 'no getUpdates after the stop')
  t.same(lines(r), [['polling ended for the stop', false]])
})

/** The health state as an answer sees it (what /healthz would show at that moment). */
type Snap = { lastError: string | null, failures: number, polls: number, failingSince: number | null, lastPollAt: number | null }
const snapInto = (snaps: Snap[]) => async (r: Run): Promise<T.Update[]> => {
  snaps.push({ ...r.state })
  return []
}

t.test('poller: a failed getUpdates backs off 0.5 s, then 1 s; the health state names the error until a poll succeeds', async (t) => {
  const snaps: Snap[] = []
  let firstAt = 0
  const r = await run(t, [
    async () => { firstAt = Date.now(); throw new TelegramApiError(500, 'Internal Server Error') },
    async (r) => { snaps.push({ ...r.state }); throw new Error('socket hang up') },
    snapInto(snaps),
    snapInto(snaps),
  ])
  const gap = (i: number): number => (r.calls[i]?.at ?? 0) - (r.calls[i - 1]?.at ?? 0)
  t.ok(gap(1) >= 495 && gap(1) < 900, `first back-off 500 ms (${gap(1)})`)
  t.ok(gap(2) >= 995 && gap(2) < 1500, `second back-off 1000 ms (${gap(2)})`)
  t.ok(gap(3) < 400, `no back-off after a success (${gap(3)})`)
  t.same(lines(r), [
    ['getUpdates failed; retrying', 1, 500],
    ['getUpdates failed; retrying', 2, 1000],
    ['polling ended for the stop', false],
  ])
  const [during, failing, after] = snaps
  t.strictSame([during?.lastError, during?.failures, during?.polls], ['500 Internal Server Error', 1, 0], 'after one failure')
  t.ok(during?.failingSince !== null && (during?.failingSince ?? 0) >= firstAt, 'failing since the first failure')
  t.strictSame([failing?.lastError, failing?.failures, failing?.polls, failing?.failingSince], ['socket hang up', 2, 0, during?.failingSince], 'a second failure keeps when the failing began')
  t.strictSame([after?.lastError, after?.failures, after?.polls, after?.failingSince], [null, 2, 1, null], 'a success clears the error; failures since start stay counted')
  t.ok((after?.lastPollAt ?? 0) >= (r.calls[2]?.at ?? Infinity), 'lastPollAt is the success')
  t.equal(r.firstPolls, 1)
  t.strictSame(r.calls.map((c) => c.params.timeout), [0, 0, 0, 25, 25], 'until one succeeds, polls do not wait (the last is the one the stop ends)')
})

t.test('poller: 429 waits the retry_after Telegram gave; 409 says another instance is polling; a failure that is not an Error is named', async (t) => {
  const snaps: Snap[] = []
  const r = await run(t, [
    new TelegramApiError(429, 'Too Many Requests: retry after 1', { retry_after: 1 }),
    new TelegramApiError(409, 'Conflict: terminated by other getUpdates request'),
    async () => { throw 'a string' },
    snapInto(snaps),
  ])
  t.same(lines(r), [
    ['getUpdates failed; retrying', 1, 1000],
    ['getUpdates conflict: another instance is polling with this token; retrying', 2, 1000],
    ['getUpdates failed; retrying', 3, 2000],
    ['polling ended for the stop', false],
  ])
  const gap = (r.calls[1]?.at ?? 0) - (r.calls[0]?.at ?? 0)
  t.ok(gap >= 995 && gap < 1500, `waited the retry_after (${gap} ms)`)
  t.equal(r.state.failures, 3)
})

t.test('poller: the error text in the health state: code and description, message, or the value', async (t) => {
  const snaps: Snap[] = []
  await run(t, [
    new TelegramApiError(502, 'Bad Gateway'),
    async (r) => { snaps.push({ ...r.state }); r.controller.abort(); return [] },
  ])
  t.equal(snaps[0]?.lastError, '502 Bad Gateway')
  const text: Snap[] = []
  await run(t, [
    async () => { throw 42 },
    async (r) => { text.push({ ...r.state }); r.controller.abort(); return [] },
  ])
  t.equal(text[0]?.lastError, '42')
})

t.test('poller: a rejected token (401) ends polling with the error that names the fix', async (t) => {
  const cause = new TelegramApiError(401, 'Unauthorized')
  await t.rejects(run(t, [cause]), { code: 'ETOKEN', message: 'Telegram rejected the bot token (401 Unauthorized): check TELEGRAM_BOT_TOKEN in .env, or ask @BotFather for a new one' })
  const err = tokenRejected(cause)
  t.equal(err.name, 'AppError')
  t.equal(err.cause, cause)
})

t.test('poller: a stop during a two-minute back-off ends polling at once', async (t) => {
  const started = Date.now()
  const r = await run(t, [new TelegramApiError(429, 'Too Many Requests: retry after 120', { retry_after: 120 })], {
    started: (r) => { setTimeout(() => r.controller.abort(), 100) },
  })
  const took = Date.now() - started
  t.ok(took < 1500, `ended ${took} ms after it began`)
  t.same(lines(r), [['getUpdates failed; retrying', 1, 120_000], ['polling ended for the stop', false]])
  t.equal(r.calls.length, 1)
})

t.test('poller: a poll ended by the stop is not a failure; one ended by the next poller\'s 409 is logged as such', async (t) => {
  const heldUntilStop = (err: () => unknown) => async (r: Run, signal: AbortSignal) => await new Promise<T.Update[]>((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(err()), { once: true })
    setTimeout(() => r.controller.abort(), 20)
  })
  const plain = await run(t, [[], heldUntilStop(() => new Error('This operation was aborted'))])
  t.equal(plain.state.failures, 0)
  t.equal(plain.state.lastError, null)
  t.same(lines(plain), [['polling ended for the stop', false]])
  const conflict = await run(t, [[], heldUntilStop(() => new TelegramApiError(409, 'Conflict: terminated by other getUpdates request'))])
  t.equal(conflict.state.failures, 0)
  t.same(lines(conflict), [['polling ended for the stop', true]])
  const other = await run(t, [[], heldUntilStop(() => new TelegramApiError(500, 'Internal Server Error'))])
  t.same(lines(other), [['polling ended for the stop', false]])
})
