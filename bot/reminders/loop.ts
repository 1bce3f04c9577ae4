// The reminder loop: wakes when the next reminder or digest is due (or when the clock jumps, or
// an update changed something), claims each due reminder in the database, then sends it within
// Telegram's limits. Timers only decide when to look; what is due lives in the database.
import { TelegramApiError, type Api } from 'node-telegram-bot-api'
import type { InlineKeyboardMarkup } from 'node-telegram-bot-api/types'
import { ChatSettingsRepository } from '../chats/settings.js'
import type { Clock } from '../clock.js'
import type { Database } from '../db.js'
import type { Logger } from '../logger.js'
import { TaskRepository } from '../tasks/repository.js'
import type { WriteGate } from '../write-gate.js'
import { inZone, localDate } from '../time/zone.js'
import { SendRateLimiter } from './rate-limit.js'
import { digestMessage, reminderMessage } from './render.js'
import { ReminderStore, type DueReminder } from './store.js'

/** The longest the loop sleeps without looking (real time). */
export const MAX_SLEEP_MS = 30_000
const BATCH = 50
const RETRY_AFTER_5XX_MS = 5_000
/** After an update, the loop looks again this soon (not at once: a burst of updates is one look). */
export const POKE_DELAY_MS = 200

export type ReminderState = {
  running: boolean
  lastTickAt: string | null
  nextDueAt: string | null
  lastSentAt: string | null
  backlog: number
  sent: number
  lastError: string | null
}

type Outcome = { kind: 'sent', messageId: number } | { kind: 'retry', afterMs: number } | { kind: 'failed' | 'unknown' }

export type ReminderLoopDeps = {
  db: Database
  api: Api
  clock: Clock
  logger: Logger
  defaultZone: string
  /** Every database write goes through it (see write-gate.ts). */
  gate: WriteGate
  limiter?: SendRateLimiter
}

function iso (at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString()
}

/** What a failed send means for the claim: only a definite "not sent" may be retried. */
function outcomeOf (err: unknown): Outcome {
  if (err instanceof TelegramApiError) {
    if (err.errorCode === 429) return { kind: 'retry', afterMs: (err.retryAfter ?? 1) * 1000 }
    if (err.errorCode >= 500) return { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS }
    return { kind: 'failed' }
  }
  const code = (err as { code?: unknown, cause?: { code?: unknown } } | null)?.cause?.code ?? (err as { code?: unknown } | null)?.code
  if (code === 'ECONNREFUSED') return { kind: 'retry', afterMs: RETRY_AFTER_5XX_MS }
  return { kind: 'unknown' }
}

export class ReminderLoop {
  private readonly store: ReminderStore
  private readonly limiter: SendRateLimiter
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity
  private poked = false
  private current: Promise<void> | undefined
  private again = false
  private stopped = true
  private readonly controller = new AbortController()
  private unsubscribe: () => void = () => {}
  private lastTickAt: number | null = null
  private lastError: string | null = null
  private sent = 0

  constructor (private readonly deps: ReminderLoopDeps) {
    this.store = new ReminderStore(deps.db, () => deps.clock.now())
    this.limiter = deps.limiter ?? new SendRateLimiter()
  }

  async start (): Promise<void> {
    const settled = await this.deps.gate.run(() => this.store.settleInterrupted())
    if (settled > 0) this.deps.logger.warn({ reminders: settled }, 'reminders interrupted while sending are not sent again (at most once)')
    // A stop that came while the claims were being settled wins.
    if (this.controller.signal.aborted) return
    this.stopped = false
    this.unsubscribe = this.deps.clock.onJump(() => this.wake())
    this.wake()
  }

  /** Look now (something changed: an update, a jump of the clock). */
  wake (): void {
    if (this.stopped) return
    if (this.current !== undefined) {
      this.again = true
      return
    }
    clearTimeout(this.timer)
    this.timerAt = Infinity
    this.current = this.tick().finally(() => {
      this.current = undefined
      if (this.again) {
        this.again = false
        this.wake()
      } else if (this.poked) {
        this.poked = false
        this.poke()
      }
    })
  }

  /** An update may have added or moved a reminder: look again shortly. */
  poke (): void {
    if (this.stopped) return
    if (this.current !== undefined) {
      this.poked = true
      return
    }
    if (this.timerAt <= Date.now() + POKE_DELAY_MS) return
    this.schedule(POKE_DELAY_MS)
  }

  private schedule (ms: number): void {
    clearTimeout(this.timer)
    this.timerAt = Date.now() + ms
    this.timer = setTimeout(() => this.wake(), ms)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.controller.abort()
    this.unsubscribe()
    clearTimeout(this.timer)
    await this.current
  }

  async state (): Promise<ReminderState> {
    const now = this.deps.clock.now()
    return {
      running: !this.stopped,
      lastTickAt: iso(this.lastTickAt),
      nextDueAt: iso(await this.store.nextDueAt()),
      lastSentAt: iso(await this.store.lastSentAt()),
      backlog: await this.store.backlog(now),
      sent: this.sent,
      lastError: this.lastError,
    }
  }

