// The reminder loop's view of the database. A reminder is claimed (task.remind_at cleared and a
// 'sending' row written, in one transaction) before it is sent, so a crash can lose the send
// but never repeat it: each (task, occurrence) goes out at most once. On PostgreSQL several bot
// processes may run the loop: the claim locks the task row with FOR UPDATE SKIP LOCKED, so a
// reminder another process is claiming is passed over instead of waited for.
import type { Knex } from 'knex'
import type { Recorded } from './outcome.js'

/** The new row's id: SQLite and PostgreSQL both answer `returning` with [{ id }]. */
function insertedId (rows: Array<{ id: number }>): number {
  const id = rows[0]?.id
  if (id === undefined) throw new Error('insert returned no id')
  return Number(id)
}

export type DueReminder = { taskId: number, chatId: number, fireAt: number }
export type DigestChat = { chatId: number, timezone: string | null, digestTime: string }

export class ReminderStore {
  constructor (private readonly db: Knex, private readonly now: () => number) {}

  /** Claims left 'sending' by a crash: their outcome is unknown, so they are not sent again. */
  async settleInterrupted (): Promise<number> {
    const n1 = await this.db('reminders').where({ status: 'sending' }).update({ status: 'unknown' })
    const n2 = await this.db('digests').where({ status: 'sending' }).update({ status: 'unknown' })
    return n1 + n2
  }

  async due (now: number, limit: number): Promise<DueReminder[]> {
    const rows = await this.db('tasks').whereNull('deleted_at').whereNull('done_at').whereNotNull('remind_at').where('remind_at', '<=', now)
      .orderBy(['remind_at', 'id']).limit(limit).select('id', 'chat_id', 'remind_at') as Array<{ id: number, chat_id: number, remind_at: number }>
    return rows.map((r) => ({ taskId: r.id, chatId: r.chat_id, fireAt: r.remind_at }))
  }

  /** The claim: returns the reminder row id, or undefined when someone else (a button press
   * that snoozed or completed the task) changed it first. */
  async claim (r: DueReminder): Promise<number | undefined> {
    return await this.db.transaction(async (trx) => {
      if (trx.client.config.client === 'pg') {
        const free = await trx('tasks').where({ id: r.taskId, remind_at: r.fireAt }).forUpdate().skipLocked().first('id')
        if (free === undefined) return undefined
      }
      const taken = await trx('tasks').where({ id: r.taskId, remind_at: r.fireAt }).whereNull('done_at').whereNull('deleted_at').update({ remind_at: null })
      if (taken !== 1) return undefined
      const existing = await trx('reminders').where({ task_id: r.taskId, fire_at: r.fireAt }).first('id')
      if (existing !== undefined) return undefined
      return insertedId(await trx('reminders').insert({ task_id: r.taskId, chat_id: r.chatId, fire_at: r.fireAt, status: 'sending', created_at: this.now() }).returning('id'))
    })
  }

  /** What a claimed reminder's send left (outcome.ts's RECORDED): its status, or, released
   * (Telegram said for certain it did not send it: 429, 5xx, a refused connection), un-claimed. */
  async recordReminder (id: number, r: DueReminder, recorded: Recorded, messageId?: number): Promise<void> {
    if (recorded === 'released') {
      await this.db.transaction(async (trx) => {
        await trx('reminders').where({ id }).delete()
        await trx('tasks').where({ id: r.taskId }).whereNull('remind_at').whereNull('done_at').update({ remind_at: r.fireAt })
      })
      return
    }
    await this.db('reminders').where({ id }).update(recorded === 'sent' ? { status: 'sent', message_id: messageId ?? null, sent_at: this.now() } : { status: recorded })
  }

  async nextDueAt (): Promise<number | null> {
    const row = await this.db('tasks').whereNull('deleted_at').whereNull('done_at').min({ at: 'remind_at' }).first() as { at: number | null } | undefined
    return row?.at ?? null
  }

  async backlog (now: number): Promise<number> {
    const row = await this.db('tasks').whereNull('deleted_at').whereNull('done_at').where('remind_at', '<=', now).count({ n: '*' }).first() as { n: number }
    return Number(row.n)
  }

  async lastSentAt (): Promise<number | null> {
    const row = await this.db('reminders').where({ status: 'sent' }).max({ at: 'sent_at' }).first() as { at: number | null } | undefined
    return row?.at ?? null
  }

  async digestChats (): Promise<DigestChat[]> {
    const rows = await this.db('chats').whereNotNull('digest_time').select('id', 'timezone', 'digest_time') as Array<{ id: number, timezone: string | null, digest_time: string }>
    return rows.map((r) => ({ chatId: r.id, timezone: r.timezone, digestTime: r.digest_time }))
  }

  async claimDigest (chatId: number, localDate: string): Promise<number | undefined> {
    return await this.db.transaction(async (trx) => {
      if (await trx('digests').where({ chat_id: chatId, local_date: localDate }).first('id') !== undefined) return undefined
      return insertedId(await trx('digests').insert({ chat_id: chatId, local_date: localDate, status: 'sending', created_at: this.now() }).returning('id'))
    })
  }

  async hasDigest (chatId: number, localDate: string): Promise<boolean> {
    return await this.db('digests').where({ chat_id: chatId, local_date: localDate }).first('id') !== undefined
  }

  /** The same for a digest: its status, or released (the row removed, so it is claimed again). */
  async recordDigest (id: number, recorded: Recorded, messageId?: number): Promise<void> {
    if (recorded === 'released') {
      await this.db('digests').where({ id }).delete()
      return
    }
    await this.db('digests').where({ id }).update({ status: recorded, message_id: messageId ?? null, sent_at: recorded === 'sent' ? this.now() : null })
  }
}
