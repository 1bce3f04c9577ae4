// Where the bot gets the time. Production reads the system clock; tests and `npm run try` inject a
// clock they can set or speed up, and the reminder loop listens for jumps instead of sleeping.

export interface Clock {
  now: () => number
  /** Real milliseconds until `clockMs` of this clock's time have passed. */
  realDelay: (clockMs: number) => number
  /** Called when the time jumps (a set clock); returns the unsubscribe function. */
  onJump: (listener: () => void) => () => void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  realDelay: (ms) => ms,
  onJump: () => () => {},
}

/** A clock that starts at `start` and runs `rate` times faster than real time; `set` and
 * `advance` jump it. */
export class AdjustableClock implements Clock {
  private base: number
  private realBase = Date.now()
  private readonly listeners = new Set<() => void>()

  constructor (start: number, private readonly rate = 1) {
    this.base = start
  }

  now (): number {
    return this.base + (Date.now() - this.realBase) * this.rate
  }

  realDelay (clockMs: number): number {
    return this.rate === 0 ? 60_000 : clockMs / this.rate
  }

  set (at: number): void {
    this.base = at
    this.realBase = Date.now()
    for (const listener of this.listeners) listener()
  }

  advance (ms: number): void {
    this.set(this.now() + ms)
  }

  onJump (listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
