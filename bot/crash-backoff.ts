// Exponential back-off between crashes, kept by the bot itself. PM2's own exp_backoff_restart_delay
// never lets a crash loop reach "errored" (PM2 7 overwrites the status with "waiting restart"), so
// PM2 restarts at once and the crashing process waits before it exits: 200 ms, 400 ms ... capped
// at 5 s, below PM2's min_uptime, so ten quick crashes still end in a clear "errored" state.
import fs from 'node:fs'
import path from 'node:path'

export const FIRST_DELAY_MS = 200
export const MAX_DELAY_MS = 5000
export const STABLE_AFTER_MS = 60_000

export function crashCounterFile (databaseFile: string): string {
  return path.join(path.dirname(databaseFile), 'crashes.count')
}

/** Records one more crash and returns how long to wait before exiting. */
export function recordCrash (file: string): number {
  let count = 0
  try { count = Number(fs.readFileSync(file, 'utf8')) || 0 } catch { /* first crash */ }
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, String(count + 1), { mode: 0o600 })
  } catch { /* a read-only disk must not turn a crash into a hang */ }
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** count)
}

/** After a stable run the count starts again from zero. */
export function forgetCrashesLater (file: string): void {
  setTimeout(() => fs.rmSync(file, { force: true }), STABLE_AFTER_MS).unref()
}
