// Generated databases for the benchmarks: the real migrations, then a bulk insert straight into
// SQLite in one transaction (a million tasks in seconds; through the bot it would take an hour).
// The rows come from datasetRows, which bench/lib/dataset-postgres.ts also loads into PostgreSQL.
import Database from 'better-sqlite3'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openDatabase } from '../../bot/db.js'

export type DatasetSpec = {
  tasks: number
  chats: number
  /** One chat holds this many tasks (the /list subject); the rest are spread over the other chats. */
  bigChatId: number
  bigChatTasks: number
}

const WORDS = ['buy', 'milk', 'call', 'mum', 'fix', 'the', 'bike', 'book', 'flights', 'to', 'Lisbon', 'renew', 'passport', 'water', 'plants', 'pay', 'rent']
const EPOCH_MS = 1_790_000_000_000
/** Chat ids of the ordinary chats start here, clear of the harness's user ids. */
export const FIRST_CHAT_ID = 1_000_000

function taskText (i: number): string {
  return Array.from({ length: 3 + (i % 12) }, (_, w) => WORDS[(i * 7 + w * 3) % WORDS.length]).join(' ')
}

/** A task row of the dataset: [chat_id, number, text, created_at, updated_at, done_at, deleted_at]. */
export type TaskRow = [number, number, string, number, number, number | null, number | null]

/**
 * The dataset's rows, the same for either engine: each chat `[id, next_number, created_at]` is
 * followed by its tasks. A third done, a tenth deleted (never in the big chat): the shape of a
 * to-do list that has been used for a while.
 */
export function * datasetRows (spec: DatasetSpec): Generator<{ chat: [number, number, number] } | { task: TaskRow }> {
  const others = spec.chats - 1
  const rest = spec.tasks - spec.bigChatTasks
  let i = 0
  function * fill (chatId: number, count: number): Generator<{ chat: [number, number, number] } | { task: TaskRow }> {
    yield { chat: [chatId, count + 1, EPOCH_MS] }
    for (let n = 1; n <= count; n += 1, i += 1) {
      const at = EPOCH_MS + i * 1000
      yield { task: [chatId, n, taskText(i), at, at, i % 3 === 0 ? at : null, i % 10 === 0 && chatId !== spec.bigChatId ? at : null] }
    }
  }
  yield * fill(spec.bigChatId, spec.bigChatTasks)
  for (let c = 0; c < others; c += 1) yield * fill(FIRST_CHAT_ID + c, Math.floor(rest / others) + (c < rest % others ? 1 : 0))
}

export async function generateDatabase (file: string, spec: DatasetSpec): Promise<void> {
  const knex = openDatabase(file)
  await knex.migrate.latest()
  await knex.destroy()

  const db = new Database(file)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = OFF')
    const addChat = db.prepare('insert into chats (id, next_number, created_at) values (?, ?, ?)')
    const addTask = db.prepare('insert into tasks (chat_id, number, text, created_at, updated_at, done_at, deleted_at) values (?, ?, ?, ?, ?, ?, ?)')
    db.transaction(() => {
      for (const row of datasetRows(spec)) {
        if ('chat' in row) addChat.run(...row.chat)
        else addTask.run(...row.task)
      }
    })()
    db.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    db.close()
  }
}

const cache = new Map<string, Promise<string>>()

/** A copy of a generated database at `dest`; each spec is generated once per run, then copied. */
export async function databaseAt (dest: string, spec: DatasetSpec): Promise<void> {
  const key = `${spec.tasks}-${spec.chats}-${spec.bigChatId}-${spec.bigChatTasks}`
  let made = cache.get(key)
  if (made === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-bench-data-'))
    const file = path.join(dir, 'todo.sqlite')
    made = generateDatabase(file, spec).then(() => file)
    cache.set(key, made)
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  }
  const source = await made
  fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 })
  fs.copyFileSync(source, dest)
}
