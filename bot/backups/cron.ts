// Cron schedules for backups and drills: five fields, read by croner (no hand-written parser),
// in the bot's DEFAULT_TIMEZONE. `off` turns a schedule off.
import { Cron } from 'croner'

/** Firings looked through when the bot was down long: a week of once-a-minute ones. */
const MAX_STEPS = 10_000

export type CronCheck = { ok: true, expression: string | null } | { ok: false, problem: string }

/** Validates a setting: exactly five fields, or `off`. */
export function checkCron (raw: string): CronCheck {
  const expression = raw.trim().replace(/\s+/g, ' ')
  if (expression.toLowerCase() === 'off') return { ok: true, expression: null }
  const fields = expression.split(' ').length
  if (fields !== 5) return { ok: false, problem: `has ${fields} field${fields === 1 ? '' : 's'} ("${expression}")` }
  try {
    new Cron(expression, { paused: true })
  } catch (err) {
    return { ok: false, problem: `is not a valid cron expression ("${expression}": ${(err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, '')})` }
  }
  return { ok: true, expression }
}

/** A parsed schedule: when it next fires after a moment, in a time zone. */
export class CronSchedule {
  private readonly cron: Cron

  constructor (readonly expression: string, readonly zone: string) {
    this.cron = new Cron(expression, { paused: true, timezone: zone })
  }

  /** The first firing strictly after `at` (ms), or null when there is none. */
  nextAfter (at: number): number | null {
    return this.cron.nextRun(new Date(at))?.getTime() ?? null
  }

  /** The last firing after `since` and at or before `at`, or null (looked up forward from `since`;
   * past MAX_STEPS firings the answer is `at` itself: what matters then is only that one is due). */
  lastBetween (since: number, at: number): number | null {
    let last: number | null = null
    let cursor = since
    for (let i = 0; i < MAX_STEPS; i += 1) {
      const next = this.nextAfter(cursor)
      if (next === null || next > at) return last
      last = next
      cursor = next
    }
    return at
  }
}
