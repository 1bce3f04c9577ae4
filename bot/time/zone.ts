// Time zones: IANA names checked and spelled canonically, and wall-clock times turned into
// instants in a zone (so 09:00 stays 09:00 on both sides of a daylight-saving change).
import { DateTime } from 'luxon'

/** The canonical spelling of an IANA zone ("europe/berlin" → "Europe/Berlin"), or undefined. */
export function canonicalZone (name: string): string | undefined {
  const trimmed = name.trim()
  if (trimmed === '' || trimmed.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(trimmed)) return undefined
  try {
    const zone = new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone
    return DateTime.now().setZone(zone).isValid ? zone : undefined
  } catch {
    return undefined
  }
}

export function inZone (at: number, zone: string): DateTime {
  return DateTime.fromMillis(at, { zone })
}

export type WallClock = { year: number, month: number, day: number, hour: number, minute: number }

/** The instant of a wall-clock time in `zone`. A time skipped by a spring-forward change moves
 * forward by the gap (02:30 → 03:30); a repeated autumn hour takes its first occurrence. */
export function wallClockToInstant (w: WallClock, zone: string): number {
  const dt = DateTime.fromObject(w, { zone })
  // luxon resolves a repeated hour to its second occurrence; an hour earlier may read the same.
  const earlier = dt.minus({ hours: 1 })
  if (earlier.day === w.day && earlier.hour === w.hour && earlier.minute === w.minute) return earlier.toMillis()
  return dt.toMillis()
}

/** "2026-11-25" in the zone. */
export function localDate (at: number, zone: string): string {
  return inZone(at, zone).toISODate() ?? ''
}
