// Moves SQLite's WAL checkpoints off the bot's event loop. A checkpoint copies the WAL into the
// database file and fsyncs both; SQLite runs it by itself inside the commit that crosses 1,000 WAL
// pages, on the connection that commits: the bot's, so every user waited for that fsync. On a quiet
// disk it is a few milliseconds, but while anything else writes a lot (a deploy's `npm ci`, a
// backup) one fsync took 0.3–1.2 s here, and that was the longest wait of a deploy whose lockfile
// changed. The bot's connections therefore checkpoint never (`wal_autocheckpoint = 0`, set by
// openDatabase's `checkpoints: 'external'`), and this worker thread, on a connection of its own,
// runs a PASSIVE checkpoint every second: it never waits for the writer nor holds it up (WAL lets
// the writer append while frames are copied), and the WAL stays small. A worker that dies is
// started again at the next tick; the final checkpoint is SQLite's own, when the bot closes the
// database.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { Logger } from './logger.js'

export const CHECKPOINT_INTERVAL_MS = 1000

export type CheckpointResult = { busy: number, log: number, checkpointed: number }

// Plain CommonJS for an `eval` worker: it runs the same in development (tsx) and in the bundle.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.sqliteModule)
let db = null
let timer = null
const checkpoint = (id) => {
  try {
    parentPort.postMessage({ id, result: db.pragma('wal_checkpoint(PASSIVE)')[0] })
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) })
  }
}
function open () {
  try {
    db = new Database(workerData.file, { fileMustExist: true, timeout: 0 })
    db.pragma('synchronous = NORMAL')
  } catch (err) {
    // Told, not thrown: an uncaught error in a worker is the host's to report, not ours.
    parentPort.postMessage({ id: null, fatal: err instanceof Error ? err.message : String(err) })
    parentPort.close()
    return
  }
  timer = setInterval(() => checkpoint(null), workerData.intervalMs)
}
parentPort.on('message', (m) => {
  if (m.open === true) open()
  else if (m.stop === true) {
    if (timer !== null) clearInterval(timer)
    db?.close()
    parentPort.close()
  } else checkpoint(m.id)
})
`
const SQLITE_MODULE = createRequire(import.meta.url).resolve('better-sqlite3')
// The thread's own heap, kept small: it costs ~8 MB of RSS so (17 MB with V8's defaults), against
// the bot's 100 MB goal; it only ever holds one connection and a timer.
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 }

type Answer = { id: number | null, result?: CheckpointResult, error?: string, fatal?: string }

export class WalCheckpointer {
  private worker: Worker | null = null
  private stopped = false
  private nextId = 1
  private readonly waiting = new Map<number, { resolve: (r: CheckpointResult) => void, reject: (e: Error) => void }>()
  private lastError: string | null = null
  private restartTimer: NodeJS.Timeout | null = null
  /** Checkpoints the worker ran (its own ticks and checkpointNow). */
  checkpoints = 0

  constructor (private readonly file: string, private readonly logger: Logger, private readonly intervalMs = CHECKPOINT_INTERVAL_MS) {}

  /**
   * Loads the worker (a thread, the SQLite module: 40–90 ms of CPU here) without opening the
   * database: a standby does it while the running version still serves.
   */
  prepare (): this {
    this.ensureWorker({ open: false })
    return this
  }

  /**
   * Opens the worker's connection (loading the worker now if not prepared). Nothing waits for it:
   * a start or a take-over must not wait for a thread to boot (40–180 ms here), and a few hundred
   * milliseconds more of WAL are harmless. A connection that cannot be opened is logged and tried
   * again every interval.
   */
  start (): this {
    const worker = this.worker ?? this.ensureWorker({ open: false })
    worker.postMessage({ open: true })
    return this
  }

  /** A checkpoint now, in the worker (started again if it had died). */
  checkpointNow (): Promise<CheckpointResult> {
    const worker = this.ensureWorker({ open: true })
    const id = this.nextId++
    // Held open while an answer is awaited; otherwise the timer alone keeps no process alive.
    worker.ref()
    return new Promise<CheckpointResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      worker.postMessage({ id })
    }).finally(() => { if (this.waiting.size === 0) worker.unref() })
  }

  /** Stops the worker after the checkpoint in hand; its connection is closed before this resolves. */
  async stop (): Promise<void> {
    this.stopped = true
    if (this.restartTimer !== null) clearTimeout(this.restartTimer)
    const worker = this.worker
    if (worker === null) return
    worker.ref()
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    worker.postMessage({ stop: true })
    await exited
  }

  private ensureWorker ({ open }: { open: boolean }): Worker {
    if (this.worker !== null) return this.worker
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file: this.file, intervalMs: this.intervalMs, sqliteModule: SQLITE_MODULE }, resourceLimits: WORKER_LIMITS })
    worker.unref()
    worker.on('message', (answer: Answer) => this.answered(answer))
    worker.on('error', (err) => {
      this.failed(err.message)
      this.rejectWaiting(new Error(`WAL checkpointer: ${err.message}`))
    })
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = null
      this.rejectWaiting(new Error('the WAL checkpointer stopped'))
      if (!this.stopped) this.restartLater()
    })
    this.worker = worker
    if (open) worker.postMessage({ open: true })
    return worker
  }

  private answered ({ id, result, error, fatal }: Answer): void {
    if (fatal !== undefined) {
      this.failed(fatal)
      this.rejectWaiting(new Error(`WAL checkpointer: ${fatal}`))
      return
    }
    if (error !== undefined) this.failed(error)
    else if (result !== undefined) {
      this.checkpoints += 1
      this.lastError = null
    }
    if (id === null) return
    const waiter = this.waiting.get(id)
    this.waiting.delete(id)
    if (result !== undefined) waiter?.resolve(result)
    else waiter?.reject(new Error(`WAL checkpoint failed: ${error ?? 'no answer'}`))
  }

  // One line per new problem, not one a second.
  private failed (message: string): void {
    if (message !== this.lastError) this.logger.warn({ err: message }, 'WAL checkpoint failed; retrying every second')
    this.lastError = message
  }

  private rejectWaiting (err: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(err)
    this.waiting.clear()
  }

  private restartLater (): void {
    this.failed(this.lastError ?? 'the WAL checkpointer stopped')
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null
      if (!this.stopped) this.ensureWorker({ open: true })
    }, this.intervalMs)
    this.restartTimer.unref()
  }
}
