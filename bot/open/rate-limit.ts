// Open mode's per-user rate limit (issue 15): updates are counted per user and clock minute in
// the rate_limits table, inside the update's own transaction. So the count survives a restart,
// and two processes on one PostgreSQL cannot each let a user through N times: the row's primary
// key makes the second counter wait for the first. The owner is never limited.
import type { Knex } from 'knex'
import type * as T from 'node-telegram-bot-api/types'
import type { Config } from '../config.js'
import { escapeHtml } from '../tasks/render.js'
import type { Outgoing } from '../updates/ledger.js'

export const MINUTE_MS = 60_000

export function slowDownText (limit: number, now: number): string {
  const left = Math.ceil((MINUTE_MS - (now % MINUTE_MS)) / 1000)
  return `Slow down: you sent more than ${limit} messages this minute, so I am ignoring the rest of them. Send again in ${left} s.`
}

/** What the pipeline asks before applying an update (see updates/pipeline.ts). */
export type OpenGate = {
  /** ALLOWED_USER_IDS=*: everyone is let in. */
  openToAll: boolean
  /**
   * Counts this update against its sender, in `trx`. null: go ahead. Otherwise the replies that
   * replace the update's own: the "Slow down" once a minute, then nothing (recorded as handled,
   * so Telegram does not redeliver it).
   */
  overLimit: (trx: Knex.Transaction, userId: number, chatId: number, update: T.Update) => Promise<Outgoing[] | null>
}

/** The count of this user's updates in this minute, this one included. */
export async function countUpdate (trx: Knex.Transaction, userId: number, now: number): Promise<number> {
  const minute = Math.floor(now / MINUTE_MS)
  await trx('rate_limits').insert({ user_id: userId, minute, count: 1 })
    .onConflict(['user_id', 'minute']).merge({ count: trx.raw('rate_limits.count + 1') })
  // Older minutes of this user are no use any more (the primary key's prefix finds them).
  await trx('rate_limits').where({ user_id: userId }).andWhere('minute', '<', minute).delete()
  const row = await trx('rate_limits').where({ user_id: userId, minute }).first('count') as { count: number | string }
  return Number(row.count)
}

export function openGate (config: Pick<Config, 'openToAll' | 'ownerUserId' | 'limits'>, now: () => number): OpenGate {
  const limit = config.limits.ratePerMinute
  return {
    openToAll: config.openToAll,
    overLimit: async (trx, userId, chatId, update) => {
      // Listed users are trusted (list mode); the owner is never limited.
      if (!config.openToAll || userId === config.ownerUserId) return null
      const at = now()
      const count = await countUpdate(trx, userId, at)
      if (count <= limit) return null
      if (count > limit + 1) return []
      const out: Outgoing[] = [{ method: 'sendMessage', params: { chat_id: chatId, text: escapeHtml(slowDownText(limit, at)), parse_mode: 'HTML' } }]
      if ('callback_query' in update) out.unshift({ method: 'answerCallbackQuery', params: { callback_query_id: update.callback_query.id, text: 'Slow down' } })
      return out
    },
  }
}
