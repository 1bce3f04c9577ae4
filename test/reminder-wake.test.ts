// When the reminder loop looks (bot/reminders/wake.ts), seen from outside: a look that counts its
// calls and ends when the test says, the injected clock for jumps, and real short waits.
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { AdjustableClock, type Clock } from '../bot/clock.js'
import { MAX_SLEEP_MS, POKE_DELAY_MS, Waker } from '../bot/reminders/wake.js'

/** A timer fires on Node's own millisecond clock; Date.now() may read it 1–2 ms short. */
const EARLY_MS = 3

type Call = { at: number, endedAt: number | undefined, end: (ms: number) => void }

/** A Waker whose looks are recorded; each stays in hand until the test ends it (`auto`: at once). */
function harness (auto?: number) {
  const clock = new AdjustableClock(Date.parse('2026-11-25T08:00:00Z'))
  let subscribed = 0
  const counted: Clock = {
    now: () => clock.now(),
    realDelay: (ms) => clock.realDelay(ms),
    onJump: (listener) => {
      subscribed += 1
      const off = clock.onJump(listener)
      return () => { subscribed -= 1; off() }
    },
  }
  const calls: Call[] = []
  let inHand = 0
  let mostAtOnce = 0
  const waker = new Waker(counted, () => new Promise<number>((resolve) => {
    inHand += 1
    mostAtOnce = Math.max(mostAtOnce, inHand)
    const call: Call = { at: Date.now(), endedAt: undefined, end: (ms) => { call.endedAt = Date.now(); inHand -= 1; resolve(ms) } }
    calls.push(call)
    if (auto !== undefined) call.end(auto)
  }))
  /** Ends look `i` with `ms` and lets the Waker act on it. */
  const end = async (i: number, ms: number): Promise<void> => {
    const call = calls[i]
    if (call === undefined) throw new Error(`look ${i} never started (${calls.length} looks)`)
    call.end(ms)
    await tick()
  }
  const until = async (looks: number, withinMs = 3000): Promise<Call> => {
    const deadline = performance.now() + withinMs
    while (calls.length < looks && performance.now() < deadline) await sleep(2)
    const call = calls[looks - 1]
    if (call === undefined) throw new Error(`expected look ${looks} within ${withinMs} ms, saw ${calls.length}`)
    return call
  }
  return { clock, waker, calls, end, until, subscribed: () => subscribed, mostAtOnce: () => mostAtOnce }
}

t.test('reminder wake: start looks at once; the next look comes after the ms the look returned, not before', async (t) => {
  const h = harness()
  t.equal(h.waker.isRunning, false, 'not running before start')
  h.waker.start()
  t.equal(h.waker.isRunning, true)
  t.equal(h.calls.length, 1, 'the first look starts within start()')
  await h.end(0, 300)
  const second = await h.until(2)
  const first = h.calls[0]
  t.ok(second.at - (first?.endedAt ?? 0) >= 300 - EARLY_MS, `looked again ${second.at - (first?.endedAt ?? 0)} ms after the look that said 300`)
  await h.end(1, MAX_SLEEP_MS)
  await sleep(350)
  t.equal(h.calls.length, 2, 'a look that says 30 s is not followed sooner')
  await h.waker.stop()
})

t.test('reminder wake: a poke looks once, POKE_DELAY_MS later; a burst of pokes is one look', async (t) => {
  const h = harness(MAX_SLEEP_MS)
  h.waker.start()
  await tick()
  const firstPoke = Date.now()
  h.waker.poke()
  await sleep(50)
  const laterPoke = Date.now()
  h.waker.poke()
  h.waker.poke()
  h.waker.poke()
  const look = await h.until(2)
  t.ok(look.at - firstPoke >= POKE_DELAY_MS - EARLY_MS, `looked ${look.at - firstPoke} ms after the first poke`)
  t.ok(look.at < laterPoke + POKE_DELAY_MS, 'on the first poke\'s time: the later pokes do not put it off')
  await sleep(POKE_DELAY_MS + 150)
  t.equal(h.calls.length, 2, 'four pokes, one look')
  await h.waker.stop()
})

