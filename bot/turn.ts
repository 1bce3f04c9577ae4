// One update being handled: the task repository bound to its transaction, the chat it came from,
// and the replies it will send. Replies are collected, not sent, so they can be stored in the same
// transaction as the change (see updates/ledger.ts).
import type { Knex } from 'knex'
import type * as T from 'node-telegram-bot-api/types'
import type { ChatSettings, ChatSettingsRepository } from './chats/settings.js'
import type { Outgoing } from './updates/ledger.js'
import type { TaskRepository } from './tasks/repository.js'
import { chunkLines } from './tasks/render.js'
import type { TimeView } from './time/format.js'
import type { Attachment } from './transfer/attachment.js'

/** The turn of an update whose chat has `settings` (read with the update's claim). */
export type TurnFactory = (trx: Knex.Transaction, chatId: number, updateId: number, settings: ChatSettings) => Turn

export class Turn {
  readonly outgoing: Outgoing[] = []

  readonly tasks: TaskRepository
  readonly chats: ChatSettingsRepository
  readonly settings: ChatSettings
  readonly chatId: number
  readonly updateId: number
  readonly now: number
  /** The chat's time zone (its own, or DEFAULT_TIMEZONE). */
  readonly zone: string
  /** The file this update brought for /import, fetched before the transaction (see pipeline.ts). */
  attachment: Attachment | undefined

  constructor (parts: { tasks: TaskRepository, chats: ChatSettingsRepository, settings: ChatSettings, chatId: number, updateId: number, now: number, defaultZone: string }) {
    this.tasks = parts.tasks
    this.chats = parts.chats
    this.settings = parts.settings
    this.chatId = parts.chatId
    this.updateId = parts.updateId
    this.now = parts.now
    this.zone = parts.settings.timezone ?? parts.defaultZone
  }

  get view (): TimeView {
    return { zone: this.zone, now: this.now }
  }

  reply (html: string, keyboard?: T.InlineKeyboardMarkup): void {
    this.outgoing.push({
      method: 'sendMessage',
      params: {
        chat_id: this.chatId,
        text: html,
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
        ...(keyboard === undefined ? {} : { reply_markup: keyboard }),
      },
    })
  }

  /** Several lines, split into as many messages as Telegram's length limit needs. */
  replyLines (lines: readonly string[], keyboard?: T.InlineKeyboardMarkup): void {
    const chunks = chunkLines(lines)
    chunks.forEach((chunk, i) => this.reply(chunk, i === chunks.length - 1 ? keyboard : undefined))
  }

  /** Sends a file; its bytes are stored in the outbox row with the update (see ledger.ts). */
  replyDocument (file: { name: string, contentType: string, bytes: Uint8Array }, captionHtml: string): void {
    this.outgoing.push({
      method: 'sendDocument',
      params: { chat_id: this.chatId, caption: captionHtml, parse_mode: 'HTML', document: { filename: file.name, content_type: file.contentType } },
      file: file.bytes,
    })
  }

  edit (messageId: number, html: string, keyboard?: T.InlineKeyboardMarkup): void {
    this.outgoing.push({
      method: 'editMessageText',
      params: {
        chat_id: this.chatId,
        message_id: messageId,
        text: html,
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
        reply_markup: keyboard ?? { inline_keyboard: [] },
      },
    })
  }

  answer (callbackQueryId: string, text?: string): void {
    this.outgoing.push({
      method: 'answerCallbackQuery',
      params: { callback_query_id: callbackQueryId, ...(text === undefined ? {} : { text: text.slice(0, 200) }) },
    })
  }
}
