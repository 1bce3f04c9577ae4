// How times are shown: on the chat's wall clock, short, and unambiguous ("Wed 25 Nov 09:00").
import { inZone } from './zone.js'

export type TimeView = { zone: string, now: number }

export function formatDay (at: number, view: TimeView): string {
  const local = inZone(at, view.zone)
  const sameYear = local.year === inZone(view.now, view.zone).year
  return local.toFormat(sameYear ? 'ccc d LLL' : 'ccc d LLL yyyy')
}

export function formatClock (at: number, zone: string): string {
  return inZone(at, zone).toFormat('HH:mm')
}

export function formatDue (due: { at: number, hasTime: boolean }, view: TimeView): string {
  return due.hasTime ? `${formatDay(due.at, view)} ${formatClock(due.at, view.zone)}` : formatDay(due.at, view)
}

/** Overdue: the time has passed, or for a whole-day task, the day has. */
export function isOverdue (due: { at: number, hasTime: boolean }, view: TimeView): boolean {
  return due.hasTime ? due.at < view.now : inZone(due.at, view.zone).endOf('day').toMillis() < view.now
}

/** "the same day as now" on the chat's wall clock. */
export function isSameDay (at: number, view: TimeView): boolean {
  return inZone(at, view.zone).hasSame(inZone(view.now, view.zone), 'day')
}
