// One send of the reminder loop (a reminder or a digest) and what its outcome leaves recorded. A
// message is claimed in the database before it is sent; only a definite "not sent" from Telegram
// undoes the claim, anything else is final (at most once).
import { TelegramApiError, type Api } from 'node-telegram-bot-api'
import type { InlineKeyboardMarkup } from 'node-telegram-bot-api/types'
import type { Clock } from '../clock.js'
import type { Database } from '../db.js'
import type { Logger } from '../logger.js'
import type { WriteGate } from '../write-gate.js'
import type { SendRateLimiter } from './rate-limit.js'
import type { ReminderStore } from './store.js'

export const RETRY_AFTER_5XX_MS = 5_000

export type Outcome = { kind: 'sent', messageId: number } | { kind: 'retry', afterMs: number } | { kind: 'failed' | 'unknown' }

/** What a claim becomes: a status on its row, or `released` (the row removed, to be sent later). */
export type Recorded = 'sent' | 'failed' | 'unknown' | 'released'

/** The one table from a send's outcome to what is recorded, for reminders and digests alike. */
export const RECORDED: Record<Outcome['kind'], Recorded> = {
  sent: 'sent',
  retry: 'released',
  failed: 'failed',
  unknown: 'unknown',
}

/** What a failed send means for the claim: only a definite "not sent" may be retried. */
export function outcomeOf (err: unknown): Outcome {
  if (err instanceof TelegramApiError) {
    if (err.errorCode === 429) return { kind: 'retry', afterMs: (err.retryAfter ?? 1) * 1000 }
    if (err.errorCode >= 500) return { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS }
    return { kind: 'failed' }
  }
  const code = (err as { code?: unknown, cause?: { code?: unknown } } | null)?.cause?.code ?? (err as { code?: unknown } | null)?.code
  if (code === 'ECONNREFUSED') return { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS }
  return { kind: 'unknown' }
}

/** What the reminder and digest senders work with. */
export type SenderDeps = {
  db: Database
  store: ReminderStore
  sender: LimitedSender
  clock: Clock
  logger: Logger
  gate: WriteGate
  defaultZone: string
  /** True once the loop is stopping: the batch in hand ends after the send in flight. */
  stopped: () => boolean
}

/** Sends within Telegram's limits; a definite "not now" from Telegram pauses every send. */
export class LimitedSender {
  constructor (private readonly api: Api, private readonly limiter: SendRateLimiter, private readonly signal: AbortSignal) {}

  /** Waits for this chat's turn (rejects with an AbortError when the loop stops meanwhile). */
  async turn (chatId: number): Promise<void> {
    await this.limiter.take(chatId, this.signal)
  }

  async send (chatId: number, text: string, keyboard?: InlineKeyboardMarkup): Promise<Outcome> {
    const outcome = await this.api.sendMessage({ chat_id: chatId, text, parse_mode: 'HTML', ...(keyboard === undefined ? {} : { reply_markup: keyboard }) })
      .then((m): Outcome => ({ kind: 'sent', messageId: m.message_id }), outcomeOf)
    this.limiter.finished(chatId)
    if (outcome.kind === 'retry') this.limiter.pause(outcome.afterMs)
    return outcome
  }
}