t.test('reminder wake: a poke brings a later look nearer, and leaves a sooner one where it is', async (t) => {
  const h = harness()
  h.waker.start()
  await h.end(0, 450)
  const poked = Date.now()
  h.waker.poke()
  const nearer = await h.until(2)
  t.ok(nearer.at - poked >= POKE_DELAY_MS - EARLY_MS && nearer.at - poked < 450 - EARLY_MS, `the look due in 450 ms came ${nearer.at - poked} ms after the poke`)
  await h.end(1, 60)
  await sleep(500)
  t.equal(h.calls.length, 3, 'the 450 ms timer was replaced, not kept beside the poke\'s')

  h.waker.poke()
  const soon = Date.now()
  await h.end(2, 40)
  h.waker.poke()
  const sooner = await h.until(4)
  t.ok(sooner.at - soon < POKE_DELAY_MS - 20, `a look due in 40 ms stays there after a poke (came after ${sooner.at - soon} ms)`)
  await h.end(3, MAX_SLEEP_MS)
  await h.waker.stop()
})

t.test('reminder wake: a wake during a look gives exactly one more look, right after it', async (t) => {
  const h = harness()
  h.waker.start()
  h.waker.wake()
  h.waker.wake()
  h.clock.advance(60_000)
  h.waker.poke()
  t.equal(h.calls.length, 1, 'never two looks at once')
  await h.end(0, MAX_SLEEP_MS)
  const again = await h.until(2)
  t.ok(again.at - (h.calls[0]?.endedAt ?? 0) < POKE_DELAY_MS - 20, 'at once, not after a poke\'s delay (a wake before the poke wins)')
  await h.end(1, MAX_SLEEP_MS)
  await sleep(POKE_DELAY_MS + 150)
  t.equal(h.calls.length, 2, 'three wakes and a poke in one look: one more look')
  t.equal(h.mostAtOnce(), 1)
  await h.waker.stop()
})

t.test('reminder wake: a poke during a look gives one more look, POKE_DELAY_MS after it', async (t) => {
  const h = harness()
  h.waker.start()
  h.waker.poke()
  h.waker.poke()
  await h.end(0, MAX_SLEEP_MS)
  const again = await h.until(2)
  const waited = again.at - (h.calls[0]?.endedAt ?? 0)
  t.ok(waited >= POKE_DELAY_MS - EARLY_MS, `looked ${waited} ms after the look ended`)
  await h.end(1, MAX_SLEEP_MS)
  await sleep(POKE_DELAY_MS + 150)
  t.equal(h.calls.length, 2, 'two pokes in one look: one more look')
  await h.waker.stop()
})

t.test('reminder wake: a jump of the clock or a wake looks now, and the timer of the look before is dropped', async (t) => {
  const h = harness()
  h.waker.start()
  await h.end(0, 150)
  h.clock.set(Date.parse('2026-11-26T09:00:00Z'))
  t.equal(h.calls.length, 2, 'the jump looked at once')
  await sleep(300)
  t.equal(h.calls.length, 2, 'the 150 ms timer did not fire during the look in hand')
  await h.end(1, 150)
  h.waker.wake()
  t.equal(h.calls.length, 3, 'a wake looked at once')
  await h.end(2, MAX_SLEEP_MS)
  await sleep(300)
  t.equal(h.calls.length, 3)
  await h.waker.stop()
})

t.test('reminder wake: stop waits for the look in hand, and nothing looks after it', async (t) => {
  const h = harness()
  h.waker.start()
  t.equal(h.subscribed(), 1, 'listens for jumps while running')
  let stopped = false
  const stopping = h.waker.stop().then(() => { stopped = true })
  t.equal(h.waker.isRunning, false)
  await sleep(50)
  t.equal(stopped, false, 'stop() has not resolved while the look is in hand')
  h.waker.wake()
  h.waker.poke()
  h.clock.advance(60_000)
  await h.end(0, 50)
  await stopping
  t.equal(stopped, true)
  t.equal(h.subscribed(), 0, 'no longer listens for jumps')
  h.waker.wake()
  h.waker.poke()
  await sleep(POKE_DELAY_MS + 150)
  t.equal(h.calls.length, 1, 'no look after stop(): not the 50 ms one, not a wake, poke or jump')
})
