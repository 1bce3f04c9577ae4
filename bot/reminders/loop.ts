// The reminder loop: three jobs, each in its own module, put together here. Waking up (wake.ts)
// decides when to look; a look sends the reminders that are due (send-reminders.ts), then the
// digests (send-digests.ts), and says when the next of either is due. Every message is claimed in
// the database before it is sent (at most once), within Telegram's limits (rate-limit.ts).
import type { Api } from 'node-telegram-bot-api'
import type { Clock } from '../clock.js'
import type { Database } from '../db.js'
import type { Logger } from '../logger.js'
import type { WriteGate } from '../write-gate.js'
import { LimitedSender, RETRY_AFTER_5XX_MS } from './outcome.js'
import { SendRateLimiter } from './rate-limit.js'
import { DigestSender } from './send-digests.js'
import { ReminderSender } from './send-reminders.js'
import { ReminderStore } from './store.js'
import { MAX_SLEEP_MS, Waker } from './wake.js'

export { MAX_SLEEP_MS, POKE_DELAY_MS } from './wake.js'

export type ReminderState = {
  running: boolean
  lastTickAt: string | null
  nextDueAt: string | null
  lastSentAt: string | null
  backlog: number
  sent: number
  lastError: string | null
}

export type ReminderLoopDeps = {
  db: Database
  api: Api
  clock: Clock
  logger: Logger
  defaultZone: string
  /** Every database write goes through it (see write-gate.ts). */
  gate: WriteGate
  limiter?: SendRateLimiter
  /** The longest sleep between looks (default MAX_SLEEP_MS). Several instances: the leader does
   * not hear of reminders set through another instance, so it looks this often (bot/leader.ts). */
  maxSleepMs?: number
}

function iso (at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString()
}

export class ReminderLoop {
  private readonly store: ReminderStore
  private readonly controller = new AbortController()
  private readonly waker: Waker
  private readonly reminders: ReminderSender
  private readonly digests: DigestSender
  /** What the last look found, for health. */
  private last: { at: number | null, error: string | null } = { at: null, error: null }

  constructor (private readonly deps: ReminderLoopDeps) {
    this.store = new ReminderStore(deps.db, () => deps.clock.now())
    const sender = new LimitedSender(deps.api, deps.limiter ?? new SendRateLimiter(), this.controller.signal)
    const stopped = (): boolean => this.controller.signal.aborted
    const jobDeps = { db: deps.db, store: this.store, sender, clock: deps.clock, logger: deps.logger, gate: deps.gate, defaultZone: deps.defaultZone, stopped }
    this.reminders = new ReminderSender(jobDeps)
    this.digests = new DigestSender(jobDeps)
    this.waker = new Waker(deps.clock, () => this.look())
  }

  async start (): Promise<void> {
    const settled = await this.deps.gate.run(() => this.store.settleInterrupted())
    if (settled > 0) this.deps.logger.warn({ reminders: settled }, 'reminders interrupted while sending are not sent again (at most once)')
    // A stop that came while the claims were being settled wins.
    if (this.controller.signal.aborted) return
    this.waker.start()
  }

  /** Look now (something changed: an update, a jump of the clock). */
  wake (): void {
    this.waker.wake()
  }

  /** An update may have added or moved a reminder: look again shortly. */
  poke (): void {
    this.waker.poke()
  }

  async stop (): Promise<void> {
    this.controller.abort()
    await this.waker.stop()
  }

  async state (): Promise<ReminderState> {
    const now = this.deps.clock.now()
    return {
      running: this.waker.isRunning,
      lastTickAt: iso(this.last.at),
      nextDueAt: iso(await this.store.nextDueAt()),
      lastSentAt: iso(await this.store.lastSentAt()),
      backlog: await this.store.backlog(now),
      sent: this.reminders.sent,
      lastError: this.last.error,
    }
  }

  /** One look: sends what is due; resolves with how long to sleep (real ms). Never rejects. */
  private async look (): Promise<number> {
    const { clock, logger } = this.deps
    try {
      await this.reminders.sendDue()
      const nextDigest = await this.digests.sendDue()
      const nextReminder = await this.store.nextDueAt()
      this.last = { at: clock.now(), error: null }
      const next = Math.min(nextReminder ?? Infinity, nextDigest)
      const most = this.deps.maxSleepMs ?? MAX_SLEEP_MS
      return Number.isFinite(next) ? Math.min(most, Math.max(0, clock.realDelay(next - clock.now()))) : most
    } catch (err) {
      if (this.controller.signal.aborted) return MAX_SLEEP_MS
      this.last = { ...this.last, error: err instanceof Error ? err.message : String(err) }
      logger.error({ err }, 'reminder loop failed; trying again shortly')
      return RETRY_AFTER_5XX_MS
    }
  }
}
