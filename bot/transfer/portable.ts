// The task as it travels in a file, whatever the format: due dates on the wall clock ("2026-11-30",
// "09:00") so an import keeps their local time, as /tz does; the limits of an import; and the one
// error an import can fail with, naming the line.
import { UserInputError } from '../errors.js'
import type { RepeatRule, RepeatUnit } from '../time/repeat.js'
import { MAX_EVERY } from '../time/repeat.js'

/** An import reads files up to this size (Telegram lets bots download up to 20 MB). */
export const MAX_IMPORT_BYTES = 1024 * 1024
export const MAX_IMPORT_TASKS = 10_000

export type WallDue = { date: string, time: string | null }

export type PortableTask = {
  /** The task's number in the file, shown beside its new number. */
  number: number | null
  text: string
  done: boolean
  createdAt: number | null
  completedAt: number | null
  due: WallDue | null
  repeat: RepeatRule | null
  remindBeforeMin: number | null
  /** Plain text: the date phrase is read from the text, as when the line is sent as a message. */
  natural: boolean
  /** Where the task starts in the file (1-based). */
  line: number
}

export type TransferFormat = 'json' | 'csv' | 'todo'

/** "line 12: …" — what is wrong, where; the whole import is refused. */
export class ImportError extends UserInputError {
  constructor (readonly line: number | null, problem: string) {
    super(`Nothing was imported: ${line === null ? '' : `line ${line.toLocaleString('en-US')}: `}${problem}`)
  }
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/

export function isDate (text: string): boolean {
  const m = DATE.exec(text)
  if (m === null) return false
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])))
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3])
}

export function isTime (text: string): boolean {
  return TIME.test(text)
}

const UNIT_CODES: Record<RepeatUnit, string> = { day: 'd', weekday: 'b', week: 'w', month: 'm', year: 'y' }
const WEEKDAY_CODES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']

/** A repeat as a short code for CSV and todo.txt (`rec:` as topydo writes it, b = weekdays):
 * `1d`, `1b`, `2w`, `1w-mon` (every Monday), `1m-15` (every month on the 15th), `1y`. */
export function encodeRepeat (rule: RepeatRule): string {
  const anchor = rule.weekday !== undefined ? `-${WEEKDAY_CODES[rule.weekday - 1] ?? ''}` : rule.dayOfMonth !== undefined ? `-${rule.dayOfMonth}` : ''
  return `${rule.every}${UNIT_CODES[rule.unit]}${anchor}`
}

/** The rule of a code, or a sentence saying what is wrong with it. */
export function decodeRepeat (code: string): RepeatRule | string {
  const m = /^\+?(\d{1,3})?([dbwmy])(?:-([a-z]{3}|\d{1,2}))?$/i.exec(code.trim())
  const usage = `“${code.slice(0, 20)}” is not a repeat: use 1d, 1b (weekdays), 2w, 1w-mon, 1m-15 or 1y`
  if (m === null) return usage
  const every = Number(m[1] ?? '1')
  const unit = (Object.keys(UNIT_CODES) as RepeatUnit[]).find((u) => UNIT_CODES[u] === (m[2] ?? '').toLowerCase()) ?? 'day'
  if (every < 1 || every > MAX_EVERY) return `a repeat every ${every} ${unit}s is out of range (1–${MAX_EVERY})`
  const rule: RepeatRule = { unit, every: unit === 'weekday' ? 1 : every }
  const anchor = m[3]?.toLowerCase()
  if (anchor === undefined) return rule
  if (unit === 'week' && WEEKDAY_CODES.includes(anchor)) return { ...rule, weekday: WEEKDAY_CODES.indexOf(anchor) + 1 }
  if (unit === 'month' && /^\d+$/.test(anchor) && Number(anchor) >= 1 && Number(anchor) <= 31) return { ...rule, dayOfMonth: Number(anchor) }
  return usage
}

/** A rule read from JSON, checked field by field; a string says what is wrong. */
export function checkRepeat (value: unknown): RepeatRule | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'repeat must be an object like {"unit":"week","every":1}'
  const r = value as Record<string, unknown>
  if (typeof r.unit !== 'string' || !(r.unit in UNIT_CODES)) return 'repeat.unit must be one of day, weekday, week, month, year'
  if (typeof r.every !== 'number' || !Number.isInteger(r.every) || r.every < 1 || r.every > MAX_EVERY) return `repeat.every must be a whole number from 1 to ${MAX_EVERY}`
  const rule: RepeatRule = { unit: r.unit as RepeatUnit, every: r.every }
  if (r.weekday !== undefined) {
    if (rule.unit !== 'week' || typeof r.weekday !== 'number' || !Number.isInteger(r.weekday) || r.weekday < 1 || r.weekday > 7) return 'repeat.weekday must be 1 (Monday) to 7 (Sunday), on a weekly repeat'
    rule.weekday = r.weekday
  }
  if (r.dayOfMonth !== undefined) {
    if (rule.unit !== 'month' || typeof r.dayOfMonth !== 'number' || !Number.isInteger(r.dayOfMonth) || r.dayOfMonth < 1 || r.dayOfMonth > 31) return 'repeat.dayOfMonth must be 1 to 31, on a monthly repeat'
    rule.dayOfMonth = r.dayOfMonth
  }
  return rule
}

/** "30m", "2h", "1d" for a reminder lead in minutes. */
export function encodeLead (minutes: number): string {
  if (minutes > 0 && minutes % 1440 === 0) return `${minutes / 1440}d`
  if (minutes > 0 && minutes % 60 === 0) return `${minutes / 60}h`
  return `${minutes}m`
}

export function decodeLead (text: string, max: number): number | string {
  const m = /^(\d{1,5})([mhd])$/i.exec(text.trim())
  if (m === null) return `“${text.slice(0, 20)}” is not a reminder lead: use 30m, 2h or 1d`
  const minutes = Number(m[1]) * ({ m: 1, h: 60, d: 1440 } as Record<string, number>)[(m[2] ?? 'm').toLowerCase()]!
  return minutes > max ? `a reminder lead of ${text} is more than 30 days` : minutes
}
