// Installs every command in one place and routes an update to the right one. Order matters only
// here: commands first, then buttons, then plain text as new tasks.
import type { Knex } from 'knex'
import type * as T from 'node-telegram-bot-api/types'
import { senderOf } from '../access.js'
import type { Config } from '../config.js'
import { UserInputError } from '../errors.js'
import { escapeHtml } from '../tasks/render.js'
import { parseCommand } from '../tasks/parse.js'
import type { Turn } from '../turn.js'
import { handleButton } from './buttons.js'
import { dateCommands } from './dates.js'
import { setContext } from './context.js'
import { forgetCommand, isForgetButton, pressForget } from './forget.js'
import { helpCommandsFor } from './help.js'
import { privacyCommand } from './privacy.js'
import { statsCommand } from './stats.js'
import { addTasks, taskCommands } from './tasks.js'
import { transferCommands } from './transfer.js'
import type { CommandSpec } from './types.js'

/** `trx`: the update's transaction, for the commands that need more than the turn (/forget, /stats). */
export type Dispatch = (turn: Turn, update: T.Update, trx?: Knex.Transaction) => Promise<void>

/** What the dispatcher needs to know of the config (issue 15: the owner, open mode, its limits). */
export type DispatchConfig = Pick<Config, 'ownerUserId' | 'openToAll' | 'limits' | 'webhook' | 'backupSchedule' | 'backupCopyTo' | 'backupCopyCommand' | 'logKeep'>

/** Commands only the owner may use; anyone else gets the unknown-command answer. /health too in open mode. */
function ownerOnly (config: DispatchConfig | undefined): Set<string> {
  return new Set(config?.openToAll === true ? ['stats', 'health'] : ['stats'])
}

/** Commands that add tasks, held to MAX_TASKS_PER_CHAT in open mode ('' is plain text). */
const ADDING = new Set(['', 'add', 'import'])

async function taskCount (trx: Knex.Transaction, chatId: number): Promise<number> {
  const row = await trx('tasks').where({ chat_id: chatId }).whereNull('deleted_at').count({ n: '*' }).first() as { n: number | string } | undefined
  return Number(row?.n ?? 0)
}

/** Runs an adding command and undoes it (by throwing: the transaction rolls back) when the chat would hold more than the cap. */
async function withinTaskCap (turn: Turn, trx: Knex.Transaction | undefined, config: DispatchConfig | undefined, run: () => Promise<void>): Promise<void> {
  if (config?.openToAll !== true || trx === undefined) return await run()
  const cap = config.limits.maxTasksPerChat
  const before = await taskCount(trx, turn.chatId)
  if (before >= cap) throw new UserInputError(`This chat already has ${before.toLocaleString('en-US')} tasks, the most it may hold: delete some (/clear removes the completed ones) and send it again. Nothing was added.`)
  await run()
  const after = await taskCount(trx, turn.chatId)
  if (after > cap) throw new UserInputError(`That would make ${after.toLocaleString('en-US')} tasks in this chat, and ${cap.toLocaleString('en-US')} is the most it may hold: add fewer, or delete some first (/clear removes the completed ones). Nothing was added.`)
}

const NON_TEXT_HINT = 'I keep text tasks only: send the task as a text message, one task per line.'
const FILE_HINT = `${NON_TEXT_HINT} To add the tasks in a file, reply /import to it.`
// Service messages (members joining, titles changing...) are not for us to answer.
const CONTENT_KEYS = ['photo', 'sticker', 'voice', 'video', 'video_note', 'audio', 'document', 'animation', 'location', 'venue', 'contact', 'poll', 'dice', 'game', 'story']

/** Every command; with the config, also /privacy, /forget and the owner's /stats (issue 15). */
export function commandList (extra: readonly CommandSpec[] = [], config?: DispatchConfig): CommandSpec[] {
  const open = config === undefined ? [] : [privacyCommand(config), forgetCommand, statsCommand(config)]
  return [...helpCommandsFor(config), ...taskCommands, ...dateCommands, ...transferCommands, ...extra, ...open]
}

export function createDispatch (botUsername: string, commands: readonly CommandSpec[], config?: DispatchConfig): Dispatch {
  const byName = new Map(commands.map((c) => [c.name, c]))
  const restricted = ownerOnly(config)
  return async (turn, update, trx) => {
    const userId = senderOf(update)
    if (trx !== undefined) setContext(turn, { trx, userId })
    if ('callback_query' in update) {
      const q = update.callback_query
      if (trx !== undefined && isForgetButton(q.data)) {
        await pressForget(turn, { id: q.id, data: q.data, messageId: q.message?.message_id })
        return
      }
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
      await withinTaskCap(turn, trx, config, () => addTasks(turn, message.text ?? ''))
      return
    }
    if (command.addressedTo !== undefined && command.addressedTo.toLowerCase() !== botUsername.toLowerCase()) return
    const spec = restricted.has(command.name) && (config === undefined || userId !== config.ownerUserId) ? undefined : byName.get(command.name)
    if (spec === undefined) {
      turn.reply(`I don't know /${escapeHtml(command.name.slice(0, 32))}. Send /help to see what I can do.`)
      return
    }
    if (ADDING.has(command.name)) await withinTaskCap(turn, trx, config, () => spec.handler(turn, command.args))
    else await spec.handler(turn, command.args)
  }
}
