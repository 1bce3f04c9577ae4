// Repeating tasks: the rule read from "every weekday", "every 2 weeks", "every month on the 1st"...
// and the next occurrence, always computed on the chat's wall clock.
import type { DateTime } from 'luxon'

export type RepeatUnit = 'day' | 'weekday' | 'week' | 'month' | 'year'
/** `weekday`: 1 = Monday … 7 = Sunday; `dayOfMonth`: 1–31 (clamped to short months). */
export type RepeatRule = { unit: RepeatUnit, every: number, weekday?: number, dayOfMonth?: number }

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']
const WEEKDAY_NAME = '(mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs|rsday)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)'
const EVERY = new RegExp(
  `(?:^|\\s)(?:every\\s+(?:(other|\\d{1,3})\\s+)?(days?|weekdays?|weeks?|months?|years?|${WEEKDAY_NAME})` +
  '(?:\\s+on\\s+the\\s+(\\d{1,2})(?:st|nd|rd|th)?)?|(daily|weekly|monthly|yearly|annually))(?=\\s|$|[,.;!])', 'i')

export const MAX_EVERY = 365

function weekdayNumber (name: string): number | undefined {
  const i = WEEKDAYS.findIndex((d) => d.startsWith(name.toLowerCase().slice(0, 3)))
  return i < 0 ? undefined : i + 1
}

export type RepeatMatch = { rule: RepeatRule, rest: string }

/** Finds a repeat phrase and returns the rule and the text without it; undefined when none. */
export function extractRepeat (text: string): RepeatMatch | undefined {
  const m = EVERY.exec(text)
  if (m === null) return undefined
  const [whole, countWord, unitWord, , dayWord, adverb] = m
  const rest = `${text.slice(0, m.index)} ${text.slice(m.index + whole.length)}`.replace(/\s+/g, ' ').trim()
  if (adverb !== undefined) {
    const unit = ({ daily: 'day', weekly: 'week', monthly: 'month', yearly: 'year', annually: 'year' } as const)[adverb.toLowerCase() as 'daily']
    return { rule: { unit, every: 1 }, rest }
  }
  const every = countWord === undefined ? 1 : countWord.toLowerCase() === 'other' ? 2 : Number(countWord)
  if (every < 1 || every > MAX_EVERY) return undefined
  const word = (unitWord ?? '').toLowerCase()
  const weekday = new RegExp(`^${WEEKDAY_NAME}$`, 'i').test(word) ? weekdayNumber(word) : undefined
  let rule: RepeatRule
  if (word.startsWith('weekday')) rule = { unit: 'weekday', every: 1 }
  else if (weekday !== undefined) rule = { unit: 'week', every, weekday }
  else rule = { unit: word.replace(/s$/, '') as RepeatUnit, every }
  if (dayWord !== undefined) {
    const day = Number(dayWord)
    if (rule.unit !== 'month' || day < 1 || day > 31) return undefined
    rule.dayOfMonth = day
  }
  return { rule, rest }
}

function ordinal (n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th'
  return `${n}${s}`
}

export function describeRepeat (rule: RepeatRule): string {
  if (rule.unit === 'weekday') return 'every weekday'
  const day = rule.weekday === undefined ? undefined : WEEKDAYS[rule.weekday - 1]
  const dayName = day === undefined ? undefined : `${day[0]?.toUpperCase() ?? ''}${day.slice(1)}`
  const head = rule.every === 1 ? `every ${rule.unit}` : `every ${rule.every} ${rule.unit}s`
  if (rule.unit === 'week' && dayName !== undefined) return rule.every === 1 ? `every ${dayName}` : `${head} on ${dayName}`
  return rule.dayOfMonth === undefined ? head : `${head} on the ${ordinal(rule.dayOfMonth)}`
}

function isWeekend (d: DateTime): boolean {
  return d.weekday >= 6
}

function withDayOfMonth (d: DateTime, day: number): DateTime {
  return d.set({ day: Math.min(day, d.daysInMonth ?? 28) })
}

/** Moves a candidate onto a day the rule allows (the same day when it already does). */
export function alignToRule (rule: RepeatRule, d: DateTime): DateTime {
  switch (rule.unit) {
    case 'weekday': {
      let out = d
      while (isWeekend(out)) out = out.plus({ days: 1 })
      return out
    }
    case 'week':
      return rule.weekday === undefined ? d : d.plus({ days: (rule.weekday - d.weekday + 7) % 7 })
    case 'month': {
      if (rule.dayOfMonth === undefined) return d
      const thisMonth = withDayOfMonth(d, rule.dayOfMonth)
      return thisMonth >= d.startOf('day') ? thisMonth : withDayOfMonth(d.plus({ months: 1 }).startOf('month').set({ hour: d.hour, minute: d.minute }), rule.dayOfMonth)
    }
    default:
      return d
  }
}

/** One step of the rule from an occurrence (wall clock kept: luxon adds days in the zone). */
export function nextOccurrence (rule: RepeatRule, from: DateTime): DateTime {
  switch (rule.unit) {
    case 'day': return from.plus({ days: rule.every })
    case 'weekday': return alignToRule(rule, from.plus({ days: 1 }))
    case 'week': return from.plus({ weeks: rule.every })
    case 'month': {
      const day = rule.dayOfMonth ?? from.day
      return withDayOfMonth(from.startOf('month').plus({ months: rule.every }).set({ hour: from.hour, minute: from.minute }), day)
    }
    case 'year': return from.plus({ years: rule.every })
  }
}

/** The first occurrence after `now` (steps over the ones missed while a task sat undone). */
export function nextAfter (rule: RepeatRule, from: DateTime, now: DateTime, wholeDay: boolean): DateTime {
  let next = nextOccurrence(rule, from)
  const passed = (d: DateTime): boolean => wholeDay ? d.endOf('day') < now : d <= now
  for (let i = 0; passed(next) && i < 10_000; i++) next = nextOccurrence(rule, next)
  return next
}
