// /forget (issue 15): after a confirm button, deletes everything stored about the chat, in every
// table that names a chat or a user (see storage/migrations): its tasks, their reminders, its
// digests, its replies still waiting in the outbox, its settings row, and the rate-limit counts of
// the person who pressed the button (and of the chat's own id: a private chat's id is its user's).
// Handled update ids name neither and age out after 24 h. Only the final confirmation remains,
// in the outbox until it is delivered.
import type { Knex } from 'knex'
import type { Turn } from '../turn.js'
import { contextOf } from './context.js'
import type { CommandSpec } from './types.js'

export const FORGET_QUESTION = 'Delete everything stored about this chat? This cannot be undone.'
export const FORGET_YES = 'fg:y'
export const FORGET_NO = 'fg:n'
export const FORGET_CANCELLED = 'Nothing was deleted.'

export function forgetDoneText (tasks: number): string {
  return `🗑 Deleted everything stored about this chat (${tasks} task${tasks === 1 ? '' : 's'}, reminders, settings). Backups made before now still hold it until they age out: /privacy says when.`
}

export function isForgetButton (data: string | undefined): boolean {
  return data === FORGET_YES || data === FORGET_NO
}

/** Deletes every row about the chat (and the user's rate-limit counts); returns how many tasks it held. */
export async function forgetChat (trx: Knex.Transaction, chatId: number, userId: number | undefined): Promise<number> {
  const tasks = Number((await trx('tasks').where({ chat_id: chatId }).count({ n: '*' }).first() as { n: number | string }).n)
  await trx('reminders').where({ chat_id: chatId }).delete()
  await trx('digests').where({ chat_id: chatId }).delete()
  await trx('tasks').where({ chat_id: chatId }).delete()
  await trx('chats').where({ id: chatId }).delete()
  await trx('rate_limits').whereIn('user_id', userId === undefined ? [chatId] : [chatId, userId]).delete()
  // Undelivered replies to this chat (they hold task text). params is JSON text on both engines;
  // the file bytes are not read.
  const queued = await trx('outbox').select('id', 'params') as Array<{ id: number, params: string }>
  const ours = queued.filter((row) => (JSON.parse(row.params) as { chat_id?: unknown }).chat_id === chatId).map((row) => row.id)
  for (let i = 0; i < ours.length; i += 500) await trx('outbox').whereIn('id', ours.slice(i, i + 500)).delete()
  return tasks
}

export async function pressForget (turn: Turn, press: { id: string, data: string | undefined, messageId: number | undefined }): Promise<void> {
  if (press.data !== FORGET_YES) {
    turn.answer(press.id)
    if (press.messageId !== undefined) turn.edit(press.messageId, FORGET_CANCELLED)
    return
  }
  const { trx, userId } = contextOf(turn)
  const tasks = await forgetChat(trx, turn.chatId, userId)
  turn.answer(press.id, 'Deleted')
  if (press.messageId !== undefined) turn.edit(press.messageId, forgetDoneText(tasks))
  else turn.reply(forgetDoneText(tasks))
}

export const forgetCommand: CommandSpec = {
  name: 'forget',
  description: 'Delete everything stored about this chat',
  handler: async (turn) => {
    turn.reply(FORGET_QUESTION, { inline_keyboard: [[{ text: 'Delete everything', callback_data: FORGET_YES }, { text: 'Cancel', callback_data: FORGET_NO }]] })
  },
}
