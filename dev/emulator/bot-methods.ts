// The Bot API methods the emulator answers, each a function of the request's params. A handler
// returns the `result` or throws a TelegramError; anything not listed here is 404, like Telegram.
import type { ChatState, Content } from './chat-state.js'
import { FILE_METHODS, type FileStore } from './files.js'
import { formatText, readReplyMarkup, sameContent } from './message-content.js'
import type { UploadedFile } from './request-body.js'
import { DESCRIPTIONS, TelegramError, badRequest } from './telegram-errors.js'
import type { CallbackAnswer } from './types.js'
import { DEFAULT_LIMIT, MAX_TIMEOUT_SECONDS, type UpdatesQueue } from './updates-queue.js'
import type { WebhookDelivery } from './webhook-delivery.js'

export type MethodContext = {
  state: ChatState
  queue: UpdatesQueue
  webhook: WebhookDelivery
  /** Aborted when the client goes away (or the emulator stops) before the answer. */
  signal: AbortSignal
  files: FileStore
  /** The file parts of this request's multipart body, by field name. */
  uploads: Map<string, UploadedFile>
}
type Params = Record<string, unknown>
type Handler = (params: Params, ctx: MethodContext) => unknown

const COMMAND_NAME = /^[a-z0-9_]{1,32}$/
const MAX_ANSWER_TEXT = 200

const toNumber = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined
const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v))

/** Text and keyboard of a send or edit, checked in the order the Bot API checks them. */
function readContent (p: Params): Content {
  const formatted = formatText(p.text, p.parse_mode, p.entities)
  const content: Content = { ...formatted, markup: readReplyMarkup(p.reply_markup), source: String(p.text) }
  if (typeof p.parse_mode === 'string') content.parseMode = p.parse_mode
  return content
}

function requireText (p: Params): void {
  if (p.text === undefined || p.text === '') throw badRequest(DESCRIPTIONS.textEmpty)
}

function getUpdates (p: Params, { queue, webhook, signal }: MethodContext): Promise<unknown> {
  if (webhook.url !== '') throw new TelegramError(409, DESCRIPTIONS.conflictWebhook)
  const request = {
    offset: Math.trunc(toNumber(p.offset) ?? 0),
    limit: clamp(Math.trunc(toNumber(p.limit) ?? DEFAULT_LIMIT), 1, DEFAULT_LIMIT),
    // Fractions are allowed (Telegram takes whole seconds) so tests can poll briefly.
    timeoutSeconds: clamp(toNumber(p.timeout) ?? 0, 0, MAX_TIMEOUT_SECONDS),
  }
  return new Promise((resolve, reject) => {
    const cancel = queue.poll(request, (answer) => {
      if ('conflict' in answer) reject(new TelegramError(409, DESCRIPTIONS.conflictPolling))
      else resolve(answer.updates)
    })
    signal.addEventListener('abort', cancel, { once: true })
  })
}

function commandsKey (p: Params): string {
  const scope = p.scope !== null && typeof p.scope === 'object' ? (p.scope as Params).type : undefined
  return `${typeof scope === 'string' ? scope : 'default'}:${typeof p.language_code === 'string' ? p.language_code : ''}`
}

