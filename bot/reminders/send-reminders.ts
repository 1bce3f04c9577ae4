// Sending reminders: each due reminder is claimed in the database, sent, and its outcome
// recorded (outcome.ts), in order of when it fell due.
import { ChatSettingsRepository } from '../chats/settings.js'
import { TaskRepository } from '../tasks/repository.js'
import { RECORDED, type SenderDeps } from './outcome.js'
import { reminderMessage } from './render.js'
import type { DueReminder } from './store.js'

const BATCH = 50

/** The log line for each outcome but sent (which names how late it was). */
const NOT_SENT = {
  retry: 'reminder not accepted yet; will retry',
  failed: 'reminder refused by Telegram',
  unknown: 'reminder may not have arrived (connection lost while sending); not sent again',
} as const

export class ReminderSender {
  /** Reminders sent since start. */
  sent = 0

  constructor (private readonly d: SenderDeps) {}

  /** Sends every reminder due now. */
  async sendDue (): Promise<void> {
    for (;;) {
      const due = await this.d.store.due(this.d.clock.now(), BATCH)
      if (due.length === 0) return
      for (const reminder of due) {
        if (this.d.stopped()) return
        await this.sendOne(reminder)
      }
    }
  }

  private async sendOne (r: DueReminder): Promise<void> {
    const { db, store, sender, clock, logger, gate } = this.d
    const now = (): number => clock.now()
    const task = await new TaskRepository(db, now).byId(r.chatId, r.taskId)
    if (task === undefined) return
    await sender.turn(r.chatId)
    const id = await gate.run(() => store.claim(r))
    if (id === undefined) return
    const settings = await new ChatSettingsRepository(db, now).get(r.chatId)
    const message = reminderMessage(task, r.fireAt, { zone: settings.timezone ?? this.d.defaultZone, now: now() })
    const outcome = await sender.send(r.chatId, message.text, message.keyboard)
    await gate.run(() => store.recordReminder(id, r, RECORDED[outcome.kind], outcome.kind === 'sent' ? outcome.messageId : undefined))
    if (outcome.kind === 'sent') {
      this.sent++
      logger.info({ taskId: r.taskId, chatId: r.chatId, fireAt: new Date(r.fireAt).toISOString(), lateS: Math.round((now() - r.fireAt) / 1000) }, 'reminder sent')
    } else if (outcome.kind === 'retry') {
      logger.warn({ taskId: r.taskId, retryInMs: outcome.afterMs }, NOT_SENT.retry)
    } else {
      logger.warn({ taskId: r.taskId, chatId: r.chatId, outcome: outcome.kind }, NOT_SENT[outcome.kind])
    }
  }
}
