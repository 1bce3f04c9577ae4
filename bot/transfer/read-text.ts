// Reads the line formats: todo.txt (completion and creation dates, due:/time:/rec:/remind: tags),
// plain text (one task per line, dates read from the words as in a message) and CSV with a header
// row naming a "text" column (as /export csv writes it; the formula escape is undone).
import { MAX_TASK_LENGTH, cleanTaskText } from '../tasks/parse.js'
import { MAX_REMIND_BEFORE_MIN } from '../time/parse-due.js'
import { decodeLead, decodeRepeat, ImportError, isDate, isTime, MAX_IMPORT_TASKS, type PortableTask, type WallDue } from './portable.js'

type Counter = { count: number }

function checkedText (raw: string, line: number): string {
  const text = cleanTaskText(raw)
  if (text.length > MAX_TASK_LENGTH) throw new ImportError(line, `the task is ${text.length.toLocaleString('en-US')} characters long; a task can be at most ${MAX_TASK_LENGTH.toLocaleString('en-US')}.`)
  return text
}

function counted (counter: Counter, line: number): void {
  if (++counter.count > MAX_IMPORT_TASKS) throw new ImportError(line, `more than ${MAX_IMPORT_TASKS.toLocaleString('en-US')} tasks; split the file and import the parts one by one.`)
}

const blank = (): Omit<PortableTask, 'text' | 'line'> => ({ number: null, done: false, createdAt: null, completedAt: null, due: null, repeat: null, remindBeforeMin: null, natural: false })

export function readPlain (text: string): PortableTask[] {
  const out: PortableTask[] = []
  const counter = { count: 0 }
  text.split('\n').forEach((raw, i) => {
    const task = checkedText(raw, i + 1)
    if (task === '') return
    counted(counter, i + 1)
    out.push({ ...blank(), text: task, natural: true, line: i + 1 })
  })
  return out
}

const DAY = '\\d{4}-\\d{2}-\\d{2}'
const TODO_HEAD = new RegExp(`^(?:(x) (?:(${DAY}) )?(?:(${DAY}) )?|(?:\\(([A-Z])\\) )?(?:(${DAY}) )?)`)
const TAG = /(?:^|\s)(due|time|rec|remind):(\S+)/g

/** A date of the file as an instant for created/completed: noon UTC, the same calendar day from
 * UTC−12 to UTC+11. */
const dayInstant = (date: string): number => Date.parse(`${date}T12:00:00Z`)

function checkDate (date: string | undefined, line: number): string | undefined {
  if (date !== undefined && !isDate(date)) throw new ImportError(line, `${date} is not a date.`)
  return date
}

function todoTask (raw: string, line: number): PortableTask | undefined {
  const head = TODO_HEAD.exec(raw)
  const [whole = '', done, completed, createdDone, priority, createdOpen] = head ?? []
  let rest = raw.slice(whole.length)
  const task: Omit<PortableTask, 'text' | 'line'> = { ...blank(), done: done === 'x' }
  // "x 2026-11-30 call" has one date: the completion date (todo.txt spec).
  const completedDate = checkDate(completed, line)
  const createdDate = checkDate(done === 'x' ? createdDone : createdOpen, line)
  if (completedDate !== undefined) task.completedAt = dayInstant(completedDate)
  if (createdDate !== undefined) task.createdAt = dayInstant(createdDate)
  if (priority !== undefined) rest = `(${priority}) ${rest}`
  let date: string | undefined
  let time: string | undefined
  for (const [, key, value = ''] of rest.matchAll(TAG)) {
    if (key === 'due') {
      if (!isDate(value)) throw new ImportError(line, `due:${value.slice(0, 20)} is not a date like due:2026-11-30.`)
      date = value
    } else if (key === 'time') {
      if (!isTime(value)) throw new ImportError(line, `time:${value.slice(0, 20)} is not a time like time:09:00.`)
      time = value
    } else if (key === 'rec') {
      const rule = decodeRepeat(value)
      if (typeof rule === 'string') throw new ImportError(line, `${rule}.`)
      task.repeat = rule
    } else {
      const lead = decodeLead(value, MAX_REMIND_BEFORE_MIN)
      if (typeof lead === 'string') throw new ImportError(line, `${lead}.`)
      task.remindBeforeMin = lead
    }
  }
  const text = checkedText(rest.replace(TAG, ' '), line)
  if (text === '') {
    if (raw.trim() === '') return undefined
    throw new ImportError(line, 'the line has no task text.')
  }
  if (time !== undefined && date === undefined) throw new ImportError(line, `time:${time} needs a due: date.`)
  const due: WallDue | null = date === undefined ? null : { date, time: time ?? null }
  if (task.repeat !== null && due === null) throw new ImportError(line, 'rec: needs a due: date.')
  return { ...task, due, text, line }
}

