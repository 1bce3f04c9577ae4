// The to-do commands: add, list, all, done, undo, edit, del, clear.
import { UserInputError } from '../errors.js'
import { parseEdit, parseTaskNumbers, taskLines } from '../tasks/parse.js'
import type { ListView } from '../tasks/callback-data.js'
import { clampPage, clearKeyboard, dueSuffix, escapeHtml, listPage, numberList, PAGE_SIZE, shorten, taskLine, undoKeyboard, type Reply } from '../tasks/render.js'
import type { Task } from '../tasks/repository.js'
import type { Turn } from '../turn.js'
import { addNextOccurrences, datedText } from './schedule.js'
import type { CommandSpec } from './types.js'

export const RECENTLY_DONE_MS = 7 * 24 * 3600 * 1000

export async function addTasks (turn: Turn, text: string): Promise<void> {
  const lines = taskLines(text)
  if (lines.length === 0) throw new UserInputError('What should I add? Example: /add buy milk (or just send the task as a message).')
  const added = await turn.tasks.add(turn.chatId, lines.map((line) => datedText(turn, line) ?? { text: line }))
  const head = added.length === 1 ? 'Added:' : `Added ${added.length} tasks:`
  turn.replyLines([head, ...added.map((task) => taskLine(task, turn.view))])
}

/** The page of /list or /all to show: only its rows are read (a chat may hold thousands). */
export async function loadListPage (turn: Turn, view: ListView, requestedPage: number): Promise<Reply> {
  // The requested page is read with the count: one statement when the page exists, as it
  // nearly always does (a page past the end is clamped below and read again).
  const asked = requestedPage >= 0 ? await turn.tasks.openPageCounted(turn.chatId, requestedPage * PAGE_SIZE, PAGE_SIZE) : undefined
  const openCount = asked?.count ?? await turn.tasks.countOpen(turn.chatId)
  const done = view === 'all' ? await turn.tasks.doneSince(turn.chatId, turn.now - RECENTLY_DONE_MS) : []
  const page = clampPage(requestedPage, openCount + done.length)
  const start = page * PAGE_SIZE
  const open = page === requestedPage && asked !== undefined ? asked.tasks : start < openCount ? await turn.tasks.openPage(turn.chatId, start, PAGE_SIZE) : []
  const doneStart = Math.max(0, start - openCount)
  const shown = [...open, ...done.slice(doneStart, doneStart + PAGE_SIZE - open.length)]
  return listPage({ shown, openCount, doneCount: done.length, page }, view, turn.view)
}

export async function showList (turn: Turn, view: ListView, page = 0): Promise<void> {
  const reply = await loadListPage(turn, view, page)
  turn.reply(reply.text, reply.keyboard)
}

/** Looks the numbers up in this chat (with `lookup`, by default a plain read); names the ones that do not exist. */
async function findTasks (turn: Turn, numbers: readonly number[], lookup = (n: readonly number[]) => turn.tasks.byNumbers(turn.chatId, n)): Promise<{ found: Task[], missing: number[] }> {
  const found = await lookup(numbers)
  const have = new Set(found.map((t) => t.number))
  return { found, missing: numbers.filter((n) => !have.has(n)) }
}

function missingLine (missing: readonly number[]): string[] {
  if (missing.length === 0) return []
  return [missing.length === 1 ? `There is no task ${numberList(missing)}.` : `There are no tasks ${numberList(missing)}.`]
}

async function done (turn: Turn, args: string): Promise<void> {
  // Found and completed at once: `found` is as the tasks were before.
  const { found, missing } = await findTasks(turn, parseTaskNumbers(args, 'done'), (n) => turn.tasks.completeByNumbers(turn.chatId, n))
  const already = found.filter((t) => t.doneAt !== null)
  const todo = found.filter((t) => t.doneAt === null)
  const next = await addNextOccurrences(turn, todo)
  turn.replyLines([
    ...todo.map((t) => `✅ Done: <b>#${t.number}</b> ${escapeHtml(shorten(t.text))}`),
    ...next,
    ...already.map((t) => `#${t.number} was already done.`),
    ...missingLine(missing),
  ])
}

async function undo (turn: Turn, args: string): Promise<void> {
  const { found, missing } = await findTasks(turn, parseTaskNumbers(args, 'undo'))
  const reopen = found.filter((t) => t.doneAt !== null)
  const open = found.filter((t) => t.doneAt === null)
  await turn.tasks.reopen(turn.chatId, reopen.map((t) => t.id))
  turn.replyLines([
    ...reopen.map((t) => `↩ Reopened: <b>#${t.number}</b> ${escapeHtml(shorten(t.text))}`),
    ...open.map((t) => `#${t.number} is not done, nothing to undo.`),
    ...missingLine(missing),
  ])
}

async function edit (turn: Turn, args: string): Promise<void> {
  const { number, text } = parseEdit(args)
  const [task] = await turn.tasks.byNumbers(turn.chatId, [number])
  if (task === undefined) throw new UserInputError(`There is no task #${number}.`)
  // A date in the new text moves the due date; without one the due date stays as it was.
  const dated = datedText(turn, text)
  await turn.tasks.edit(turn.chatId, task.id, dated?.text ?? text)
  if (dated !== undefined) await turn.tasks.setSchedule(turn.chatId, task.id, dated)
  const [updated] = await turn.tasks.byNumbers(turn.chatId, [number])
  turn.reply(`✏️ <b>#${number}</b> now says: ${escapeHtml(shorten(updated?.text ?? text))}${updated === undefined ? '' : dueSuffix(updated, turn.view)}`)
}

async function del (turn: Turn, args: string): Promise<void> {
  const { found, missing } = await findTasks(turn, parseTaskNumbers(args, 'del'))
  await turn.tasks.remove(turn.chatId, found.map((t) => t.id), turn.updateId)
  turn.replyLines([
    ...found.map((t) => `🗑 Deleted: <b>#${t.number}</b> ${escapeHtml(shorten(t.text))}`),
    ...missingLine(missing),
  ], found.length > 0 ? undoKeyboard(turn.updateId) : undefined)
}

async function clear (turn: Turn, args: string): Promise<void> {
  if (args !== '') throw new UserInputError('/clear takes no arguments: it offers to remove all completed tasks.')
  const count = await turn.tasks.countDone(turn.chatId)
  if (count === 0) {
    turn.reply('There are no completed tasks to remove.')
    return
  }
  turn.reply(`Remove ${count} completed task${count === 1 ? '' : 's'}?`, clearKeyboard())
}

export const taskCommands: CommandSpec[] = [
  { name: 'add', description: 'Add tasks, one per line', handler: (turn, args) => addTasks(turn, args) },
  { name: 'list', description: 'Open tasks', handler: (turn) => showList(turn, 'open') },
  { name: 'all', description: 'Open and recently completed tasks', handler: (turn) => showList(turn, 'all') },
  { name: 'done', description: 'Complete tasks: /done 3, /done 3 5, /done 3-6', handler: done },
  { name: 'undo', description: 'Reopen a completed task: /undo 3', handler: undo },
  { name: 'edit', description: 'Change a task: /edit 3 new text', handler: edit },
  { name: 'del', description: 'Delete tasks: /del 3', handler: del },
  { name: 'clear', description: 'Remove all completed tasks', handler: clear },
]
