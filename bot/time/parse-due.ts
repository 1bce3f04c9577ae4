// Reads a due date, a repeat and a reminder lead out of a task's text, the way people write them:
// "pay rent tomorrow 9am", "standup every weekday 9:00", "dentist 3 dec 14:30 remind 30m before".
// Dates come from chrono-node, read on the chat's wall clock; only a date phrase at the start or
// the end of the text counts, so "watch 24 hours movie" stays a plain task.
import * as chrono from 'chrono-node/en'
import { DateTime } from 'luxon'
import { alignToRule, extractRepeat, type RepeatRule } from './repeat.js'
import { inZone, wallClockToInstant } from './zone.js'

export type Due = { at: number, hasTime: boolean }
export type ParsedDue = {
  /** The task text without the date, repeat and reminder phrases. */
  text: string
  due?: Due
  repeat?: RepeatRule
  remindBeforeMin?: number
}

export const MAX_REMIND_BEFORE_MIN = 30 * 24 * 60

const REMIND = /(?:^|\s)remind(?:\s+me)?\s+(\d{1,5})\s*(m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s+(?:before|early|earlier)(?=\s|$|[,.;!])/i
// Words that belong to the date phrase when they stand right before it at the end of the text.
const LEAD_IN = /\s+(?:on|at|by|due|until|till|before|for)$/i
// Casual words chrono gives an hour to ("tonight" → 22:00); other casual words ("tomorrow") are days.
const AMBIGUOUS_OPENERS = /^(night|morning|evening|afternoon|noon|midnight|now)$/i
const TIME_OF_DAY_TAGS = ['tonight', 'morning', 'afternoon', 'evening', 'noon', 'midnight', 'now'].map((w) => `casualReference/${w}`)

function minutesOf (amount: number, unit: string): number {
  const u = unit.toLowerCase()
  if (u.startsWith('w')) return amount * 7 * 24 * 60
  if (u.startsWith('d')) return amount * 24 * 60
  if (u.startsWith('h')) return amount * 60
  return amount
}

function extractRemind (text: string): { minutes: number, rest: string } | undefined {
  const m = REMIND.exec(text)
  if (m === null) return undefined
  const minutes = minutesOf(Number(m[1]), m[2] ?? 'm')
  if (minutes > MAX_REMIND_BEFORE_MIN) return undefined
  // The punctuation that set the lead off goes with it ("remind 1h before, dentist …").
  const before = text.slice(0, m.index).replace(/[\s,;:]+$/, '')
  const after = text.slice(m.index + m[0].length).replace(/^[\s,;:]+/, '')
  return { minutes, rest: `${before} ${after}`.replace(/\s+/g, ' ').trim() }
}

type DatePhrase = { result: chrono.ParsedResult, rest: string }

/** The date phrase at the start or the end of the text, and the text without it. */
function findDatePhrase (text: string, now: DateTime): DatePhrase | undefined {
  const results = chrono.parse(text, { instant: now.toJSDate(), timezone: now.offset }, { forwardDate: true })
  const trimmedEnd = text.replace(/[\s.,;!?]+$/, '')
  const candidates: Array<DatePhrase & { atEnd: boolean }> = []
  for (const result of results) {
    const start = result.index
    const end = start + result.text.length
    const atStart = text.slice(0, start).trim() === ''
    const atEnd = end >= trimmedEnd.length
    // A lone part-of-day word opening a task ("night shift", "morning run") names the task.
    if (!atEnd && (!atStart || AMBIGUOUS_OPENERS.test(result.text))) continue
    let rest = `${text.slice(0, start)} ${text.slice(end)}`.replace(/\s+/g, ' ').trim()
    if (atEnd) rest = rest.replace(/[\s.,;!?]+$/, '').replace(LEAD_IN, '').trim()
    if (atStart) rest = rest.replace(/^[\s,:;-]+/, '')
    candidates.push({ result, rest, atEnd })
  }
  // "pay rent tomorrow 9am" is the usual shape: a date at the end wins over one at the start.
  return candidates.find((c) => c.atEnd) ?? candidates[0]
}

function hasTimeOfDay (result: chrono.ParsedResult): boolean {
  const tags = result.tags()
  return result.start.isCertain('hour') || TIME_OF_DAY_TAGS.some((t) => tags.has(t))
}

function isRelativeInstant (result: chrono.ParsedResult): boolean {
  return result.tags().has('result/relativeDateAndTime')
}

/** The due date a chrono result names, on the chat's wall clock. */
function dueFrom (result: chrono.ParsedResult, now: DateTime, zone: string, repeat: RepeatRule | undefined): Due {
  const c = result.start
  if (isRelativeInstant(result)) return { at: c.date().getTime(), hasTime: true }
  const hasTime = hasTimeOfDay(result)
  let hour = c.get('hour') ?? 0
  // "at 5" means five in the afternoon to anyone writing a to-do; "5am" and "05:00" say otherwise.
  if (!c.isCertain('meridiem') && hour >= 1 && hour <= 7 && !/\d[:.h]\d/.test(result.text)) hour += 12
  const dayGiven = c.isCertain('day') || c.isCertain('weekday')
  let local: DateTime = DateTime.fromObject({
    year: c.get('year') ?? now.year,
    month: c.get('month') ?? now.month,
    day: c.get('day') ?? now.day,
    hour: hasTime ? hour : 0,
    minute: hasTime ? c.get('minute') ?? 0 : 0,
  }, { zone })
  if (!dayGiven && hasTime && !c.isCertain('month')) {
    // A time alone ("at 5", "every weekday 9:00"): today if it is still ahead (and the rule
    // allows today), else the next allowed day.
    const today = now.set({ hour: local.hour, minute: local.minute, second: 0, millisecond: 0 })
    const align = (d: DateTime): DateTime => repeat === undefined ? d : alignToRule(repeat, d)
    local = align(today)
    if (local <= now) local = align(today.plus({ days: 1 }))
  } else if (repeat !== undefined && !dayGiven) {
    local = alignToRule(repeat, local)
  }
  return { at: wallClockToInstant({ year: local.year, month: local.month, day: local.day, hour: local.hour, minute: local.minute }, zone), hasTime }
}

/** Due date, repeat and reminder lead of a task text, read in `zone` at `now`. The text left may
 * be empty (the whole input was a date): callers decide what that means. */
export function parseDue (raw: string, at: { now: number, zone: string }): ParsedDue {
  const now = inZone(at.now, at.zone)
  let text = raw.trim()
  const remind = extractRemind(text)
  if (remind !== undefined) text = remind.rest
  const repeatMatch = extractRepeat(text)
  if (repeatMatch !== undefined) text = repeatMatch.rest
  const repeat = repeatMatch?.rule
  const phrase = findDatePhrase(text, now)
  let due: Due | undefined
  if (phrase !== undefined) {
    due = dueFrom(phrase.result, now, at.zone, repeat)
    text = phrase.rest
  } else if (repeat !== undefined) {
    due = { at: alignToRule(repeat, now.startOf('day')).toMillis(), hasTime: false }
  }
  if (repeat !== undefined && due !== undefined) {
    const first = inZone(due.at, at.zone)
    if (repeat.unit === 'week' && repeat.weekday === undefined) repeat.weekday = first.weekday
    if (repeat.unit === 'month' && repeat.dayOfMonth === undefined) repeat.dayOfMonth = first.day
  }
  return {
    text,
    ...(due === undefined ? {} : { due }),
    ...(repeat === undefined ? {} : { repeat }),
    ...(remind === undefined ? {} : { remindBeforeMin: remind.minutes }),
  }
}

// Every chrono parser's pattern runs on any text; these also reach the refiners and our own phrases.
const WARM_UP_TEXTS = ['pay rent tomorrow 9am', 'dentist 3 dec 14:30 remind 30m before', 'standup every weekday 9:00']

/**
 * Runs the parser over sample texts so its code and regular expressions are compiled now, not in
 * the first messages a new process answers: V8 first interprets a regular expression and compiles
 * it only when it runs again, which for chrono's patterns took ~200 ms on the second task a fresh
 * process parsed (seen as a hand-over's longest wait). Compiled once per process, so a second
 * warm-up costs ~2 ms. Returns how long it took.
 */
export function warmUpParsing (): number {
  const started = performance.now()
  const now = Date.UTC(2026, 0, 5, 12)
  for (let round = 0; round < 2; round += 1) {
    for (const text of WARM_UP_TEXTS) parseDue(text, { now, zone: 'Europe/Berlin' })
  }
  return performance.now() - started
}