  private async tick (): Promise<void> {
    let nextLookMs = MAX_SLEEP_MS
    try {
      await this.sendDueReminders()
      const nextDigest = await this.sendDigests()
      this.lastTickAt = this.deps.clock.now()
      const nextDue = await this.store.nextDueAt()
      const next = Math.min(nextDue ?? Infinity, nextDigest)
      if (Number.isFinite(next)) nextLookMs = Math.min(MAX_SLEEP_MS, Math.max(0, this.deps.clock.realDelay(next - this.deps.clock.now())))
      this.lastError = null
    } catch (err) {
      if (this.stopped) return
      this.lastError = err instanceof Error ? err.message : String(err)
      this.deps.logger.error({ err }, 'reminder loop failed; trying again shortly')
      nextLookMs = RETRY_AFTER_5XX_MS
    }
    if (!this.stopped) this.schedule(nextLookMs)
  }

  private write<T> (fn: () => Promise<T>): Promise<T> {
    return this.deps.gate.run(fn)
  }

  /** One message of the loop; a definite "not now" from Telegram pauses every send. */
  private async send (chatId: number, text: string, keyboard?: InlineKeyboardMarkup): Promise<Outcome> {
    const outcome = await this.deps.api.sendMessage({ chat_id: chatId, text, parse_mode: 'HTML', ...(keyboard === undefined ? {} : { reply_markup: keyboard }) })
      .then((m): Outcome => ({ kind: 'sent', messageId: m.message_id }), outcomeOf)
    this.limiter.finished(chatId)
    if (outcome.kind === 'retry') this.limiter.pause(outcome.afterMs)
    return outcome
  }

  private zoneOf (timezone: string | null): string {
    return timezone ?? this.deps.defaultZone
  }

  private async sendDueReminders (): Promise<void> {
    for (;;) {
      const due = await this.store.due(this.deps.clock.now(), BATCH)
      if (due.length === 0) return
      for (const reminder of due) {
        if (this.stopped) return
        await this.sendReminder(reminder)
      }
    }
  }

  private async sendReminder (r: DueReminder): Promise<void> {
    const { db, logger } = this.deps
    const task = await new TaskRepository(db).byId(r.chatId, r.taskId)
    if (task === undefined) return
    await this.limiter.take(r.chatId, this.controller.signal)
    const id = await this.write(() => this.store.claim(r))
    if (id === undefined) return
    const settings = await new ChatSettingsRepository(db).get(r.chatId)
    const message = reminderMessage(task, r.fireAt, { zone: this.zoneOf(settings.timezone), now: this.deps.clock.now() })
    const outcome = await this.send(r.chatId, message.text, message.keyboard)
    if (outcome.kind === 'sent') {
      await this.write(() => this.store.markSent(id, outcome.messageId))
      this.sent++
      logger.info({ taskId: r.taskId, chatId: r.chatId, fireAt: iso(r.fireAt), lateS: Math.round((this.deps.clock.now() - r.fireAt) / 1000) }, 'reminder sent')
    } else if (outcome.kind === 'retry') {
      await this.write(() => this.store.release(id, r))
      logger.warn({ taskId: r.taskId, retryInMs: outcome.afterMs }, 'reminder not accepted yet; will retry')
    } else {
      await this.write(() => this.store.markFailed(id, outcome.kind))
      logger.warn({ taskId: r.taskId, chatId: r.chatId, outcome: outcome.kind }, outcome.kind === 'failed' ? 'reminder refused by Telegram' : 'reminder may not have arrived (connection lost while sending); not sent again')
    }
  }

  /** Sends the digests that are due; returns when the next one is due (clock time). */
  private async sendDigests (): Promise<number> {
    let next = Infinity
    for (const chat of await this.store.digestChats()) {
      if (this.stopped) return next
      const zone = this.zoneOf(chat.timezone)
      const now = this.deps.clock.now()
      const [hour, minute] = chat.digestTime.split(':').map(Number)
      const todayAt = inZone(now, zone).set({ hour: hour ?? 8, minute: minute ?? 0, second: 0, millisecond: 0 })
      const tomorrowAt = todayAt.plus({ days: 1 }).toMillis()
      if (todayAt.toMillis() > now) {
        next = Math.min(next, todayAt.toMillis())
        continue
      }
      const today = localDate(now, zone)
      if (!await this.store.hasDigest(chat.chatId, today)) await this.sendDigest(chat.chatId, zone, today)
      next = Math.min(next, tomorrowAt)
    }
    return next
  }

  private async sendDigest (chatId: number, zone: string, today: string): Promise<void> {
    await this.limiter.take(chatId, this.controller.signal)
    const id = await this.write(() => this.store.claimDigest(chatId, today))
    if (id === undefined) return
    const now = this.deps.clock.now()
    const tasks = await new TaskRepository(this.deps.db).dueBefore(chatId, inZone(now, zone).endOf('day').toMillis() + 1)
    const outcome = await this.send(chatId, digestMessage(tasks, { zone, now }))
    if (outcome.kind === 'sent') {
      await this.write(() => this.store.markDigest(id, 'sent', outcome.messageId))
      this.deps.logger.info({ chatId, localDate: today, tasks: tasks.length }, 'digest sent')
    } else if (outcome.kind === 'retry') {
      await this.write(() => this.store.releaseDigest(id))
    } else {
      await this.write(() => this.store.markDigest(id, outcome.kind))
    }
  }
}
