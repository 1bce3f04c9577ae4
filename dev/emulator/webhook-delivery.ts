// Telegram's webhook side: while a webhook is set, each pending update is POSTed to its URL with
// the secret header, oldest first per chat (a chat's next update waits until the one before was
// answered 2xx), up to max_connections requests at once. Anything but a 2xx (or no answer) keeps
// the update pending and it is retried with a growing pause; getWebhookInfo shows the count and
// the last error, like Telegram.
import type { Update } from './types.js'
import type { UpdatesQueue } from './updates-queue.js'

/** How long a POST may take before it counts as failed ("Read timeout expired"). */
export const WEBHOOK_TIMEOUT_MS = 30_000

export type WebhookSettings = { url: string, secretToken: string | undefined, maxConnections: number, allowedUpdates: string[] | undefined }

/** One POST the emulator made: the update, and the HTTP status or the connection error. */
export type WebhookAttempt = { updateId: number, at: number, status?: number, error?: string, /** From the POST to its answer (or error). */ ms?: number }

/** The pause before a failed update is tried again (doubling from firstMs up to maxMs), and how
 * long a POST may take (default WEBHOOK_TIMEOUT_MS). */
export type WebhookRetry = { firstMs: number, maxMs: number, timeoutMs?: number }

function chatKey (update: Update): string {
  const u = update as Record<string, unknown>
  for (const value of Object.values(u)) {
    if (value === null || typeof value !== 'object') continue
    const v = value as { chat?: { id?: unknown }, message?: { chat?: { id?: unknown } }, from?: { id?: unknown } }
    const chat = v.chat?.id ?? v.message?.chat?.id ?? v.from?.id
    if (typeof chat === 'number') return `chat:${chat}`
  }
  return `update:${update.update_id}`
}

function connectionError (err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } }).cause
  const code = typeof cause?.code === 'string' ? cause.code : undefined
  if (code === 'ECONNREFUSED') return 'Connection refused'
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'Connection reset by peer'
  if (err instanceof Error && err.name === 'TimeoutError') return 'Read timeout expired'
  return `Connection error${code === undefined ? '' : `: ${code}`}`
}

export class WebhookDelivery {
  settings: WebhookSettings | null = null
  lastErrorDate: number | undefined
  lastErrorMessage: string | undefined
  readonly attempts: WebhookAttempt[] = []
  private active = 0
  private readonly busy = new Set<string>()
  private readonly tries = new Map<number, { count: number, notBefore: number }>()
  private readonly controllers = new Set<AbortController>()
  private timer: NodeJS.Timeout | undefined
  private scheduled = false
  private stopped = false

  constructor (private readonly queue: UpdatesQueue, private readonly retry: WebhookRetry) {}

  /** The URL as getUpdates and getWebhookInfo see it ('' when none is set). */
  get url (): string { return this.settings?.url ?? '' }

  set (settings: WebhookSettings | null): void {
    this.settings = settings
    this.tries.clear()
    if (settings === null) {
      this.lastErrorDate = undefined
      this.lastErrorMessage = undefined
    }
    this.wake()
  }

  /** Looks for deliverable updates on the next turn (a burst of pushes is one look). */
  wake (): void {
    if (this.scheduled || this.stopped) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.pump()
    })
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    for (const c of this.controllers) c.abort()
  }

  private pump (): void {
    const settings = this.settings
    if (settings === null || this.stopped) return
    const now = performance.now()
    const blocked = new Set<string>()
    let nextRetry = Infinity
    for (const update of this.queue.pending()) {
      if (this.active >= settings.maxConnections) break
      const key = chatKey(update)
      if (blocked.has(key)) continue
      // Whatever happens to this one, the chat's later updates wait behind it.
      blocked.add(key)
      if (this.busy.has(key)) continue
      const tried = this.tries.get(update.update_id)
      if (tried !== undefined && tried.notBefore > now) {
        nextRetry = Math.min(nextRetry, tried.notBefore)
        continue
      }
      void this.post(settings, update, key)
    }
    clearTimeout(this.timer)
    if (nextRetry !== Infinity) this.timer = setTimeout(() => this.wake(), Math.max(1, nextRetry - now))
  }

  private async post (settings: WebhookSettings, update: Update, key: string): Promise<void> {
    this.active++
    this.busy.add(key)
    const controller = new AbortController()
    this.controllers.add(controller)
    // One timer, cleared with the answer: AbortSignal.timeout would keep each request's signal
    // (and AbortSignal.any's composite) alive for the whole 30 s, which in a burst of thousands
    // of requests is promoted garbage and long GC pauses in the process that measures the times.
    const timeout = setTimeout(() => controller.abort(new DOMException('Read timeout expired', 'TimeoutError')), this.retry.timeoutMs ?? WEBHOOK_TIMEOUT_MS)
    const attempt: WebhookAttempt = { updateId: update.update_id, at: Date.now() }
    this.attempts.push(attempt)
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (settings.secretToken !== undefined) headers['x-telegram-bot-api-secret-token'] = settings.secretToken
      const res = await fetch(settings.url, { method: 'POST', headers, body: JSON.stringify(update), signal: controller.signal })
      await res.arrayBuffer().catch(() => undefined)
      attempt.ms = Date.now() - attempt.at
      attempt.status = res.status
      if (res.status >= 200 && res.status < 300) {
        // Answered: Telegram forgets the update (unless the webhook changed meanwhile — it is the same update either way).
        this.queue.remove(update.update_id)
        this.tries.delete(update.update_id)
      } else {
        this.failed(update.update_id, `Wrong response from the webhook: ${res.status} ${res.statusText}`)
      }
    } catch (err) {
      if (this.stopped) return
      attempt.ms = Date.now() - attempt.at
      attempt.error = connectionError(err)
      this.failed(update.update_id, attempt.error)
    } finally {
      clearTimeout(timeout)
      this.controllers.delete(controller)
      this.active--
      this.busy.delete(key)
      this.wake()
    }
  }

  private failed (updateId: number, message: string): void {
    this.lastErrorDate = Math.floor(Date.now() / 1000)
    this.lastErrorMessage = message
    const count = (this.tries.get(updateId)?.count ?? 0) + 1
    const pause = Math.min(this.retry.maxMs, this.retry.firstMs * 2 ** (count - 1))
    this.tries.set(updateId, { count, notBefore: performance.now() + pause })
  }
}