export const METHODS: Record<string, Handler> = {
  getMe: (_p, { state }) => ({
    ...state.bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false,
  }),

  getUpdates,

  sendMessage: (p, { state }) => {
    requireText(p)
    const chat = state.requireChat(p.chat_id)
    return state.wireMessage(state.addBotMessage(chat, readContent(p)))
  },

  editMessageText: (p, { state }) => {
    requireText(p)
    const chat = state.requireChat(p.chat_id)
    const stored = state.requireEditable(chat.id, p.message_id)
    const content = readContent(p)
    if (sameContent({ ...stored.content, markup: stored.view.reply_markup }, content)) throw badRequest(DESCRIPTIONS.notModified)
    state.edit(stored, content)
    return state.wireMessage(stored)
  },

  editMessageReplyMarkup: (p, { state }) => {
    const chat = state.requireChat(p.chat_id)
    const stored = state.requireEditable(chat.id, p.message_id)
    const markup = readReplyMarkup(p.reply_markup)
    const current = { ...stored.content, markup: stored.view.reply_markup }
    if (sameContent(current, { ...stored.content, markup })) throw badRequest(DESCRIPTIONS.notModified)
    state.setMarkup(stored, markup)
    return state.wireMessage(stored)
  },

  answerCallbackQuery: (p, { state }) => {
    const answer: CallbackAnswer = { callback_query_id: String(p.callback_query_id ?? '') }
    if (typeof p.text === 'string') {
      if (p.text.length > MAX_ANSWER_TEXT) throw badRequest(DESCRIPTIONS.answerTooLong)
      answer.text = p.text
    }
    if (typeof p.show_alert === 'boolean') answer.show_alert = p.show_alert
    state.answerCallback(answer)
    return true
  },

  deleteMessage: (p, { state }) => {
    const chat = state.requireChat(p.chat_id)
    state.delete(chat.id, p.message_id)
    return true
  },

  sendChatAction: (p, { state }) => {
    state.requireChat(p.chat_id)
    return true
  },

  getChat: (p, { state }) => state.requireChat(p.chat_id),

  setMyCommands: (p, { state }) => {
    const commands = Array.isArray(p.commands) ? (p.commands as unknown[]) : undefined
    if (commands === undefined) throw badRequest("Bad Request: can't parse commands JSON object")
    for (const c of commands) {
      const name = c !== null && typeof c === 'object' ? (c as Params).command : undefined
      if (typeof name !== 'string' || !COMMAND_NAME.test(name)) throw badRequest(DESCRIPTIONS.commandInvalid)
    }
    state.commands.set(commandsKey(p), structuredClone(commands))
    return true
  },

  getMyCommands: (p, { state }) => state.commands.get(commandsKey(p)) ?? [],

  deleteMyCommands: (p, { state }) => {
    state.commands.delete(commandsKey(p))
    return true
  },

  setWebhook: (p, { queue, webhook }) => {
    const url = typeof p.url === 'string' ? p.url.trim() : ''
    if (p.drop_pending_updates === true) queue.dropPending()
    if (url === '') {
      webhook.set(null)
      return true
    }
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw badRequest(DESCRIPTIONS.webhookUrlInvalid)
    }
    // Telegram wants https; plain http is allowed here for a loopback address (tests).
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname))) throw badRequest(DESCRIPTIONS.webhookHttpsRequired)
    const secret = p.secret_token === undefined ? undefined : String(p.secret_token)
    if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) throw badRequest(DESCRIPTIONS.webhookSecretInvalid)
    const max = toNumber(p.max_connections) ?? 40
    const allowed = Array.isArray(p.allowed_updates) ? (p.allowed_updates as unknown[]).map(String) : undefined
    webhook.set({ url, secretToken: secret, maxConnections: clamp(Math.trunc(max), 1, 100), allowedUpdates: allowed })
    return true
  },

  deleteWebhook: (p, { queue, webhook }) => {
    webhook.set(null)
    if (p.drop_pending_updates === true) queue.dropPending()
    return true
  },

  getWebhookInfo: (_p, { queue, webhook }) => ({
    url: webhook.url,
    has_custom_certificate: false,
    pending_update_count: queue.pending().length,
    ...(webhook.settings === null ? {} : { max_connections: webhook.settings.maxConnections }),
    ...(webhook.settings?.allowedUpdates === undefined ? {} : { allowed_updates: webhook.settings.allowedUpdates }),
    ...(webhook.lastErrorDate === undefined ? {} : { last_error_date: webhook.lastErrorDate, last_error_message: webhook.lastErrorMessage }),
  }),

  ...FILE_METHODS,
}

const BY_LOWER_NAME = new Map(Object.keys(METHODS).map((name) => [name.toLowerCase(), name]))

/** Method names are case-insensitive on Telegram; this returns the canonical spelling. */
export function resolveMethod (name: string): string | undefined {
  return BY_LOWER_NAME.get(name.toLowerCase())
}
