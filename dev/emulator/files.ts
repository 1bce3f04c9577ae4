// Files on the emulated Telegram: what users and the bot uploaded, with Telegram's ids and paths,
// its size limits (bots upload up to 50 MB, download up to 20 MB), and the methods that touch
// them: sendDocument (multipart upload or a known file_id), getFile. The download route itself
// (GET /file/bot<token>/<file_path>) is served by bot-api-emulator.ts from this store.
import type { ChatState } from './chat-state.js'
import { formatText, readReplyMarkup } from './message-content.js'
import type { UploadedFile } from './request-body.js'
import { badRequest } from './telegram-errors.js'

/** Bots may download files up to 20 MB with getFile. */
export const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
export const MAX_CAPTION_LENGTH = 1024

export const FILE_DESCRIPTIONS = {
  noDocument: 'Bad Request: there is no document in the request',
  emptyFile: 'Bad Request: file must be non-empty',
  wrongFileId: 'Bad Request: wrong file identifier/HTTP URL specified',
  invalidFileId: 'Bad Request: invalid file_id',
  tooBig: 'Bad Request: file is too big',
  captionTooLong: 'Bad Request: message caption is too long',
} as const

export type WireDocument = { file_id: string, file_unique_id: string, file_name?: string, mime_type?: string, file_size: number }
export type StoredFile = WireDocument & { file_path: string, data: Buffer }

let fileSeq = 0

export class FileStore {
  private byId = new Map<string, StoredFile>()
  private byPath = new Map<string, StoredFile>()

  add (data: Buffer, name: string | undefined, mimeType: string | undefined): StoredFile {
    const n = ++fileSeq
    const ext = /\.([A-Za-z0-9]{1,8})$/.exec(name ?? '')?.[1]
    const file: StoredFile = {
      file_id: `BQACAgIAAxkBAAI${n.toString(36).padStart(6, '0')}`,
      file_unique_id: `AgAD${n.toString(36).padStart(4, '0')}`,
      file_size: data.length,
      file_path: `documents/file_${n}${ext === undefined ? '' : `.${ext}`}`,
      data,
    }
    if (name !== undefined) file.file_name = name
    if (mimeType !== undefined) file.mime_type = mimeType
    this.byId.set(file.file_id, file)
    this.byPath.set(file.file_path, file)
    return file
  }

  get (fileId: string): StoredFile | undefined { return this.byId.get(fileId) }
  atPath (filePath: string): StoredFile | undefined { return this.byPath.get(filePath) }
}

export function wireDocument (file: StoredFile): WireDocument {
  const { data: _data, file_path: _path, ...wire } = file
  return { ...wire }
}

type Params = Record<string, unknown>
export type FileContext = { state: ChatState, files: FileStore, uploads: Map<string, UploadedFile> }

/** The document a sendDocument names: an uploaded part (`document` field or attach://name) or a file_id. */
function documentOf (p: Params, { files, uploads }: FileContext): StoredFile {
  const ref = p.document
  const attached = typeof ref === 'string' && ref.startsWith('attach://') ? uploads.get(ref.slice('attach://'.length)) : uploads.get('document')
  if (attached !== undefined) {
    if (attached.data.length === 0) throw badRequest(FILE_DESCRIPTIONS.emptyFile)
    return files.add(attached.data, attached.filename, attached.contentType)
  }
  if (typeof ref !== 'string' || ref === '') throw badRequest(FILE_DESCRIPTIONS.noDocument)
  const known = files.get(ref)
  if (known === undefined) throw badRequest(FILE_DESCRIPTIONS.wrongFileId)
  return known
}

export const FILE_METHODS: Record<string, (p: Params, ctx: FileContext) => unknown> = {
  sendDocument: (p, ctx) => {
    const chat = ctx.state.requireChat(p.chat_id)
    const caption = typeof p.caption === 'string' && p.caption.trim() !== '' ? formatText(p.caption, p.parse_mode, p.caption_entities) : { text: '', entities: [] }
    if (caption.text.length > MAX_CAPTION_LENGTH) throw badRequest(FILE_DESCRIPTIONS.captionTooLong)
    const markup = readReplyMarkup(p.reply_markup)
    const file = documentOf(p, ctx)
    const content = { ...caption, markup, source: typeof p.caption === 'string' ? p.caption : '', ...(typeof p.parse_mode === 'string' ? { parseMode: p.parse_mode } : {}) }
    return ctx.state.wireMessage(ctx.state.addBotMessage(chat, content, wireDocument(file)))
  },

  getFile: (p, { files }) => {
    const file = typeof p.file_id === 'string' ? files.get(p.file_id) : undefined
    if (file === undefined) throw badRequest(FILE_DESCRIPTIONS.invalidFileId)
    if (file.file_size > MAX_DOWNLOAD_BYTES) throw badRequest(FILE_DESCRIPTIONS.tooBig)
    return { file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.file_size, file_path: file.file_path }
  },
}
