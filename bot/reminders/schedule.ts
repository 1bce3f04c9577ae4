// When a task's reminder fires: at the due time minus the lead; a whole-day task is reminded in
// the morning of its day. A reminder whose time has passed is not scheduled (the task shows as
// overdue instead), except when the due time itself is still ahead.
import { inZone } from '../time/zone.js'

export const MORNING_HOUR = 9

export type DueFields = { dueAt: number | null, dueHasTime: boolean, remindBeforeMin: number | null }

export function reminderTime (task: DueFields, chatLeadMin: number, zone: string, now: number): number | null {
  if (task.dueAt === null) return null
  const lead = (task.remindBeforeMin ?? chatLeadMin) * 60_000
  const base = task.dueHasTime ? task.dueAt : inZone(task.dueAt, zone).set({ hour: MORNING_HOUR, minute: 0, second: 0, millisecond: 0 }).toMillis()
  const at = base - lead
  if (at > now) return at
  // The lead has already passed but the moment itself has not: remind now.
  return base > now ? now : null
}

export type Snooze = 10 | 60 | 'morning'

export function snoozeUntil (snooze: Snooze, zone: string, now: number): number {
  if (snooze !== 'morning') return now + snooze * 60_000
  return inZone(now, zone).plus({ days: 1 }).set({ hour: MORNING_HOUR, minute: 0, second: 0, millisecond: 0 }).toMillis()
}

/** Today's digest in a chat's zone: its local date, when it falls (clock time), whether that has
 * come (due: send it unless it went out already; /digest set after the hour skips it), and when the
 * digest after it falls. The one place the loop and /digest read the digest's hour. */
export type DigestDay = { localDate: string, at: number, due: boolean, nextAt: number }

export function digestDay (digestTime: string, zone: string, now: number): DigestDay {
  const [hour, minute] = digestTime.split(':').map(Number)
  const today = inZone(now, zone)
  const at = today.set({ hour: hour ?? 8, minute: minute ?? 0, second: 0, millisecond: 0 })
  const due = at.toMillis() <= now
  return { localDate: today.toISODate() ?? '', at: at.toMillis(), due, nextAt: due ? at.plus({ days: 1 }).toMillis() : at.toMillis() }
}
