// /export and /import: the chat's tasks out as a file (through the outbox, like every reply), and
// a file in as new tasks. The file to import was fetched before the transaction (turn.attachment);
// here it is read and stored in one go, or refused whole with the line and the problem.
import { UserInputError } from '../errors.js'
import { taskLine } from '../tasks/render.js'
import type { NewTask, Task } from '../tasks/repository.js'
import { ImportError, MAX_IMPORT_BYTES, MAX_IMPORT_TASKS, type PortableTask, type TransferFormat } from '../transfer/portable.js'
import { formatSize, readImport } from '../transfer/read.js'
import { writeExport } from '../transfer/write.js'
import { wallClockToInstant } from '../time/zone.js'
import type { Turn } from '../turn.js'
import { datedText, withReminder } from './schedule.js'
import type { CommandSpec } from './types.js'

/** Telegram takes uploads from bots up to 50 MB. 10,000 tasks of 1,000 characters stay below it. */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024
/** How many imported tasks the reply lists one by one; the rest are summed up. */
export const LISTED_IMPORTS = 20

const FORMATS: Record<string, TransferFormat> = { '': 'json', json: 'json', csv: 'csv', todo: 'todo', 'todo.txt': 'todo', txt: 'todo' }
const LABELS: Record<TransferFormat, string> = { json: 'JSON', csv: 'CSV', todo: 'todo.txt' }
const IMPORT_HOW = `Send me a file with /import as its caption, or reply /import to a file you sent. I read the JSON or CSV from /export, todo.txt, and plain text (one task per line), up to ${formatSize(MAX_IMPORT_BYTES)} and ${MAX_IMPORT_TASKS.toLocaleString('en-US')} tasks.`

const plural = (n: number, word: string): string => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`

async function exportTasks (turn: Turn, args: string): Promise<void> {
  const format = FORMATS[args.trim().toLowerCase()]
  if (format === undefined) throw new UserInputError(`I export as JSON (/export), CSV (/export csv) or todo.txt (/export todo), not “${args.slice(0, 20)}”.`)
  const open = await turn.tasks.open(turn.chatId)
  const done = await turn.tasks.doneSince(turn.chatId, 0)
  if (open.length + done.length === 0) {
    turn.reply('Nothing to export yet: this chat has no tasks.')
    return
  }
  const file = writeExport(format, { open, done, zone: turn.zone, settings: turn.settings, now: turn.now })
  if (file.bytes.length > MAX_UPLOAD_BYTES) {
    throw new UserInputError(`The ${LABELS[format]} file would be ${formatSize(file.bytes.length)}, over the ${formatSize(MAX_UPLOAD_BYTES)} Telegram takes from bots. /export todo writes the smallest file; the operator can export any size with ops/export.mjs.`)
  }
  const tooBigToImport = file.bytes.length > MAX_IMPORT_BYTES
    ? ` At ${formatSize(file.bytes.length)} it is over the ${formatSize(MAX_IMPORT_BYTES)} /import reads: /export todo writes a smaller file.`
    : ''
  turn.replyDocument(file, `📦 ${plural(open.length + done.length, 'task')} (${open.length.toLocaleString('en-US')} open, ${done.length.toLocaleString('en-US')} done) as ${LABELS[format]}. Send it back with /import to restore them in any chat.${tooBigToImport}`)
}

/** The file's tasks as new ones of this chat: dates on the chat's wall clock, done ones stay done. */
function toNewTask (turn: Turn, p: PortableTask): NewTask {
  if (p.natural) return datedText(turn, p.text) ?? { text: p.text }
  const [year, month, day] = (p.due?.date ?? '').split('-').map(Number)
  const [hour, minute] = (p.due?.time ?? '00:00').split(':').map(Number)
  const dueAt = p.due === null ? null : wallClockToInstant({ year: year ?? 1970, month: month ?? 1, day: day ?? 1, hour: hour ?? 0, minute: minute ?? 0 }, turn.zone)
  const schedule = { dueAt, dueHasTime: p.due?.time != null, repeat: p.repeat, remindBeforeMin: p.remindBeforeMin }
  const base = { text: p.text, ...(p.createdAt === null ? {} : { createdAt: p.createdAt }) }
  return p.done
    ? { ...base, ...schedule, remindAt: null, doneAt: p.completedAt ?? turn.now }
    : { ...base, ...withReminder(turn, schedule) }
}

function importedLine (task: Task, from: PortableTask, turn: Turn): string {
  return `${taskLine(task, turn.view)}${from.number === null ? '' : ` (was #${from.number})`}`
}

async function importTasks (turn: Turn): Promise<void> {
  const a = turn.attachment
  if (a === undefined) throw new UserInputError(IMPORT_HOW)
  if (a.status === 'too-big') throw new ImportError(null, `the file is ${formatSize(a.size)}; I import files up to ${formatSize(MAX_IMPORT_BYTES)}. Split it into parts.`)
  if (a.status === 'unavailable') throw new UserInputError(`I could not fetch the file from Telegram (${a.reason}). Nothing was imported: reply /import to the file to try again.`)
  const { kind, tasks } = readImport(a.name, a.bytes)
  // Numbered files keep their order of numbers; the others their order of lines.
  const ordered = tasks.every((t) => t.number !== null) ? [...tasks].sort((x, y) => (x.number ?? 0) - (y.number ?? 0)) : tasks
  const added = await turn.tasks.add(turn.chatId, ordered.map((p) => toNewTask(turn, p)))
  const done = added.filter((t) => t.doneAt !== null).length
  const lines = added.slice(0, LISTED_IMPORTS).map((task, i) => importedLine(task, ordered[i]!, turn))
  if (added.length > LISTED_IMPORTS) {
    lines.push(`… and ${plural(added.length - LISTED_IMPORTS, 'more task')}: #${added[LISTED_IMPORTS]?.number}–#${added.at(-1)?.number}, in the file's order.`)
  }
  turn.replyLines([`📥 Imported ${plural(added.length, 'task')} from ${kind} (${(added.length - done).toLocaleString('en-US')} open, ${done.toLocaleString('en-US')} done):`, ...lines])
}

export const transferCommands: CommandSpec[] = [
  { name: 'export', description: 'Your tasks as a file: /export, /export csv, /export todo', handler: exportTasks },
  { name: 'import', description: 'Add tasks from a file: send it with /import as caption', handler: (turn) => importTasks(turn) },
]
