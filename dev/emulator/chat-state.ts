// Telegram's memory of the conversation: known chats, per-chat message ids, the bot's messages
// as they stand, callback queries and their answers, and the bot's command list.
import type { WireDocument } from './files.js'
import type { FormattedText } from './html-text.js'
import { DESCRIPTIONS, badRequest } from './telegram-errors.js'
import type { BotMessage, CallbackAnswer, InlineKeyboardMarkupLike, WireChat, WireMessage, WireUser } from './types.js'

export type StoredMessage = { view: BotMessage, content: FormattedText, editDate?: number, document?: WireDocument }
export type Content = FormattedText & { markup?: InlineKeyboardMarkupLike | undefined, source: string, parseMode?: string }

const nowSeconds = (): number => Math.floor(Date.now() / 1000)
const key = (chatId: number, messageId: number): string => `${chatId}:${messageId}`

export class ChatState {
  private chats = new Map<number, WireChat>()
  private lastIds = new Map<number, number>()
  private botMessages: StoredMessage[] = []
  private byKey = new Map<string, StoredMessage>()
  /** Messages users sent: value true once the bot deleted it. */
  private userMessages = new Map<string, boolean>()
  /** What users sent, as Telegram quotes it in reply_to_message. */
  private userWire = new Map<string, WireMessage>()
  private callbacks = new Map<string, boolean>()
  private answers: CallbackAnswer[] = []
  readonly commands = new Map<string, unknown[]>()

  constructor (readonly bot: WireUser) {}

  registerChat (chat: WireChat): WireChat {
    const known = this.chats.get(chat.id)
    const merged = { ...known, ...chat }
    this.chats.set(chat.id, merged)
    return merged
  }

  /** A chat the bot may write to: one a user wrote from. Unknown ids get Telegram's 400. */
  requireChat (chatId: unknown): WireChat {
    if (chatId === undefined || chatId === '') throw badRequest(DESCRIPTIONS.chatIdEmpty)
    const chat = typeof chatId === 'number' ? this.chats.get(chatId) : undefined
    if (chat === undefined) throw badRequest(DESCRIPTIONS.chatNotFound)
    return chat
  }

  lastMessageId (chatId: number): number {
    return this.lastIds.get(chatId) ?? 0
  }

  /** Message ids are per chat and shared by both sides, as in a private chat on Telegram. */
  nextMessageId (chatId: number): number {
    const id = this.lastMessageId(chatId) + 1
    this.lastIds.set(chatId, id)
    return id
  }

  /** Keeps the counter ahead of a message id that came in through a raw update. */
  noteMessageId (chatId: number, messageId: number): void {
    if (messageId > this.lastMessageId(chatId)) this.lastIds.set(chatId, messageId)
  }

  addUserMessage (chatId: number, messageId: number, wire?: WireMessage): void {
    this.userMessages.set(key(chatId, messageId), false)
    if (wire !== undefined) this.userWire.set(key(chatId, messageId), structuredClone(wire))
  }

  /** A message of either side as Telegram quotes it in reply_to_message. */
  quoted (chatId: number, messageId: number): WireMessage | undefined {
    const user = this.userWire.get(key(chatId, messageId))
    if (user !== undefined) return structuredClone(user)
    const bot = this.byKey.get(key(chatId, messageId))
    return bot === undefined || bot.view.deleted ? undefined : this.wireMessage(bot)
  }

  /** A text message, or a document (its caption then is the text). */
  addBotMessage (chat: WireChat, content: Content, document?: WireDocument): StoredMessage {
    const view: BotMessage = {
      message_id: this.nextMessageId(chat.id),
      chat_id: chat.id,
      text: content.source,
      rendered: content.text,
      date: nowSeconds(),
      edited: false,
      deleted: false,
    }
    if (content.parseMode !== undefined) view.parse_mode = content.parseMode
    if (content.markup !== undefined) view.reply_markup = content.markup
    if (document !== undefined) view.document = { ...document }
    const stored: StoredMessage = { view, content: { text: content.text, entities: content.entities } }
    if (document !== undefined) stored.document = document
    this.botMessages.push(stored)
    this.byKey.set(key(chat.id, view.message_id), stored)
    return stored
  }

