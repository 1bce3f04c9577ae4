// Installs every command in one place and routes an update to the right one. Order matters only
// here: commands first, then buttons, then plain text as new tasks.
import type * as T from 'node-telegram-bot-api/types'
import { escapeHtml } from '../tasks/render.js'
import { parseCommand } from '../tasks/parse.js'
import type { Turn } from '../turn.js'
import { handleButton } from './buttons.js'
import { dateCommands } from './dates.js'
import { helpCommands } from './help.js'
import { addTasks, taskCommands } from './tasks.js'
import { transferCommands } from './transfer.js'
import type { CommandSpec } from './types.js'

export type Dispatch = (turn: Turn, update: T.Update) => Promise<void>

const NON_TEXT_HINT = 'I keep text tasks only: send the task as a text message, one task per line.'
const FILE_HINT = `${NON_TEXT_HINT} To add the tasks in a file, reply /import to it.`
// Service messages (members joining, titles changing...) are not for us to answer.
const CONTENT_KEYS = ['photo', 'sticker', 'voice', 'video', 'video_note', 'audio', 'document', 'animation', 'location', 'venue', 'contact', 'poll', 'dice', 'game', 'story']

export function commandList (extra: readonly CommandSpec[] = []): CommandSpec[] {
  return [...helpCommands, ...taskCommands, ...dateCommands, ...transferCommands, ...extra]
}

export function createDispatch (botUsername: string, commands: readonly CommandSpec[]): Dispatch {
  const byName = new Map(commands.map((c) => [c.name, c]))
  return async (turn, update) => {
    if ('callback_query' in update) {
      const q = update.callback_query
      await handleButton(turn, { id: q.id, data: q.data, messageId: q.message?.message_id })
      return
    }
    if ('edited_message' in update) {
      if (update.edited_message.chat.type === 'private') turn.reply('Editing a message does not change its task: use /edit 3 new text.')
      return
    }
    if (!('message' in update)) return
    const message = update.message
    // A file's caption may be a command (a document sent with /import as its caption).
    const captionCommand = message.document === undefined || message.caption === undefined ? undefined : parseCommand(message.caption)
    if (message.text === undefined && captionCommand === undefined) {
      if (CONTENT_KEYS.some((k) => k in message)) turn.reply('document' in message ? FILE_HINT : NON_TEXT_HINT)
      return
    }
    const command = captionCommand ?? parseCommand(message.text ?? '')
    if (command === undefined) {
      await addTasks(turn, message.text ?? '')
      return
    }
    if (command.addressedTo !== undefined && command.addressedTo.toLowerCase() !== botUsername.toLowerCase()) return
    const spec = byName.get(command.name)
    if (spec === undefined) {
      turn.reply(`I don't know /${escapeHtml(command.name.slice(0, 32))}. Send /help to see what I can do.`)
      return
    }
    await spec.handler(turn, command.args)
  }
}
