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
