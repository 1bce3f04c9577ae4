// Telegram's side of getUpdates: the pending queue, update ids, offset confirmation, and the
// one long poll that may be held open (a newer one ends it with 409, like Telegram).
import type { Update } from './types.js'

export const DEFAULT_LIMIT = 100
/** The Bot API caps a long poll at 50 seconds. */
export const MAX_TIMEOUT_SECONDS = 50

export type PollRequest = { offset: number, limit: number, timeoutSeconds: number }
export type PollAnswer = { updates: Update[] } | { conflict: true }
type Poller = { request: PollRequest, timer: NodeJS.Timeout, answer: (a: PollAnswer) => void }

export class UpdatesQueue {
  private queue: Update[] = []
  private nextId: number
  private confirmed = 0
  private poller: Poller | undefined
  private wakeScheduled = false
  /** Called on each push (the webhook delivery listens here). */
  onPush: (() => void) | undefined

  /** A base in 100000..999999, so a bot cannot get away with assuming ids start at 0 or 1. */
  constructor (base = 100_000 + Math.floor(Math.random() * 900_000)) {
    this.nextId = base
  }

  get confirmedOffset (): number { return this.confirmed }
  get activePollers (): number { return this.poller === undefined ? 0 : 1 }
  pending (): Update[] { return [...this.queue] }

  push (payload: Record<string, unknown>): Update {
    const { update_id: _ignored, ...rest } = payload
    const update: Update = { update_id: this.nextId++, ...rest }
    this.queue.push(update)
    this.onPush?.()
    // Answer on the next turn, so updates queued in one synchronous burst arrive as one batch.
    if (this.poller !== undefined && !this.wakeScheduled) {
      this.wakeScheduled = true
      setImmediate(() => {
        this.wakeScheduled = false
        this.wake()
      })
    }
    return update
  }

  /** A webhook delivery answered 2xx: Telegram forgets that update. */
  remove (updateId: number): void {
    this.queue = this.queue.filter((u) => u.update_id !== updateId)
  }

  /** What deleteWebhook(drop_pending_updates) does: everything queued is forgotten. */
  dropPending (): void {
    this.confirmed = this.nextId
    this.queue = []
  }

  /**
   * Handles one getUpdates: ends the poll already held (409), confirms the offset, answers at
   * once when updates are ready or timeout is 0, else holds. Returns a cancel for a client that
   * goes away while held, so it neither stays counted nor takes updates.
   */
  poll (request: PollRequest, answer: (a: PollAnswer) => void): () => void {
    this.endHeldPoll()
    this.confirm(request.offset)
    const ready = this.queue.slice(0, request.limit)
    if (ready.length > 0 || request.timeoutSeconds <= 0) {
      answer({ updates: ready })
      return () => {}
    }
    const timer = setTimeout(() => {
      if (this.poller !== poller) return
      this.poller = undefined
      answer({ updates: [] })
    }, request.timeoutSeconds * 1000)
    const poller: Poller = { request, timer, answer }
    this.poller = poller
    return () => {
      if (this.poller !== poller) return
      clearTimeout(timer)
      this.poller = undefined
    }
  }

  /** Ends the held poll without an answer; used when the server stops. */
  abandon (): void {
    if (this.poller === undefined) return
    clearTimeout(this.poller.timer)
    this.poller = undefined
  }

  private endHeldPoll (): void {
    const held = this.poller
    if (held === undefined) return
    clearTimeout(held.timer)
    this.poller = undefined
    held.answer({ conflict: true })
  }

  /** offset N > 0 forgets ids below N; offset -N keeps only the last N; 0 confirms nothing. */
  private confirm (offset: number): void {
    if (offset > 0) {
      this.queue = this.queue.filter((u) => u.update_id >= offset)
      this.confirmed = Math.max(this.confirmed, offset)
    } else if (offset < 0) {
      this.queue = this.queue.slice(offset)
      this.confirmed = Math.max(this.confirmed, this.queue[0]?.update_id ?? this.nextId)
    }
  }

  private wake (): void {
    const held = this.poller
    if (held === undefined || this.queue.length === 0) return
    clearTimeout(held.timer)
    this.poller = undefined
    held.answer({ updates: this.queue.slice(0, held.request.limit) })
  }
}
