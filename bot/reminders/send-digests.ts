// Sending the morning digests: in each chat that has one, today's is claimed once its hour has
// come (schedule.ts digestDay), sent, and its outcome recorded (outcome.ts).
import { TaskRepository } from '../tasks/repository.js'
import { inZone } from '../time/zone.js'
import { RECORDED, type SenderDeps } from './outcome.js'
import { digestMessage } from './render.js'
import { digestDay } from './schedule.js'

export class DigestSender {
  constructor (private readonly d: SenderDeps) {}

  /** Sends the digests that are due; returns when the next one is due (clock time; Infinity: none). */
  async sendDue (): Promise<number> {
    let next = Infinity
    for (const chat of await this.d.store.digestChats()) {
      if (this.d.stopped()) return next
      const zone = chat.timezone ?? this.d.defaultZone
      const day = digestDay(chat.digestTime, zone, this.d.clock.now())
      // A digest released by a "not now" from Telegram is sent at the next look.
      if (day.due && !await this.d.store.hasDigest(chat.chatId, day.localDate)) await this.sendOne(chat.chatId, zone, day.localDate)
      next = Math.min(next, day.nextAt)
    }
    return next
  }

  /** Claims, sends and records one digest. */
  private async sendOne (chatId: number, zone: string, localDate: string): Promise<void> {
    const { db, store, sender, clock, logger, gate } = this.d
    await sender.turn(chatId)
    const id = await gate.run(() => store.claimDigest(chatId, localDate))
    if (id === undefined) return
    const now = clock.now()
    const tasks = await new TaskRepository(db, () => clock.now()).dueBefore(chatId, inZone(now, zone).endOf('day').toMillis() + 1)
    const outcome = await sender.send(chatId, digestMessage(tasks, { zone, now }))
    const recorded = RECORDED[outcome.kind]
    await gate.run(() => store.recordDigest(id, recorded, outcome.kind === 'sent' ? outcome.messageId : undefined))
    if (outcome.kind === 'sent') logger.info({ chatId, localDate, tasks: tasks.length }, 'digest sent')
    else logger.warn({ chatId, localDate, outcome: outcome.kind }, recorded === 'released' ? 'digest not accepted yet; will retry' : 'digest not sent; not sent again today')
  }
}
