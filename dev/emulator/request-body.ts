// Reads a Bot API request into plain params: JSON, urlencoded and multipart bodies (what
// node-telegram-bot-api sends: urlencoded, or multipart with files), plus the query string.
import type { IncomingMessage } from 'node:http'
import { DESCRIPTIONS, TelegramError, badRequest } from './telegram-errors.js'

/** Telegram refuses bodies above 50 MB (the upload limit for bots). */
export const MAX_BODY_BYTES = 50 * 1024 * 1024

/** Fields Telegram reads as JSON when they arrive as strings (urlencoded or multipart). */
const JSON_FIELDS = new Set([
  'reply_markup', 'commands', 'allowed_updates', 'link_preview_options', 'entities', 'caption_entities',
  'reply_parameters', 'scope', 'media', 'results', 'options',
])
/** Fields Telegram reads as integers. */
const INT_FIELDS = new Set([
  'chat_id', 'message_id', 'offset', 'limit', 'timeout', 'from_chat_id', 'user_id', 'message_thread_id',
  'reply_to_message_id', 'cache_time', 'max_connections',
])
const BOOL_FIELDS = new Set([
  'show_alert', 'disable_notification', 'protect_content', 'drop_pending_updates', 'disable_web_page_preview',
  'allow_sending_without_reply',
])

/** Resolves with the body, or rejects with a 413 TelegramError when it passes the limit. The rest
 *  is still read (and discarded), so the client sees the 413 rather than a reset socket. */
export function readBody (req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let refused = false
    req.on('data', (chunk: Buffer) => {
      if (refused) return
      size += chunk.length
      if (size > limit) {
        refused = true
        chunks.length = 0
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (refused) reject(new TelegramError(413, DESCRIPTIONS.tooLarge))
      else resolve(Buffer.concat(chunks))
    })
    req.on('error', reject)
  })
}

/** A file part of a multipart request, with its bytes. */
export type UploadedFile = { filename: string, contentType: string | undefined, data: Buffer }

/** Raw params from the query string and the body, before per-field typing. A multipart file part
 *  shows in the params as `{ file, size }`; its bytes go to `uploads`, keyed by the field name. */
export function parseBody (contentType: string | undefined, body: Buffer, query: URLSearchParams, uploads?: Map<string, UploadedFile>): Record<string, unknown> {
  const params: Record<string, unknown> = Object.fromEntries(query)
  const type = (contentType ?? '').toLowerCase()
  if (body.length === 0) return params
  if (type.startsWith('application/json')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch {
      throw badRequest(DESCRIPTIONS.badJson)
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw badRequest(DESCRIPTIONS.badJson)
    return { ...params, ...(parsed as Record<string, unknown>) }
  }
  if (type.startsWith('multipart/form-data')) return { ...params, ...parseMultipart(type, contentType ?? '', body, uploads) }
  return { ...params, ...Object.fromEntries(new URLSearchParams(body.toString('utf8'))) }
}

function parseMultipart (lowerType: string, contentType: string, body: Buffer, uploads: Map<string, UploadedFile> | undefined): Record<string, unknown> {
  const at = lowerType.indexOf('boundary=')
  if (at < 0) throw badRequest('Bad Request: multipart boundary is missing')
  const boundary = contentType.slice(at + 'boundary='.length).split(';')[0]?.trim().replace(/^"|"$/g, '') ?? ''
  const out: Record<string, unknown> = {}
  // latin1 maps bytes 1:1, so slicing by string index is slicing by byte.
  const raw = body.toString('latin1')
  for (const part of raw.split(`--${boundary}`).slice(1)) {
    if (part.startsWith('--')) break
    const split = part.indexOf('\r\n\r\n')
    if (split < 0) continue
    const headers = part.slice(0, split)
    const content = part.slice(split + 4).replace(/\r\n$/, '')
    const name = /name="([^"]*)"/i.exec(headers)?.[1]
    if (name === undefined) continue
    const filename = /filename="([^"]*)"/i.exec(headers)?.[1]
    if (filename !== undefined) {
      const type = /^content-type:\s*(.+)$/im.exec(headers)?.[1]?.trim()
      // The client escapes quotes and line breaks in the name as %22, %0D, %0A (as browsers do).
      uploads?.set(name, { filename: filename.replace(/%22/g, '"').replace(/%0D/g, '\r').replace(/%0A/g, '\n'), contentType: type, data: Buffer.from(content, 'latin1') })
    }
    out[name] = filename === undefined
      ? Buffer.from(content, 'latin1').toString('utf8')
      : { file: filename, size: content.length }
  }
  return out
}

/** Types the fields Telegram types: integers, booleans and JSON-encoded objects sent as strings. */
export function normalizeParams (raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') {
      out[key] = value
    } else if (INT_FIELDS.has(key) && /^-?\d+$/.test(value.trim())) {
      out[key] = Number(value.trim())
    } else if (BOOL_FIELDS.has(key) && /^(true|false)$/i.test(value.trim())) {
      out[key] = value.trim().toLowerCase() === 'true'
    } else if (JSON_FIELDS.has(key)) {
      out[key] = parseJsonField(value)
    } else {
      out[key] = value
    }
  }
  return out
}

/** A JSON field that fails to parse stays a string; the method decides what error that is. */
function parseJsonField (value: string): unknown {
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}
