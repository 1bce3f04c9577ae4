// The database half of /healthz and /health: is the file sound, and how many tasks are there. Both
// read the whole tasks table, so on SQLite they run in a short-lived worker thread on a read-only
// connection of its own (WAL lets it read beside the writer): run on the bot's own connection, the
// check and the counts held the event loop ~350 ms on a 100 MB database, and every health poll
// (ops' verify after a deploy, a monitor) was a pause every user saw. quick_check is kept for a
// minute; the counts are read fresh each time. PostgreSQL checks its own pages: there the
// question is whether the server answers, asked on the pool as before.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { DatabaseTarget } from './config.js'
import { quickCheck, type Database } from './db.js'
import { TASK_COUNTS_SQL, TaskRepository, taskCountsOf, type TaskCounts } from './tasks/repository.js'

/** How long a quick_check result is reused. */
export const CHECK_REUSE_MS = 60_000

export type DatabaseProbe = { check: string, counts: TaskCounts }

// Plain CommonJS for an `eval` worker: it runs the same in development (tsx) and in the bundle.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
let db
try {
  const Database = require(workerData.sqliteModule)
  db = new Database(workerData.file, { readonly: true, fileMustExist: true, timeout: 5000 })
  const check = workerData.integrity ? String(db.pragma('quick_check', { simple: true })) : null
  parentPort.postMessage({ check, counts: db.prepare(workerData.countsSql).get() })
} catch (err) {
  parentPort.postMessage({ error: err instanceof Error ? err.message : String(err) })
} finally {
  db?.close()
}
`
const SQLITE_MODULE = createRequire(import.meta.url).resolve('better-sqlite3')

type WorkerAnswer = { check: string | null, counts: Parameters<typeof taskCountsOf>[0] } | { error: string }

function readOffThread (file: string, integrity: boolean): Promise<Exclude<WorkerAnswer, { error: string }>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, integrity, sqliteModule: SQLITE_MODULE, countsSql: TASK_COUNTS_SQL } })
    worker.once('message', (answer: WorkerAnswer) => { if ('error' in answer) reject(new Error(answer.error)); else resolve(answer) })
    worker.once('error', reject)
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`the database check stopped (exit ${code})`)) })
  })
}

export class DatabaseChecker {
  private last: { check: string, at: number } | null = null

  constructor (private readonly target: DatabaseTarget, private readonly db: Database, private readonly now: () => number) {}

  async probe (): Promise<DatabaseProbe> {
    if (this.target.engine === 'postgres') {
      return { check: await quickCheck(this.db), counts: await new TaskRepository(this.db, this.now).counts() }
    }
    const fresh = this.last !== null && this.now() - this.last.at < CHECK_REUSE_MS
    const read = await readOffThread(this.target.file, !fresh)
    if (read.check !== null) this.last = { check: read.check, at: this.now() }
    return { check: read.check ?? this.last?.check ?? 'not checked', counts: taskCountsOf(read.counts) }
  }
}
