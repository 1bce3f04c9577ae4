// Telegram's sending limits, kept on the real clock: about one message per second per chat and
// 30 per second overall; after a 429 everything waits for its retry_after.
function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new Error('stopped'))
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new Error('stopped'))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export class SendRateLimiter {
  private readonly lastByChat = new Map<number, number>()
  private readonly recent: number[] = []
  private pausedUntil = 0

  constructor (private readonly perChatGapMs = 1000, private readonly perSecond = 30) {}

  /** Resolves when a message to `chatId` may be sent, and counts it as sent. */
  async take (chatId: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now()
      while (this.recent.length > 0 && (this.recent[0] ?? 0) <= now - 1000) this.recent.shift()
      const chatReady = (this.lastByChat.get(chatId) ?? 0) + this.perChatGapMs
      const globalReady = this.recent.length < this.perSecond ? 0 : (this.recent[0] ?? 0) + 1000
      const readyAt = Math.max(chatReady, globalReady, this.pausedUntil)
      if (readyAt <= now) break
      await sleep(readyAt - now, signal)
    }
    const at = Date.now()
    this.lastByChat.set(chatId, at)
    this.recent.push(at)
  }

  /** A send has ended: the gap to the next one in this chat counts from now (a send that waited
   * out a 429 inside the client ends later than it started). */
  finished (chatId: number): void {
    this.lastByChat.set(chatId, Date.now())
  }

  pause (ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms)
  }
}