export function readTodo (text: string): PortableTask[] {
  const out: PortableTask[] = []
  const counter = { count: 0 }
  text.split('\n').forEach((raw, i) => {
    if (cleanTaskText(raw) === '') return
    counted(counter, i + 1)
    const task = todoTask(raw, i + 1)
    if (task !== undefined) out.push(task)
  })
  return out
}

/** RFC 4180 records with the line each starts on; quoted cells may hold commas, quotes, newlines. */
export function csvRecords (text: string): Array<{ line: number, cells: string[] }> {
  const records: Array<{ line: number, cells: string[] }> = []
  let cells: string[] = []
  let cell = ''
  let quoted = false
  let line = 1
  let start = 1
  let atCellStart = true
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\n') line++
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++ } else if (c === '"') quoted = false
      else cell += c
      continue
    }
    if (c === '"' && atCellStart) { quoted = true; atCellStart = false; continue }
    if (c === ',') { cells.push(cell); cell = ''; atCellStart = true; continue }
    if (c === '\r' && text[i + 1] === '\n') continue
    if (c === '\n') {
      cells.push(cell)
      records.push({ line: start, cells })
      cells = []; cell = ''; atCellStart = true; start = line
      continue
    }
    cell += c
    atCellStart = false
  }
  if (quoted) throw new ImportError(start, 'a quoted CSV cell is never closed.')
  if (cell !== '' || cells.length > 0) records.push({ line: start, cells: [...cells, cell] })
  return records
}

const unguard = (cell: string): string => /^'+[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell

function csvDue (value: string, line: number): WallDue | null {
  if (value === '') return null
  const [date = '', time] = value.split(/[ T]/)
  if (!isDate(date) || (time !== undefined && !isTime(time))) throw new ImportError(line, `due “${value.slice(0, 20)}” is not like 2026-11-30 or 2026-11-30 09:00.`)
  return { date, time: time ?? null }
}

export function readCsv (text: string): PortableTask[] {
  const [header, ...rows] = csvRecords(text)
  const names = (header?.cells ?? []).map((c) => c.trim().toLowerCase())
  const col = (name: string): number => names.indexOf(name)
  if (col('text') < 0) throw new ImportError(1, 'the first row must name the columns, with one called "text" (as /export csv writes it).')
  const cell = (cells: string[], name: string): string => col(name) < 0 ? '' : unguard(cells[col(name)] ?? '').trim()
  const out: PortableTask[] = []
  const counter = { count: 0 }
  for (const { line, cells } of rows) {
    if (cells.every((c) => c.trim() === '')) continue
    counted(counter, line)
    const text = checkedText(cell(cells, 'text'), line)
    if (text === '') throw new ImportError(line, 'the "text" cell is empty.')
    const number = cell(cells, 'number')
    if (number !== '' && !/^\d{1,9}$/.test(number)) throw new ImportError(line, `number “${number.slice(0, 20)}” is not a task number.`)
    const status = cell(cells, 'status').toLowerCase()
    if (!['', 'open', 'done', 'x'].includes(status)) throw new ImportError(line, `status “${status.slice(0, 20)}” must be open or done.`)
    const repeat = cell(cells, 'repeat') === '' ? null : decodeRepeat(cell(cells, 'repeat'))
    if (typeof repeat === 'string') throw new ImportError(line, `${repeat}.`)
    const lead = cell(cells, 'remind_before') === '' ? null : decodeLead(cell(cells, 'remind_before'), MAX_REMIND_BEFORE_MIN)
    if (typeof lead === 'string') throw new ImportError(line, `${lead}.`)
    const due = csvDue(cell(cells, 'due'), line)
    if (repeat !== null && due === null) throw new ImportError(line, 'a repeating task needs a due date.')
    const when = (name: string): number | null => {
      const value = cell(cells, name)
      if (value === '') return null
      const at = Date.parse(value)
      if (!Number.isFinite(at)) throw new ImportError(line, `${name} “${value.slice(0, 30)}” is not a date and time.`)
      return at
    }
    out.push({ number: number === '' ? null : Number(number), text, done: status === 'done' || status === 'x', createdAt: when('created'), completedAt: when('completed'), due, repeat, remindBeforeMin: lead, natural: false, line })
  }
  return out
}
