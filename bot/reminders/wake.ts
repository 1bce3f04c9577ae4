// Waking up: when the reminder loop looks at the database. It looks at once when started, when
// the clock jumps, shortly after an update (poke: a burst of updates is one look), and otherwise
// when the look before said the next thing is due, at most MAX_SLEEP_MS later. Never two looks
// at once: a wake during a look runs one more look after it. What is due lives in the database.
import type { Clock } from '../clock.js'

/** The longest the loop sleeps without looking (real time). */
export const MAX_SLEEP_MS = 30_000
/** After an update, the loop looks again this soon (not at once: a burst of updates is one look). */
export const POKE_DELAY_MS = 200

/** One look; resolves with how long to sleep before the next (real ms). */
export type Look = () => Promise<number>

export class Waker {
  private timer: NodeJS.Timeout | undefined
  /** When the timer fires (real time). */
  private timerAt = Infinity
  private current: Promise<void> | undefined
  /** What to do when the look in hand ends: look again at once, or shortly (a poke). */
  private after: 'nothing' | 'wake' | 'poke' = 'nothing'
  private running = false
  private unsubscribe: () => void = () => {}

  constructor (private readonly clock: Clock, private readonly look: Look) {}

  get isRunning (): boolean {
    return this.running
  }

  start (): void {
    this.running = true
    this.unsubscribe = this.clock.onJump(() => this.wake())
    this.wake()
  }

  /** Look now (something changed: an update, a jump of the clock). */
  wake (): void {
    if (!this.running) return
    if (this.current !== undefined) {
      this.after = 'wake'
      return
    }
    clearTimeout(this.timer)
    this.timerAt = Infinity
    this.current = this.look().then((ms) => {
      if (this.running) this.schedule(ms)
    }).finally(() => {
      this.current = undefined
      const after = this.after
      this.after = 'nothing'
      if (after === 'wake') this.wake()
      else if (after === 'poke') this.poke()
    })
  }

  /** An update may have added or moved a reminder: look again shortly. */
  poke (): void {
    if (!this.running) return
    if (this.current !== undefined) {
      if (this.after === 'nothing') this.after = 'poke'
      return
    }
    if (this.timerAt <= performance.now() + POKE_DELAY_MS) return
    this.schedule(POKE_DELAY_MS)
  }

  /** No more looks; resolves once the look in hand has ended. */
  async stop (): Promise<void> {
    this.running = false
    this.unsubscribe()
    clearTimeout(this.timer)
    await this.current
  }

  private schedule (ms: number): void {
    clearTimeout(this.timer)
    this.timerAt = performance.now() + ms
    this.timer = setTimeout(() => this.wake(), ms)
    this.timer.unref()
  }
}
