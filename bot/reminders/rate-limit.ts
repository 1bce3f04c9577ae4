// Telegram's sending limits, kept on the real clock: about one message per second per chat and
// 30 per second overall; after a 429 everything waits for its retry_after.
import { setTimeout as sleep } from 'node:timers/promises'

/** Where the limiter reads the time and waits. Real time by default: Telegram's limits are, even
 * when the bot's own clock is set or sped up (`npm run try`, the reminder tests). */
export type LimiterTimer = {
  now: () => number
  /** Resolves after `ms`; rejects (AbortError) as soon as `signal` aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>
}

export const realTimer: LimiterTimer = {
  now: () => Date.now(),
  sleep: async (ms, signal) => { await sleep(ms, undefined, { signal }) },
}

export type LimiterOptions = {
  /** Default 1000: Telegram's "about one message per second" in one chat. */
  perChatGapMs?: number
  /** Default 30: Telegram's overall limit for bulk notifications. */
  perSecond?: number
  timer?: LimiterTimer
}

export class SendRateLimiter {
  private readonly lastByChat = new Map<number, number>()
  private readonly recent: number[] = []
  private pausedUntil = 0
  private readonly perChatGapMs: number
  private readonly perSecond: number
  private readonly timer: LimiterTimer

  constructor (options: LimiterOptions = {}) {
    this.perChatGapMs = options.perChatGapMs ?? 1000
    this.perSecond = options.perSecond ?? 30
    this.timer = options.timer ?? realTimer
  }

  /** Resolves when a message to `chatId` may be sent, and counts it as sent; rejects with an
   * AbortError when `signal` aborts while it waits. */
  async take (chatId: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = this.timer.now()
      while (this.recent.length > 0 && (this.recent[0] ?? 0) <= now - 1000) this.recent.shift()
      const chatReady = (this.lastByChat.get(chatId) ?? -Infinity) + this.perChatGapMs
      const globalReady = this.recent.length < this.perSecond ? -Infinity : (this.recent[0] ?? 0) + 1000
      const readyAt = Math.max(chatReady, globalReady, this.pausedUntil)
      if (readyAt <= now) break
      await this.timer.sleep(readyAt - now, signal)
    }
    const at = this.timer.now()
    this.lastByChat.set(chatId, at)
    this.recent.push(at)
  }

  /** A send has ended: the gap to the next one in this chat counts from now (a send that waited
   * out a 429 inside the client ends later than it started). */
  finished (chatId: number): void {
    this.lastByChat.set(chatId, this.timer.now())
  }

  pause (ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.timer.now() + ms)
  }
}
