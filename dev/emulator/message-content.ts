// What a sendMessage/editMessage* call asks to show, validated as Telegram validates it: text
// after parse_mode (trimmed, 1..4096 UTF-16 units) and the inline keyboard.
import { parseHtml, type FormattedText } from './html-text.js'
import { DESCRIPTIONS, badRequest } from './telegram-errors.js'
import type { InlineKeyboardButtonLike, InlineKeyboardMarkupLike, MessageEntity } from './types.js'

export const MAX_TEXT_LENGTH = 4096
export const MAX_CALLBACK_DATA_BYTES = 64
const BUTTON_ACTIONS = ['callback_data', 'url', 'web_app', 'login_url', 'switch_inline_query',
  'switch_inline_query_current_chat', 'switch_inline_query_chosen_chat', 'copy_text', 'callback_game', 'pay']

/** Parses `text` under `parseMode`, then trims and checks it like tdlib's fix_formatted_text. */
export function formatText (text: unknown, parseMode: unknown, entities: unknown): FormattedText {
  if (typeof text !== 'string' && typeof text !== 'number') throw badRequest(DESCRIPTIONS.textEmpty)
  const source = String(text)
  const mode = typeof parseMode === 'string' ? parseMode.toLowerCase() : ''
  let parsed: FormattedText
  if (mode === 'html') {
    parsed = parseHtml(source)
  } else if (mode === '' || mode === 'markdown' || mode === 'markdownv2') {
    // Markdown is not parsed: the text is shown as sent (a known gap of the emulator).
    parsed = { text: source, entities: mode === '' && Array.isArray(entities) ? entities.filter(isEntity) : [] }
  } else {
    throw badRequest(DESCRIPTIONS.parseModeUnsupported)
  }
  const trimmed = trim(parsed)
  if (trimmed.text === '') throw badRequest(DESCRIPTIONS.textEmpty)
  if (trimmed.text.length > MAX_TEXT_LENGTH) throw badRequest(DESCRIPTIONS.textTooLong)
  return trimmed
}

function isEntity (value: unknown): value is MessageEntity {
  if (value === null || typeof value !== 'object') return false
  const e = value as Record<string, unknown>
  return typeof e.type === 'string' && typeof e.offset === 'number' && typeof e.length === 'number'
}

function trim ({ text, entities }: FormattedText): FormattedText {
  const lead = text.length - text.trimStart().length
  const out = text.trim()
  const kept: MessageEntity[] = []
  for (const e of entities) {
    const start = Math.max(0, e.offset - lead)
    const end = Math.min(out.length, e.offset + e.length - lead)
    if (end > start) kept.push({ ...e, offset: start, length: end - start })
  }
  return { text: out, entities: kept }
}

/**
 * Reads `reply_markup`. Returns the inline keyboard to attach, or undefined when there is none
 * (a reply keyboard, ForceReply or ReplyKeyboardRemove never shows up in Message.reply_markup).
 */
export function readReplyMarkup (value: unknown): InlineKeyboardMarkupLike | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest(DESCRIPTIONS.markupUnparsable)
  const markup = value as Record<string, unknown>
  if (!('inline_keyboard' in markup)) return undefined
  const rows = markup.inline_keyboard
  if (!Array.isArray(rows) || !rows.every((row) => Array.isArray(row))) throw badRequest(DESCRIPTIONS.keyboardNotArray)
  const keyboard: InlineKeyboardButtonLike[][] = []
  for (const row of rows as unknown[][]) {
    const buttons = row.map(readButton)
    if (buttons.length > 0) keyboard.push(buttons)
  }
  return keyboard.length > 0 ? { inline_keyboard: keyboard } : undefined
}

function readButton (value: unknown): InlineKeyboardButtonLike {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest("Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object")
  }
  const button = value as Record<string, unknown>
  if (typeof button.text !== 'string') {
    throw badRequest('Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String')
  }
  if (!BUTTON_ACTIONS.some((key) => button[key] !== undefined)) throw badRequest(DESCRIPTIONS.textButtonsUnallowed)
  const data = button.callback_data
  if (data !== undefined && (typeof data !== 'string' || Buffer.byteLength(data, 'utf8') > MAX_CALLBACK_DATA_BYTES)) {
    throw badRequest(DESCRIPTIONS.buttonDataInvalid)
  }
  return { ...button, text: button.text }
}

type Content = FormattedText & { markup?: InlineKeyboardMarkupLike | undefined }

/** Telegram's "not modified" test: same visible text, same entities, same keyboard. */
export function sameContent (a: Content, b: Content): boolean {
  return a.text === b.text && canonical(a.entities) === canonical(b.entities) &&
    canonical(a.markup ?? null) === canonical(b.markup ?? null)
}

/** JSON with sorted keys, so {a,b} and {b,a} compare equal. */
function canonical (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined)
    return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  })
}
