// Fetches the file an /import names (getFile, then the file download), before the update's
// transaction: a handler may not call the Bot API, and a download must not hold a transaction
// open. Reading a file is a pure input, so a crash after it only means it is read again when
// Telegram redelivers the update; the import itself commits with the update, once.
import { TelegramApiError, type Api } from 'node-telegram-bot-api'
import type * as T from 'node-telegram-bot-api/types'
import type { Logger } from '../logger.js'
import { parseCommand } from '../tasks/parse.js'
import { MAX_IMPORT_BYTES } from './portable.js'

export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 30_000

export type Attachment =
  | { status: 'fetched', name: string, bytes: Uint8Array }
  | { status: 'too-big', name: string, size: number }
  | { status: 'unavailable', name: string, reason: string }

export type AttachmentLoader = (update: T.Update) => Promise<Attachment | undefined>

const isImport = (text: string | undefined): boolean => text !== undefined && parseCommand(text)?.name === 'import'

/** The document an update asks to import: sent with /import as its caption, or replied to with /import. */
export function importDocument (update: T.Update): T.Document | undefined {
  if (!('message' in update)) return undefined
  const m = update.message
  if (m.document !== undefined && isImport(m.caption)) return m.document
  if (isImport(m.text)) return m.reply_to_message?.document
  return undefined
}

/** Reads a response body up to `limit` bytes; undefined when it is longer. */
async function readCapped (body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > limit) {
      await reader.cancel()
      return undefined
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}

/** Why a download failed, in words a user can act on; never the URL (it holds the token). */
function describe (err: unknown): string {
  if (err instanceof TelegramApiError) return `Telegram said: ${err.description}`
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'the download timed out'
  const code = (err as { cause?: { code?: unknown } }).cause?.code
  return typeof code === 'string' ? `the download failed (${code})` : 'the download failed'
}

export type LoaderOptions = { api: Api, token: string, apiRoot: string, logger: Logger, timeoutMs?: number, limit?: number }

export function createAttachmentLoader (o: LoaderOptions): AttachmentLoader {
  const limit = o.limit ?? MAX_IMPORT_BYTES
  return async (update) => {
    const doc = importDocument(update)
    if (doc === undefined) return undefined
    const name = doc.file_name ?? 'file'
    // Telegram says the size up front: a file over the limit is refused without reading it.
    if (doc.file_size !== undefined && doc.file_size > limit) return { status: 'too-big', name, size: doc.file_size }
    try {
      const file = await o.api.getFile({ file_id: doc.file_id })
      if (file.file_size !== undefined && file.file_size > limit) return { status: 'too-big', name, size: file.file_size }
      if (file.file_path === undefined) return { status: 'unavailable', name, reason: 'Telegram gave no download path' }
      const url = `${o.apiRoot}/file/bot${o.token}/${file.file_path.split('/').map(encodeURIComponent).join('/')}`
      const res = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS) })
      if (!res.ok || res.body === null) return { status: 'unavailable', name, reason: `the download answered HTTP ${res.status}` }
      const bytes = await readCapped(res.body, limit)
      if (bytes === undefined) return { status: 'too-big', name, size: Number(res.headers.get('content-length') ?? limit + 1) }
      return { status: 'fetched', name, bytes }
    } catch (err) {
      const reason = describe(err)
      o.logger.warn({ updateId: update.update_id, reason }, 'import: the file could not be fetched')
      return { status: 'unavailable', name, reason }
    }
  }
}
