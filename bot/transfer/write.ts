// Writes a chat's tasks as a file: JSON with everything, CSV for spreadsheets (cells that a
// spreadsheet would run as a formula are escaped), or todo.txt. Open tasks come first, in /list
// order, then the done ones by number. Pure: the caller reads the tasks (one chat's) and sends.
import type { ChatSettings } from '../chats/settings.js'
import type { Task } from '../tasks/repository.js'
import { inZone } from '../time/zone.js'
import { encodeLead, encodeRepeat, type TransferFormat, type WallDue } from './portable.js'

export const EXPORT_FORMAT_NAME = 'mister-todo'
export const EXPORT_VERSION = 1
export const CSV_HEADER = ['number', 'status', 'text', 'due', 'repeat', 'remind_before', 'created', 'completed', 'time_zone']

export type ExportFile = { name: string, contentType: string, bytes: Uint8Array, open: number, done: number }
export type ExportInput = { open: readonly Task[], done: readonly Task[], zone: string, settings: ChatSettings, now: number }

const iso = (at: number | null): string | null => at === null ? null : new Date(at).toISOString()

function wallDue (task: Task, zone: string): WallDue | null {
  if (task.dueAt === null) return null
  const local = inZone(task.dueAt, zone)
  return { date: local.toISODate() ?? '', time: task.dueHasTime ? local.toFormat('HH:mm') : null }
}

function jsonTask (task: Task, zone: string): string {
  const due = wallDue(task, zone)
  return JSON.stringify({
    number: task.number,
    text: task.text,
    done: task.doneAt !== null,
    created_at: iso(task.createdAt),
    completed_at: iso(task.doneAt),
    due: due === null ? null : { ...due, time_zone: zone, at: iso(task.dueAt) },
    repeat: task.repeat,
    remind_before_min: task.remindBeforeMin,
  })
}

/** One task per line inside a readable envelope, so an error can name a line and a diff reads well. */
function writeJson (input: ExportInput, tasks: readonly Task[]): string {
  const head = {
    format: EXPORT_FORMAT_NAME,
    version: EXPORT_VERSION,
    exported_at: iso(input.now),
    chat: { time_zone: input.zone, remind_before_min: input.settings.remindBeforeMin, digest_time: input.settings.digestTime },
    open: input.open.length,
    done: input.done.length,
  }
  const lines = JSON.stringify(head, null, 2).split('\n')
  lines.pop()
  lines[lines.length - 1] += ','
  const body = tasks.map((t, i) => `    ${jsonTask(t, input.zone)}${i < tasks.length - 1 ? ',' : ''}`)
  return [...lines, '  "tasks": [', ...body, '  ]', '}', ''].join('\n')
}

/** A cell a spreadsheet would evaluate (=, +, -, @, tab, CR first) gets a leading apostrophe; one
 * that already starts with apostrophes before such a character gets one more, so reading it back
 * (strip one) is exact. */
export function guardCell (value: string): string {
  return /^'*[=+\-@\t\r]/.test(value) ? `'${value}` : value
}

function csvCell (value: string): string {
  const guarded = guardCell(value)
  return /[",\r\n]/.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded
}

function writeCsv (input: ExportInput, tasks: readonly Task[]): string {
  const rows = tasks.map((t) => {
    const due = wallDue(t, input.zone)
    return [
      String(t.number), t.doneAt === null ? 'open' : 'done', t.text,
      due === null ? '' : due.time === null ? due.date : `${due.date} ${due.time}`,
      t.repeat === null ? '' : encodeRepeat(t.repeat),
      t.remindBeforeMin === null ? '' : encodeLead(t.remindBeforeMin),
      iso(t.createdAt) ?? '', iso(t.doneAt) ?? '', input.zone,
    ]
  })
  // A byte-order mark, so spreadsheets read the file as UTF-8; lines end CRLF (RFC 4180).
  return '\uFEFF' + [CSV_HEADER, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n'
}

/** `x 2026-11-30 2026-11-20 call mom due:2026-11-30`: completion then creation date (local). */
function todoLine (task: Task, zone: string): string {
  const day = (at: number): string => inZone(at, zone).toISODate() ?? ''
  const parts: string[] = []
  if (task.doneAt !== null) parts.push('x', day(task.doneAt))
  parts.push(day(task.createdAt), task.text)
  const due = wallDue(task, zone)
  if (due !== null) parts.push(`due:${due.date}`, ...(due.time === null ? [] : [`time:${due.time}`]))
  if (task.repeat !== null) parts.push(`rec:${encodeRepeat(task.repeat)}`)
  if (task.remindBeforeMin !== null) parts.push(`remind:${encodeLead(task.remindBeforeMin)}`)
  return parts.join(' ')
}

export function writeExport (format: TransferFormat, input: ExportInput): ExportFile {
  const tasks = [...input.open, ...input.done]
  const stamp = inZone(input.now, input.zone).toISODate() ?? ''
  const counts = { open: input.open.length, done: input.done.length }
  const encode = (text: string): Uint8Array => Buffer.from(text, 'utf8')
  switch (format) {
    case 'json': return { name: `mister-todo-${stamp}.json`, contentType: 'application/json', bytes: encode(writeJson(input, tasks)), ...counts }
    case 'csv': return { name: `mister-todo-${stamp}.csv`, contentType: 'text/csv', bytes: encode(writeCsv(input, tasks)), ...counts }
    case 'todo': return { name: `mister-todo-${stamp}.todo.txt`, contentType: 'text/plain', bytes: encode(tasks.map((t) => todoLine(t, input.zone)).join('\n') + '\n'), ...counts }
  }
}
