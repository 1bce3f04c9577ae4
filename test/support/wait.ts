// Waiting on a condition instead of sleeping: poll until it holds, or fail naming what never
// happened (and what was last seen). One copy for every test that waits on the bot.

export type WaitOptions = {
  /** What is awaited, for the error: "the reminder loop looked at 2026-11-25T08:00:00.000Z". */
  what: string
  /** Default 10 s. */
  timeoutMs?: number
  /** Default 20 ms. */
  everyMs?: number
  /** What was last seen, added to the error. */
  seen?: () => string
}

/** Resolves with the first truthy value `check` returns; rejects after `timeoutMs`. */
export async function waitUntil<T> (check: () => T | Promise<T>, o: WaitOptions): Promise<Exclude<T, false | null | undefined>> {
  const until = performance.now() + (o.timeoutMs ?? 10_000)
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== null && value !== false) return value as Exclude<T, false | null | undefined>
    if (performance.now() > until) throw new Error(`timed out after ${o.timeoutMs ?? 10_000} ms waiting for ${o.what}${o.seen === undefined ? '' : `; last seen: ${o.seen()}`}`)
    await new Promise((resolve) => setTimeout(resolve, o.everyMs ?? 20))
  }
}

type ReminderHealth = { reminders?: { lastTickAt: string | null } | null }

/**
 * Waits until the reminder loop has looked at the database: at the clock time `at` (an ISO
 * string: after a jump of a set clock), or at all (`at` undefined: after a start). `health` is the
 * bot's health, in-process (`bot.health()`) or over HTTP (`/healthz`).
 */
export async function reminderLoopLooked (health: () => Promise<ReminderHealth>, at?: string, timeoutMs = 10_000): Promise<void> {
  let last: string | null | undefined
  await waitUntil(async () => {
    last = (await health()).reminders?.lastTickAt
    return at === undefined ? last != null : last === at
  }, { what: `the reminder loop to look ${at === undefined ? 'at the database' : `at ${at}`}`, timeoutMs, seen: () => `last look ${String(last)}` })
}
