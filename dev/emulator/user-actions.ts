// The user's side of the chat: turns "user 42 typed /add milk" or "pressed a button" into the
// Update payloads Telegram would queue, with the fields Telegram fills in.
import type { ChatState } from './chat-state.js'
import { wireDocument, type StoredFile } from './files.js'
import type { CallbackQuery, EmulatorChat, EmulatorUser, MessageEntity, WireChat, WireMessage, WireUser } from './types.js'

const nowSeconds = (): number => Math.floor(Date.now() / 1000)
let callbackSeq = 0

export function toWireUser (user: EmulatorUser | number): WireUser {
  const u = typeof user === 'number' ? { id: user } : user
  const wire: WireUser = { id: u.id, is_bot: false, first_name: u.first_name ?? `User ${u.id}` }
  if (u.username !== undefined) wire.username = u.username
  return wire
}

/** A number is `{ id }`: the user's private chat when it is the user's id; a group when negative
 *  (a supergroup for -100… ids, as Telegram numbers them). */
export function toWireChat (chat: EmulatorChat | number, user: WireUser): WireChat {
  const c = typeof chat === 'number' ? { id: chat } : chat
  const type = c.type ?? (c.id === user.id || c.id > 0 ? 'private' : String(c.id).startsWith('-100') ? 'supergroup' : 'group')
  if (type === 'private') {
    const wire: WireChat = { id: c.id, type, first_name: user.first_name }
    if (user.username !== undefined) wire.username = user.username
    return wire
  }
  return { id: c.id, type, title: c.title ?? `Chat ${c.id}` }
}

/** bot_command entities wherever Telegram finds them: a "/" at a word start, optional @bot. */
export function commandEntities (text: string): MessageEntity[] {
  const entities: MessageEntity[] = []
  for (const match of text.matchAll(/(?<![\w/@])\/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])/g)) {
    entities.push({ type: 'bot_command', offset: match.index, length: match[0].length })
  }
  return entities
}

/** Telegram quotes the message replied to (without its own reply_to_message). */
function quote (state: ChatState, chatId: number, replyTo: number | undefined): WireMessage | undefined {
  if (replyTo === undefined) return undefined
  const quoted = state.quoted(chatId, replyTo)
  if (quoted !== undefined) delete quoted.reply_to_message
  return quoted
}

export function textMessage (state: ChatState, from: WireUser, chat: WireChat, text: string, replyTo?: number): WireMessage {
  state.registerChat(chat)
  const message: WireMessage = { message_id: state.nextMessageId(chat.id), from, chat, date: nowSeconds(), text }
  const entities = commandEntities(text)
  if (entities.length > 0) message.entities = entities
  const quoted = quote(state, chat.id, replyTo)
  if (quoted !== undefined) message.reply_to_message = quoted
  state.addUserMessage(chat.id, message.message_id, message)
  return message
}

/** A file the user sent, with an optional caption (commands in it are marked, as in text). */
export function documentMessage (state: ChatState, from: WireUser, chat: WireChat, file: StoredFile, caption?: string): WireMessage {
  state.registerChat(chat)
  const message: WireMessage = { message_id: state.nextMessageId(chat.id), from, chat, date: nowSeconds(), document: wireDocument(file) }
  if (caption !== undefined && caption !== '') {
    message.caption = caption
    const entities = commandEntities(caption)
    if (entities.length > 0) message.caption_entities = entities
  }
  state.addUserMessage(chat.id, message.message_id, message)
  return message
}

/** The message Telegram attaches: the bot message as it stands now, or an inaccessible stub. */
export function callbackQuery (state: ChatState, from: WireUser, chat: WireChat, messageId: number, data: string): CallbackQuery {
  state.registerChat(chat)
  const stored = state.find(chat.id, messageId)
  const id = `${BigInt(from.id) * 1_000_000n + BigInt(++callbackSeq)}`
  state.addCallback(id)
  return {
    id,
    from,
    message: stored !== undefined && !stored.view.deleted ? state.wireMessage(stored) : { message_id: messageId, chat, date: 0 },
    chat_instance: `${Math.abs(chat.id) * 7 + 1_000_003}`,
    data,
  }
}

/** Learns chats and message ids from a raw update, so the bot may answer in those chats. */
export function noteRawUpdate (state: ChatState, payload: Record<string, unknown>): void {
  for (const value of Object.values(payload)) {
    if (value === null || typeof value !== 'object') continue
    // The payload itself (a message someone sent) or the message inside it (a callback query's).
    const candidates = [value as Record<string, unknown>, (value as Record<string, unknown>).message]
    for (const [index, candidate] of candidates.entries()) {
      if (candidate === null || typeof candidate !== 'object') continue
      const { chat, message_id: messageId } = candidate as Record<string, unknown>
      if (chat === null || typeof chat !== 'object') continue
      const c = chat as Partial<WireChat>
      if (typeof c.id !== 'number') continue
      state.registerChat({ ...c, id: c.id, type: c.type ?? (c.id > 0 ? 'private' : 'group') })
      if (typeof messageId !== 'number') continue
      state.noteMessageId(c.id, messageId)
      if (index === 0) state.addUserMessage(c.id, messageId)
    }
  }
}
