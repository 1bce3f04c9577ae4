// Turns the bytes of a file someone sent into tasks, or one ImportError naming the line and the
// problem: a file that is not UTF-8 text, broken JSON, a task too long, too many tasks. Which
// reader runs depends on the file's name and its first characters.
import { ImportError, MAX_IMPORT_BYTES, type PortableTask } from './portable.js'
import { readJson } from './read-json.js'
import { readCsv, readPlain, readTodo } from './read-text.js'
import { CSV_HEADER } from './write.js'

export type ImportKind = 'JSON' | 'CSV' | 'todo.txt' | 'text'
export type ReadResult = { kind: ImportKind, tasks: PortableTask[] }

const ACCEPTED = 'I import the JSON or CSV that /export writes, todo.txt, or plain text with one task per line.'

function lineOfByte (bytes: Uint8Array, index: number): number {
  let line = 1
  for (let i = 0; i < index; i++) if (bytes[i] === 10) line++
  return line
}

/** The text of the file; the line of the first byte that is not UTF-8 text (or a NUL) otherwise. */
export function decodeText (bytes: Uint8Array): string {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    // Find the first line that does not decode on its own.
    let start = 0
    const strict = new TextDecoder('utf-8', { fatal: true })
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 10) continue
      try {
        strict.decode(bytes.subarray(start, i))
      } catch {
        throw new ImportError(lineOfByte(bytes, start), `this is not text (a byte that is not UTF-8): is it a binary file? ${ACCEPTED}`)
      }
      start = i + 1
    }
    throw new ImportError(null, `this is not UTF-8 text. ${ACCEPTED}`)
  }
  const nul = text.indexOf('\u0000')
  if (nul >= 0) throw new ImportError(text.slice(0, nul).split('\n').length, `this is not text (it contains a NUL byte): is it a binary file? ${ACCEPTED}`)
  return text.replace(/\r\n/g, '\n')
}

function kindOf (name: string, text: string): ImportKind {
  const lower = name.toLowerCase()
  const first = text.trimStart()[0]
  if (lower.endsWith('.json') || first === '{' || first === '[') return 'JSON'
  const header = (text.split('\n', 1)[0] ?? '').toLowerCase().replace(/"/g, '')
  if (lower.endsWith('.csv') || header.startsWith(CSV_HEADER.slice(0, 3).join(','))) return 'CSV'
  if (/(^|[._-])(todo|done)\.txt$/.test(lower)) return 'todo.txt'
  // Lines shaped like todo.txt: "x 2026-…", "(A) …", "2026-11-20 …", or due:/rec: tags.
  if (/^(x \d{4}-\d\d-\d\d|\([A-Z]\) |\d{4}-\d\d-\d\d )|(^|\s)(due:\d{4}-\d\d-\d\d|rec:\+?\d*[dbwmy])(\s|$)/m.test(text)) return 'todo.txt'
  return 'text'
}

export function readImport (name: string, bytes: Uint8Array): ReadResult {
  if (bytes.length > MAX_IMPORT_BYTES) throw new ImportError(null, `the file is ${formatSize(bytes.length)}; I import files up to ${formatSize(MAX_IMPORT_BYTES)}. Split it into parts.`)
  const text = decodeText(bytes).replace(/^\uFEFF/, '')
  const kind = kindOf(name, text)
  const tasks = kind === 'JSON' ? readJson(text) : kind === 'CSV' ? readCsv(text) : kind === 'todo.txt' ? readTodo(text) : readPlain(text)
  if (tasks.length === 0) throw new ImportError(null, `the file has no tasks. ${ACCEPTED}`)
  return { kind, tasks }
}

export function formatSize (bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} kB`
  return `${(bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, '')} MB`
}
