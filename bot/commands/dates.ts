// Due dates and the chat's clock: /due, /today, /tz, /digest, /remind.
import { UserInputError } from '../errors.js'
import { digestDay, reminderTime } from '../reminders/schedule.js'
import { parseTaskNumbers } from '../tasks/parse.js'
import { dueSuffix, escapeHtml, shorten, taskLine } from '../tasks/render.js'
import type { Task } from '../tasks/repository.js'
import { formatClock, formatDay, formatDue } from '../time/format.js'
import { MAX_REMIND_BEFORE_MIN, parseDue } from '../time/parse-due.js'
import { canonicalZone, inZone, wallClockToInstant } from '../time/zone.js'
import type { Turn } from '../turn.js'
import { scheduleFor, withReminder } from './schedule.js'
import type { CommandSpec } from './types.js'

const DUE_USAGE = 'Example: /due 3 tomorrow 9am, /due 3 friday, /due 3 every monday 8:00, or /due 3 none to clear it.'

function reminderLine (task: Task, turn: Turn): string {
  if (task.remindAt === null) return ''
  return `\n⏰ I'll remind you ${formatDue({ at: task.remindAt, hasTime: true }, turn.view)}.`
}

async function due (turn: Turn, args: string): Promise<void> {
  const m = /^#?(\S+)(?:\s+([\s\S]+))?$/.exec(args.trim())
  if (m === null) throw new UserInputError(`Which task, and when? ${DUE_USAGE}`)
  const numbers = parseTaskNumbers(m[1] ?? '', 'due')
  const number = numbers[0]
  if (number === undefined || numbers.length !== 1) throw new UserInputError(`/due takes one task number. ${DUE_USAGE}`)
  const when = (m[2] ?? '').trim()
  if (when === '') throw new UserInputError(`When is #${number} due? ${DUE_USAGE}`)
  const [task] = await turn.tasks.byNumbers(turn.chatId, [number])
  if (task === undefined) throw new UserInputError(`There is no task #${number}.`)
  if (/^(none|no|off|clear|never|-)$/i.test(when)) {
    await turn.tasks.setSchedule(turn.chatId, task.id, { dueAt: null, dueHasTime: false, repeat: null, remindBeforeMin: null, remindAt: null })
    turn.reply(`📅 <b>#${number}</b> ${escapeHtml(shorten(task.text))} — no due date.`)
    return
  }
  const parsed = parseDue(when, turn.view)
  if (parsed.text !== '' || parsed.due === undefined) throw new UserInputError(`I could not read “${when.slice(0, 60)}” as a date. ${DUE_USAGE}`)
  // A new date for a repeating task moves its next occurrence; the rule stays unless replaced.
  const schedule = scheduleFor(turn, { ...parsed, repeat: parsed.repeat ?? task.repeat ?? undefined, remindBeforeMin: parsed.remindBeforeMin ?? task.remindBeforeMin ?? undefined })
  await turn.tasks.setSchedule(turn.chatId, task.id, schedule)
  const updated = { ...task, ...schedule }
  turn.reply(`📅 <b>#${number}</b> ${escapeHtml(shorten(task.text))}${dueSuffix(updated, turn.view)}${reminderLine(updated, turn)}`)
}

async function today (turn: Turn, args: string): Promise<void> {
  if (args !== '') throw new UserInputError('/today takes no arguments: it shows what is due today and overdue.')
  const endOfDay = inZone(turn.now, turn.zone).endOf('day').toMillis() + 1
  const tasks = await turn.tasks.dueBefore(turn.chatId, endOfDay)
  const day = formatDay(turn.now, turn.view)
  if (tasks.length === 0) {
    turn.reply(`Nothing due today (${day}) 🎉`)
    return
  }
  turn.replyLines([`<b>Today</b>, ${day} (${tasks.length} due or overdue)`, '', ...tasks.map((t) => taskLine(t, turn.view))])
}

async function tz (turn: Turn, args: string): Promise<void> {
  if (args === '') {
    turn.reply(`Your time zone is <b>${escapeHtml(turn.zone)}</b> (it is ${formatClock(turn.now, turn.zone)} there now). Change it with /tz followed by a name like Europe/Berlin or America/New_York.`)
    return
  }
  const zone = canonicalZone(args)
  if (zone === undefined) {
    throw new UserInputError(`“${args.slice(0, 40)}” is not a time zone I know. Use an IANA name like Europe/Berlin, America/New_York or Asia/Tokyo (the list: https://en.wikipedia.org/wiki/List_of_tz_database_time_zones).`)
  }
  // Due dates keep their wall-clock time: "9:00" meant 9:00 where the user is.
  const dated = await turn.tasks.openWithDue(turn.chatId)
  for (const task of dated) {
    if (task.dueAt === null) continue
    const old = inZone(task.dueAt, turn.zone)
    const dueAt = wallClockToInstant({ year: old.year, month: old.month, day: old.day, hour: old.hour, minute: old.minute }, zone)
    await turn.tasks.setSchedule(turn.chatId, task.id, withReminder(turn, { dueAt, dueHasTime: task.dueHasTime, repeat: task.repeat, remindBeforeMin: task.remindBeforeMin }, zone))
  }
  await turn.chats.setTimezone(turn.chatId, zone)
  const kept = dated.length === 0 ? '' : ` ${dated.length} due date${dated.length === 1 ? '' : 's'} keep their local time.`
  turn.reply(`🌍 Time zone set to <b>${escapeHtml(zone)}</b> (it is ${formatClock(turn.now, zone)} there now).${kept}`)
}

