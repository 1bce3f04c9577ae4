// Per-chat settings: time zone, default reminder lead and morning digest. A chat row is created
// on first use with the defaults.
import type { Knex } from 'knex'

export type ChatSettings = {
  /** The chat's own zone, or null to follow DEFAULT_TIMEZONE. */
  timezone: string | null
  remindBeforeMin: number
  /** "08:00", or null when the digest is off. */
  digestTime: string | null
}

type ChatRow = { timezone: string | null, remind_before_min: number, digest_time: string | null }

/** The chat's row, created with the defaults on first use. */
export async function ensureChat (db: Knex | Knex.Transaction, chatId: number, at: number): Promise<void> {
  await db('chats').insert({ id: chatId, next_number: 1, created_at: at }).onConflict('id').ignore()
}

/** The query for a chat's settings: the update pipeline sends it with the update's claim (UpdateLedger.handleOnce). */
export function settingsQuery (db: Knex | Knex.Transaction, chatId: number): Knex.QueryBuilder {
  return db('chats').where({ id: chatId }).select('timezone', 'remind_before_min', 'digest_time').limit(1)
}

/** The settings in the rows settingsQuery read: the defaults when the chat has no row yet. */
export function settingsFrom (rows: readonly unknown[]): ChatSettings {
  const row = rows[0] as ChatRow | undefined
  return { timezone: row?.timezone ?? null, remindBeforeMin: row?.remind_before_min ?? 0, digestTime: row?.digest_time ?? null }
}

export class ChatSettingsRepository {
  constructor (private readonly db: Knex | Knex.Transaction, private readonly now: () => number) {}

  async get (chatId: number): Promise<ChatSettings> {
    return settingsFrom(await settingsQuery(this.db, chatId) as unknown[])
  }

  async setTimezone (chatId: number, zone: string): Promise<void> {
    await ensureChat(this.db, chatId, this.now())
    await this.db('chats').where({ id: chatId }).update({ timezone: zone })
  }

  async setRemindBefore (chatId: number, minutes: number): Promise<void> {
    await ensureChat(this.db, chatId, this.now())
    await this.db('chats').where({ id: chatId }).update({ remind_before_min: minutes })
  }

  async setDigest (chatId: number, time: string | null): Promise<void> {
    await ensureChat(this.db, chatId, this.now())
    await this.db('chats').where({ id: chatId }).update({ digest_time: time })
  }

  /** Counts today's digest as done (turned on after its hour: the first one comes tomorrow). */
  async skipDigest (chatId: number, localDate: string): Promise<void> {
    await this.db('digests').insert({ chat_id: chatId, local_date: localDate, status: 'skipped', created_at: this.now() }).onConflict(['chat_id', 'local_date']).ignore()
  }
}
