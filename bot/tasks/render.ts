// Everything the bot says: HTML-escaped text, messages kept under Telegram's 4096 characters,
// and the inline keyboards of the task list.
import type * as T from 'node-telegram-bot-api/types'
import { encodeButton, type ListView } from './callback-data.js'
import type { Task } from './repository.js'
import { formatDue, isOverdue, type TimeView } from '../time/format.js'
import { describeRepeat } from '../time/repeat.js'

export const MESSAGE_LIMIT = 4096
export const PAGE_SIZE = 10
const SHOWN_TEXT_LIMIT = 300

export type Reply = { text: string, keyboard?: T.InlineKeyboardMarkup }

export function escapeHtml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' })

/** Shortens by whole graphemes, so an emoji or a ZWJ sequence is never cut in half. */
export function shorten (text: string, limit = SHOWN_TEXT_LIMIT): string {
  if (text.length <= limit) return text
  let out = ''
  for (const { segment } of graphemes.segment(text)) {
    if (out.length + segment.length > limit - 1) break
    out += segment
  }
  return `${out}…`
}

/** The visible length Telegram counts: the text with tags removed and entities decoded. */
export function visibleLength (html: string): number {
  return html.replace(/<[^>]*>/g, '').replace(/&(lt|gt|amp|quot);/g, '_').length
}

/** Joins lines into as few messages as possible, each under the limit. */
export function chunkLines (lines: readonly string[], limit = MESSAGE_LIMIT): string[] {
  const chunks: string[] = []
  let current = ''
  for (const line of lines) {
    const candidate = current === '' ? line : `${current}\n${line}`
    if (current !== '' && visibleLength(candidate) > limit) {
      chunks.push(current)
      current = line
    } else {
      current = candidate
    }
  }
  if (current !== '') chunks.push(current)
  return chunks
}

/** " — due Wed 25 Nov 09:00 🔁 every weekday", with a warning when it is overdue. */
export function dueSuffix (task: Pick<Task, 'dueAt' | 'dueHasTime' | 'repeat'>, view: TimeView): string {
  if (task.dueAt === null) return ''
  const due = { at: task.dueAt, hasTime: task.dueHasTime }
  const repeat = task.repeat === null ? '' : ` 🔁 ${describeRepeat(task.repeat)}`
  return ` — ${isOverdue(due, view) ? '⚠️ overdue, was due' : 'due'} ${formatDue(due, view)}${repeat}`
}

export function taskLine (task: Task, view?: TimeView): string {
  const text = escapeHtml(shorten(task.text))
  if (task.doneAt !== null) return `✅ <s>#${task.number} ${text}</s>`
  return `<b>#${task.number}</b> ${text}${view === undefined ? '' : dueSuffix(task, view)}`
}

export function pageCount (total: number): number {
  return Math.max(1, Math.ceil(total / PAGE_SIZE))
}

/** What one page of /list or /all shows: its tasks, and how many there are in all. */
export type ListSlice = { shown: readonly Task[], openCount: number, doneCount: number, page: number }

/** Which page to show of `total` tasks (a stale page number lands on the last page). */
export function clampPage (requestedPage: number, total: number): number {
  return Math.min(Math.max(requestedPage, 0), pageCount(total) - 1)
}

/** One page of /list or /all, with a done/reopen and a delete button per task. */
export function listPage (slice: ListSlice, view: ListView, time?: TimeView): Reply {
  const { shown, openCount, doneCount, page } = slice
  const pages = pageCount(view === 'all' ? openCount + doneCount : openCount)
  if (shown.length === 0) {
    return { text: view === 'all' ? 'No tasks yet. Send me a message to add one.' : 'Nothing to do 🎉 Send me a message to add a task.' }
  }
  const title = view === 'all'
    ? `<b>All tasks</b> (${openCount} open, ${doneCount} done recently)`
    : `<b>Your tasks</b> (${openCount} open)`
  const header = pages > 1 ? `${title} · page ${page + 1}/${pages}` : title
  const rows: T.InlineKeyboardButton[][] = shown.map((task) => [
    task.doneAt === null
      ? { text: `✓ ${task.number}`, callback_data: encodeButton({ kind: 'done', taskId: task.id, page, view }) }
      : { text: `↩ ${task.number}`, callback_data: encodeButton({ kind: 'reopen', taskId: task.id, page, view }) },
    { text: `🗑 ${task.number}`, callback_data: encodeButton({ kind: 'delete', taskId: task.id, page, view }) },
  ])
  if (pages > 1) {
    const nav: T.InlineKeyboardButton[] = []
    if (page > 0) nav.push({ text: '‹ Prev', callback_data: encodeButton({ kind: 'page', page: page - 1, view }) })
    if (page < pages - 1) nav.push({ text: 'Next ›', callback_data: encodeButton({ kind: 'page', page: page + 1, view }) })
    rows.push(nav)
  }
  return { text: [header, '', ...shown.map((task) => taskLine(task, time))].join('\n'), keyboard: { inline_keyboard: rows } }
}

export function undoKeyboard (batch: number): T.InlineKeyboardMarkup {
  return { inline_keyboard: [[{ text: '↩ Undo', callback_data: encodeButton({ kind: 'undo', batch }) }]] }
}

export function clearKeyboard (): T.InlineKeyboardMarkup {
  return {
    inline_keyboard: [[
      { text: 'Yes, remove them', callback_data: encodeButton({ kind: 'clear', confirmed: true }) },
      { text: 'Cancel', callback_data: encodeButton({ kind: 'clear', confirmed: false }) },
    ]],
  }
}

export function numberList (numbers: readonly number[]): string {
  return numbers.map((n) => `#${n}`).join(', ')
}