const CLOCK = /^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$/i

/** "8", "8:30", "7pm", "19:00" → "HH:MM". */
export function parseClock (text: string): string | undefined {
  const m = CLOCK.exec(text.trim())
  if (m === null) return undefined
  let hour = Number(m[1])
  const minute = Number(m[2] ?? '0')
  const meridiem = m[3]?.toLowerCase()
  if (meridiem !== undefined && (hour < 1 || hour > 12)) return undefined
  if (meridiem === 'pm' && hour < 12) hour += 12
  if (meridiem === 'am' && hour === 12) hour = 0
  if (hour > 23 || minute > 59) return undefined
  return `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`
}

async function digest (turn: Turn, args: string): Promise<void> {
  if (args === '') {
    turn.reply(turn.settings.digestTime === null
      ? 'The morning digest is off. Turn it on with /digest 8:00 (your time zone: ' + escapeHtml(turn.zone) + ').'
      : `Every day at <b>${turn.settings.digestTime}</b> (${escapeHtml(turn.zone)}) I send what is due that day. /digest off stops it.`)
    return
  }
  if (/^(off|no|none|stop)$/i.test(args)) {
    await turn.chats.setDigest(turn.chatId, null)
    turn.reply('Morning digest off.')
    return
  }
  const time = parseClock(args)
  if (time === undefined) throw new UserInputError(`“${args.slice(0, 20)}” is not a time of day. Example: /digest 8:00 or /digest off`)
  await turn.chats.setDigest(turn.chatId, time)
  // Set after today's hour: the first one comes tomorrow (the loop asks the same digestDay).
  const today = digestDay(time, turn.zone, turn.now)
  if (today.due) await turn.chats.skipDigest(turn.chatId, today.localDate)
  turn.reply(`☀️ Every day at <b>${time}</b> (${escapeHtml(turn.zone)}) I'll send what is due that day and what is overdue.`)
}

const LEAD = /^(\d{1,5})\s*(m|mins?|minutes?|h|hrs?|hours?|d|days?)$/i

function describeLead (minutes: number): string {
  if (minutes === 0) return 'at the due time'
  if (minutes % (24 * 60) === 0) return `${minutes / (24 * 60)} day${minutes === 24 * 60 ? '' : 's'} before`
  if (minutes % 60 === 0) return `${minutes / 60} h before`
  return `${minutes} min before`
}

async function remind (turn: Turn, args: string): Promise<void> {
  if (args === '') {
    turn.reply(`I remind you ${describeLead(turn.settings.remindBeforeMin)} of each due task. Change it: /remind 30m, /remind 1h, /remind off (at the due time). One task can say its own: “dentist fri 14:30 remind 1h before”.`)
    return
  }
  let minutes: number
  if (/^(off|0|none|at due|on time)$/i.test(args)) {
    minutes = 0
  } else {
    const m = LEAD.exec(args.trim())
    if (m === null) throw new UserInputError(`“${args.slice(0, 20)}” is not a duration. Example: /remind 30m, /remind 2h, /remind 1d or /remind off`)
    const unit = (m[2] ?? 'm').toLowerCase()
    minutes = Number(m[1]) * (unit.startsWith('d') ? 24 * 60 : unit.startsWith('h') ? 60 : 1)
    if (minutes > MAX_REMIND_BEFORE_MIN) throw new UserInputError('That is too early: at most 30 days before.')
  }
  await turn.chats.setRemindBefore(turn.chatId, minutes)
  // Pending reminders that follow the chat default move with it.
  for (const task of await turn.tasks.openWithDue(turn.chatId)) {
    if (task.remindBeforeMin !== null) continue
    await turn.tasks.setRemindAt(turn.chatId, task.id, reminderTime(task, minutes, turn.zone, turn.now))
  }
  turn.reply(`⏰ I'll remind you ${describeLead(minutes)} of each due task.`)
}

export const dateCommands: CommandSpec[] = [
  { name: 'today', description: 'What is due today and overdue', handler: today },
  { name: 'due', description: 'Set a due date: /due 3 friday 9am, /due 3 none', handler: due },
  { name: 'tz', description: 'Your time zone: /tz Europe/Berlin', handler: tz },
  { name: 'digest', description: 'Morning digest: /digest 8:00, /digest off', handler: digest },
  { name: 'remind', description: 'Remind before due: /remind 30m, /remind off', handler: remind },
]