  /** The bot's live message, for editing; Telegram's 400s for a user's or a missing one. */
  requireEditable (chatId: number, messageId: unknown): StoredMessage {
    const id = typeof messageId === 'number' ? messageId : NaN
    const stored = this.byKey.get(key(chatId, id))
    if (stored !== undefined && !stored.view.deleted) return stored
    if (this.userMessages.get(key(chatId, id)) === false) throw badRequest(DESCRIPTIONS.cantEdit)
    throw badRequest(DESCRIPTIONS.editNotFound)
  }

  edit (stored: StoredMessage, content: Content): void {
    stored.content = { text: content.text, entities: content.entities }
    stored.view.text = content.source
    stored.view.rendered = content.text
    if (content.parseMode !== undefined) stored.view.parse_mode = content.parseMode
    else delete stored.view.parse_mode
    this.setMarkup(stored, content.markup)
  }

  setMarkup (stored: StoredMessage, markup: InlineKeyboardMarkupLike | undefined): void {
    if (markup !== undefined) stored.view.reply_markup = markup
    else delete stored.view.reply_markup
    stored.view.edited = true
    stored.editDate = nowSeconds()
  }

  /** Bots may delete their own messages and, in private chats, the user's. */
  delete (chatId: number, messageId: unknown): void {
    const id = typeof messageId === 'number' ? messageId : NaN
    const stored = this.byKey.get(key(chatId, id))
    if (stored !== undefined && !stored.view.deleted) {
      stored.view.deleted = true
      return
    }
    if (this.userMessages.get(key(chatId, id)) === false) {
      this.userMessages.set(key(chatId, id), true)
      return
    }
    throw badRequest(DESCRIPTIONS.deleteNotFound)
  }

  find (chatId: number, messageId: number): StoredMessage | undefined {
    return this.byKey.get(key(chatId, messageId))
  }

  messages (chatId?: number): BotMessage[] {
    return this.botMessages
      .filter((m) => chatId === undefined || m.view.chat_id === chatId)
      .map((m) => structuredClone(m.view))
  }

  /** The first of the bot's messages in a chat that passes `test`, as a copy. */
  firstMessage (chatId: number, test: (m: BotMessage) => boolean): BotMessage | undefined {
    const found = this.botMessages.find((m) => m.view.chat_id === chatId && test(m.view))
    return found === undefined ? undefined : structuredClone(found.view)
  }

  wireMessage (stored: StoredMessage): WireMessage {
    const chat = this.chats.get(stored.view.chat_id) ?? { id: stored.view.chat_id, type: 'private' }
    const message: WireMessage = { message_id: stored.view.message_id, from: this.bot, chat, date: stored.view.date }
    if (stored.editDate !== undefined) message.edit_date = stored.editDate
    if (stored.document !== undefined) {
      message.document = stored.document
      if (stored.content.text !== '') message.caption = stored.content.text
      if (stored.content.entities.length > 0) message.caption_entities = stored.content.entities
    } else {
      message.text = stored.content.text
      if (stored.content.entities.length > 0) message.entities = stored.content.entities
    }
    if (stored.view.reply_markup !== undefined) message.reply_markup = stored.view.reply_markup
    return structuredClone(message)
  }

  addCallback (id: string): void {
    this.callbacks.set(id, false)
  }

  /** A query can be answered once; an unknown or answered id gets Telegram's 400. */
  answerCallback (answer: CallbackAnswer): void {
    if (this.callbacks.get(answer.callback_query_id) !== false) throw badRequest(DESCRIPTIONS.queryInvalid)
    this.callbacks.set(answer.callback_query_id, true)
    this.answers.push(answer)
  }

  callbackAnswers (): CallbackAnswer[] {
    return this.answers.map((a) => ({ ...a }))
  }

  unansweredCallbacks (): string[] {
    return [...this.callbacks].filter(([, answered]) => !answered).map(([id]) => id)
  }
}
