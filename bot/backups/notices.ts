// Telling the owner (the first of ALLOWED_USER_IDS) about a backup problem, once per problem: a
// problem is recorded in owner_notices, sent within Telegram's limits (the reminders' rate
// limiter), and marked sent; a standing problem is not sent again until it has cleared.
import { TelegramApiError, type Api } from 'node-telegram-bot-api'
import type { Logger } from '../logger.js'
import type { SendRateLimiter } from '../reminders/rate-limit.js'
import type { WriteGate } from '../write-gate.js'
import type { Problem, ScheduleStore } from './store.js'

export type NoticeDeps = { api: Api, store: ScheduleStore, gate: WriteGate, limiter: SendRateLimiter, logger: Logger, ownerId: number, now: () => number, signal: AbortSignal }

export class OwnerNotices {
  constructor (private readonly d: NoticeDeps) {}

  /** Records a problem (a no-op while it stands) and tells the owner. */
  async raise (problem: Problem, message: string): Promise<void> {
    const fresh = await this.d.gate.run(() => this.d.store.raise(problem, message, this.d.now()))
    if (fresh) this.d.logger.warn({ problem }, `backups: ${message}`)
    await this.sendPending()
  }

  async clear (problem: Problem): Promise<void> {
    await this.d.gate.run(() => this.d.store.clear(problem, this.d.now()))
  }

  /** Sends every standing notice not yet accepted by Telegram. False when one must be retried later. */
  async sendPending (): Promise<boolean> {
    for (const notice of await this.d.store.standing()) {
      if (notice.notifiedAt !== null) continue
      try {
        await this.d.limiter.take(this.d.ownerId, this.d.signal)
        await this.d.api.sendMessage({ chat_id: this.d.ownerId, text: notice.message })
        this.d.limiter.finished(this.d.ownerId)
      } catch (err) {
        if (this.d.signal.aborted) return false
        const code = err instanceof TelegramApiError ? err.errorCode : null
        if (code === 429) this.d.limiter.pause(((err as TelegramApiError).retryAfter ?? 1) * 1000)
        if (code === null || code === 429 || code >= 500) {
          this.d.logger.warn({ err, problem: notice.problem }, 'backups: the notice to the owner was not accepted yet; will retry')
          return false
        }
        // Refused for good (the owner never opened a chat with the bot, or blocked it): logged, not retried.
        this.d.logger.error({ err, problem: notice.problem }, 'backups: Telegram refused the notice to the owner')
      }
      await this.d.gate.run(() => this.d.store.notified(notice.problem, this.d.now()))
    }
    return true
  }
}
