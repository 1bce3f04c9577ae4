// Moves SQLite's WAL checkpoints off the bot's event loop. A checkpoint copies the WAL into the
// database file and fsyncs both; SQLite runs it by itself inside the commit that crosses 1,000 WAL
// pages, on the connection that commits: the bot's, so every user waited for that fsync. On a quiet
// disk it is a few milliseconds, but while anything else writes a lot (a deploy's `npm ci`, a
// backup) one fsync took 0.3–1.2 s here, and that was the longest wait of a deploy whose lockfile
// changed. The bot's connections therefore checkpoint never (`wal_autocheckpoint = 0`, set by
// openDatabase's `checkpoints: 'external'`), and every few seconds, when the WAL changed, a short
// child process runs a PASSIVE checkpoint on a connection of its own: it never waits for the
// writer nor holds it up (WAL lets the writer append while frames are copied).
// A child process, not a worker thread: a resident thread cost the bot ~16 MB of RSS (its own V8
// isolate and better-sqlite3), against the 100 MB goal, and a thread's memory stays with the
// process after it ends; a child's goes with it. The final checkpoint is SQLite's own, when the bot
// closes the database.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import type { Logger } from './logger.js'

/** How often the WAL is looked at; a checkpoint runs only if it changed since the last one. */
export const CHECKPOINT_INTERVAL_MS = 5000
/** A checkpoint that takes longer than this is ended (it is safe to kill one) and tried again. */
const CHECKPOINT_TIMEOUT_MS = 60_000

export type CheckpointResult = { busy: number, log: number, checkpointed: number }

// Plain CommonJS for `node -e`: the same in development (tsx) and from the bundle.
const CHILD_SOURCE = `
// PM2 stops the bot's whole process tree with SIGINT: a checkpoint in hand finishes first (it takes
// milliseconds, and the bot's stop waits for it).
process.on('SIGINT', () => {})
process.on('SIGTERM', () => {})
const Database = require(process.argv[1])
const db = new Database(process.argv[2], { fileMustExist: true, timeout: 0 })
try {
  db.pragma('synchronous = NORMAL')
  process.stdout.write(JSON.stringify(db.pragma('wal_checkpoint(PASSIVE)')[0]))
} finally {
  db.close()
}
`
const SQLITE_MODULE = createRequire(import.meta.url).resolve('better-sqlite3')
// A small heap: the child holds one connection for a moment.
const CHILD_FLAGS = ['--max-old-space-size=16', '--max-semi-space-size=1']

export class WalCheckpointer {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<CheckpointResult> | null = null
  private lastWal: number | null = null
  private lastError: string | null = null
  /** Checkpoints that completed (on the timer and checkpointNow). */
  checkpoints = 0

  constructor (private readonly file: string, private readonly logger: Logger, private readonly intervalMs = CHECKPOINT_INTERVAL_MS) {}

  /** Looks at the WAL every interval from now on; nothing waits for a checkpoint. */
  start (): this {
    this.timer = setInterval(() => { void this.tick() }, this.intervalMs)
    this.timer.unref()
    return this
  }

  /** Stops the timer and waits for a checkpoint in hand (it ends in milliseconds, or is killed). */
  async stop (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.running?.catch(() => {})
  }

  /** A checkpoint now (the one in hand, if there is one). */
  checkpointNow (): Promise<CheckpointResult> {
    this.running ??= this.runChild().finally(() => { this.running = null })
    return this.running
  }

  private async tick (): Promise<void> {
    if (this.running !== null) return
    // The WAL's change time moves with every commit; a restarted WAL keeps its size, so size
    // alone would not tell.
    const changed = await fs.promises.stat(`${this.file}-wal`).then((s) => s.mtimeMs, () => null)
    if (changed === null || changed === this.lastWal) return
    try {
      await this.checkpointNow()
      this.lastWal = changed
    } catch {
      // Logged in runChild; the next tick tries again.
    }
  }

  private runChild (): Promise<CheckpointResult> {
    return new Promise((resolve, reject) => {
      const env = { ...process.env }
      delete env.NODE_OPTIONS
      const child = spawn(process.execPath, [...CHILD_FLAGS, '-e', CHILD_SOURCE, SQLITE_MODULE, this.file], { stdio: ['ignore', 'pipe', 'pipe'], env })
      let out = ''
      let err = ''
      child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
      child.stderr?.on('data', (d: Buffer) => { err += d.toString() })
      const timeout = setTimeout(() => child.kill('SIGKILL'), CHECKPOINT_TIMEOUT_MS)
      child.once('error', (e) => { err += e.message })
      child.once('close', (code, signal) => {
        clearTimeout(timeout)
        try {
          if (code !== 0) throw new Error(lastLine(err) ?? `exit ${code ?? signal}`)
          const result = JSON.parse(out) as CheckpointResult
          this.checkpoints += 1
          this.lastError = null
          resolve(result)
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e)
          // One line per new problem, not one every interval; none for a child ended by the stop.
          if (message !== this.lastError && this.timer !== null) this.logger.warn({ err: message }, 'WAL checkpoint failed; trying again in a few seconds')
          this.lastError = message
          reject(new Error(`WAL checkpoint failed: ${message}`))
        }
      })
    })
  }
}

/** The error line of a child's stderr (node prints the stack after the message). */
function lastLine (stderr: string): string | undefined {
  return stderr.split('\n').map((l) => l.trim()).find((l) => /Error/.test(l) && !l.startsWith('at '))
}
