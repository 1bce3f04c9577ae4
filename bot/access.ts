// The allow-list gate, the first middleware: users not on ALLOWED_USER_IDS get one short refusal
// and nothing about them is stored (only the update id, so the update is not fetched again).
// With ALLOWED_USER_IDS=* everyone is let in (open mode: see open/rate-limit.ts, updates/pipeline.ts).
import type { Api } from 'node-telegram-bot-api'
import type * as T from 'node-telegram-bot-api/types'

export function senderOf (update: T.Update): number | undefined {
  if ('message' in update) return update.message.from?.id
  if ('edited_message' in update) return update.edited_message.from?.id
  if ('callback_query' in update) return update.callback_query.from.id
  if ('my_chat_member' in update) return update.my_chat_member.from.id
  return undefined
}

export function refusalText (userId: number): string {
  return `Sorry, this is a private to-do bot. (Your Telegram user id is ${userId}; the owner can add it to ALLOWED_USER_IDS.)`
}

/** Sends the refusal; best effort, because a refused user is owed nothing more. */
export async function refuse (api: Api, update: T.Update, userId: number): Promise<void> {
  if ('callback_query' in update) {
    await api.answerCallbackQuery({ callback_query_id: update.callback_query.id, text: 'Sorry, this is a private to-do bot.' })
  } else if ('message' in update) {
    await api.sendMessage({ chat_id: update.message.chat.id, text: refusalText(userId) })
  }
}
