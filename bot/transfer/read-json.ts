// Reads the JSON that /export writes (or any JSON with a "tasks" list of the same shape). Every
// problem names the line where the task starts; JSON.parse errors name the line of the position.
import { MAX_TASK_LENGTH, cleanTaskText } from '../tasks/parse.js'
import { MAX_REMIND_BEFORE_MIN } from '../time/parse-due.js'
import { checkRepeat, ImportError, isDate, isTime, MAX_IMPORT_TASKS, type PortableTask, type WallDue } from './portable.js'

const lineAt = (text: string, offset: number): number => {
  let line = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

function parseOrExplain (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    const position = /at position (\d+)/.exec(message)
    const line = position === null ? lineAt(text, text.trimEnd().length) : lineAt(text, Number(position[1]))
    const what = message.replace(/\s*in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '').slice(0, 120)
    throw new ImportError(line, `this is not valid JSON (${what}).`)
  }
}

/** The line each element of the top-level "tasks" array starts on (or of a top-level array). */
function elementLines (text: string, topLevelArray: boolean): number[] {
  const lines: number[] = []
  let line = 1
  let depth = 0
  let inString = false
  let lastString = ''
  let stringStart = 0
  let arrayDepth = topLevelArray ? 1 : -1
  let expectElement = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\n') line++
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') {
        inString = false
        lastString = text.slice(stringStart, i)
      }
      continue
    }
    if (c === '"') {
      if (expectElement && depth === arrayDepth) { lines.push(line); expectElement = false }
      inString = true
      stringStart = i + 1
      continue
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') continue
    if (c === '[' && arrayDepth < 0 && depth === 1 && lastString === 'tasks') arrayDepth = depth + 1
    if (expectElement && depth === arrayDepth && c !== ']') { lines.push(line); expectElement = false }
    if (c === '[' || c === '{') {
      depth++
      if (depth === arrayDepth && c === '[') expectElement = true
    } else if (c === ']' || c === '}') {
      depth--
      expectElement = false
    } else if (c === ',' && depth === arrayDepth) {
      expectElement = true
    }
  }
  return lines
}

const instant = (value: unknown, field: string, line: number | null): number | null => {
  if (value === null || value === undefined) return null
  const at = typeof value === 'string' ? Date.parse(value) : NaN
  if (!Number.isFinite(at)) throw new ImportError(line, `${field} must be a date and time like "2026-11-20T10:00:00.000Z".`)
  return at
}

function readDue (value: unknown, line: number | null): WallDue | null {
  if (value === null || value === undefined) return null
  const due = value as Record<string, unknown>
  if (typeof value !== 'object' || typeof due.date !== 'string' || !isDate(due.date)) throw new ImportError(line, 'due must be like {"date":"2026-11-30","time":"09:00"} (time may be null).')
  if (due.time !== null && due.time !== undefined && (typeof due.time !== 'string' || !isTime(due.time))) throw new ImportError(line, `due.time “${String(due.time).slice(0, 20)}” is not a time like "09:00".`)
  return { date: due.date, time: typeof due.time === 'string' ? due.time : null }
}

function readTask (value: unknown, line: number | null): PortableTask {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ImportError(line, 'each task must be an object like {"text":"call mom"}.')
  const t = value as Record<string, unknown>
  if (typeof t.text !== 'string') throw new ImportError(line, 'the task has no "text".')
  const text = cleanTaskText(t.text)
  if (text === '') throw new ImportError(line, 'the task text is empty.')
  if (text.length > MAX_TASK_LENGTH) throw new ImportError(line, `the task text is ${text.length.toLocaleString('en-US')} characters long; a task can be at most ${MAX_TASK_LENGTH.toLocaleString('en-US')}.`)
  if (t.number !== undefined && t.number !== null && (typeof t.number !== 'number' || !Number.isInteger(t.number) || t.number < 1)) throw new ImportError(line, '"number" must be a whole number from 1.')
  if (t.done !== undefined && typeof t.done !== 'boolean') throw new ImportError(line, '"done" must be true or false.')
  const due = readDue(t.due, line)
  const repeat = t.repeat === null || t.repeat === undefined ? null : checkRepeat(t.repeat)
  if (typeof repeat === 'string') throw new ImportError(line, `${repeat}.`)
  if (repeat !== null && due === null) throw new ImportError(line, 'a repeating task needs a due date.')
  const lead = t.remind_before_min
  if (lead !== null && lead !== undefined && (typeof lead !== 'number' || !Number.isInteger(lead) || lead < 0 || lead > MAX_REMIND_BEFORE_MIN)) throw new ImportError(line, `"remind_before_min" must be whole minutes from 0 to ${MAX_REMIND_BEFORE_MIN}.`)
  return {
    number: typeof t.number === 'number' ? t.number : null,
    text,
    done: t.done === true,
    createdAt: instant(t.created_at, '"created_at"', line),
    completedAt: instant(t.completed_at, '"completed_at"', line),
    due,
    repeat,
    remindBeforeMin: typeof lead === 'number' ? lead : null,
    natural: false,
    line: line ?? 0,
  }
}

export function readJson (text: string): PortableTask[] {
  const data = parseOrExplain(text)
  const list = Array.isArray(data) ? data : data !== null && typeof data === 'object' ? (data as Record<string, unknown>).tasks : undefined
  if (!Array.isArray(list)) throw new ImportError(1, 'a JSON file needs a "tasks" list, as /export writes it.')
  const lines = elementLines(text, Array.isArray(data))
  if (list.length > MAX_IMPORT_TASKS) throw new ImportError(lines[MAX_IMPORT_TASKS] ?? null, `more than ${MAX_IMPORT_TASKS.toLocaleString('en-US')} tasks; split the file and import the parts one by one.`)
  return list.map((value, i) => readTask(value, lines[i] ?? null))
}
