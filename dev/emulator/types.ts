// The shapes the emulator speaks: its public option and record types, and the minimal Telegram
// wire objects (User, Chat, Message, CallbackQuery, Update) it sends and stores.
import type { WebhookRetry } from './webhook-delivery.js'

export type ChatType = 'private' | 'group' | 'supergroup' | 'channel'

export type EmulatorUser = { id: number, first_name?: string, username?: string }
export type EmulatorChat = { id: number, type?: ChatType, title?: string }
export type EmulatorOptions = {
  /** Default 0: a random free port. */
  port?: number
  /** Default DEFAULT_TOKEN. */
  token?: string
  /** Default 'mister_todo_bot'. */
  botUsername?: string
  /** Webhook mode: the pause before retrying a failed delivery, doubling up to maxMs. Default 100 ms … 2 s (Telegram's own pauses are longer); how long a POST may take (default 30 s). */
  webhookRetry?: WebhookRetry
}

export type InlineKeyboardButtonLike = { text: string, callback_data?: string, url?: string, [key: string]: unknown }
export type InlineKeyboardMarkupLike = { inline_keyboard: InlineKeyboardButtonLike[][] }

/** A message the bot sent, as it stands now. `text` is what the bot sent (tags included);
 *  `rendered` is what the user sees (after parse_mode). */
export type BotMessage = {
  message_id: number
  chat_id: number
  text: string
  rendered: string
  parse_mode?: string
  reply_markup?: InlineKeyboardMarkupLike
  date: number
  edited: boolean
  deleted: boolean
  /** Set when the bot sent a file (sendDocument); `text`/`rendered` are then its caption. */
  document?: { file_id: string, file_unique_id: string, file_name?: string, mime_type?: string, file_size: number }
}

/** One request as received (`at` in ms). `status` is the HTTP status answered: 0 while a long
 *  poll is still held, and for a request whose socket was dropped by a fault. `description` is
 *  set on error answers. */
export type ApiCall = { method: string, params: Record<string, unknown>, at: number, status: number, description?: string }

export type Fault =
  | { status: 429, retryAfter: number }
  | { status: 400 | 401 | 403 | 404 | 409 | 500 | 502 | 503, description?: string }
  | { drop: true }
  | { hangMs: number }

export type CallbackAnswer = { callback_query_id: string, text?: string, show_alert?: boolean }

// ---- Telegram wire objects (only the fields the emulator fills) ----
export type WireUser = { id: number, is_bot: boolean, first_name: string, username?: string }
export type WireChat = { id: number, type: ChatType, title?: string, first_name?: string, username?: string }
export type MessageEntity = { type: string, offset: number, length: number, url?: string, language?: string, custom_emoji_id?: string }

export type WireMessage = {
  message_id: number
  from?: WireUser
  chat: WireChat
  date: number
  edit_date?: number
  text?: string
  entities?: MessageEntity[]
  reply_markup?: InlineKeyboardMarkupLike
  [key: string]: unknown
}

/** What Telegram sends in a callback query when the message is gone or unknown: date 0. */
export type InaccessibleMessage = { message_id: number, chat: WireChat, date: 0 }

export type CallbackQuery = {
  id: string
  from: WireUser
  message?: WireMessage | InaccessibleMessage
  chat_instance: string
  data?: string
}

export type Update = {
  update_id: number
  message?: WireMessage
  edited_message?: WireMessage
  callback_query?: CallbackQuery
  [key: string]: unknown
}
