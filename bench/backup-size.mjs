// @ts-check
// bench/backup-size.mjs: how long a verified online backup takes, and how big it is, for a database
// of N tasks (default 100 000) in a temp folder. Prints one line of figures.
//
// Usage: node bench/backup-size.mjs [tasks]
import Database from 'better-sqlite3'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { backup } from '../ops/backup.mjs'
import { verifyBackup } from '../ops/lib/backups.mjs'
import { formatBytes, formatCount } from '../ops/lib/format.mjs'
import { openKnex } from '../ops/lib/migrations.mjs'
import { CODE_ROOT } from '../ops/lib/paths.mjs'

const TASKS = Number(process.argv[2] ?? 100_000)
const CHATS = 5
const WORDS = ['buy', 'milk', 'call', 'mum', 'fix', 'the', 'bike', 'book', 'flights', 'to', 'Lisbon', 'renew', 'passport', 'water', 'plants', 'pay', 'rent']

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-bench-'))
try {
  const dbFile = path.join(root, 'storage', 'db', 'todo.sqlite')
  const knex = await openKnex(dbFile, path.join(CODE_ROOT, 'storage', 'migrations'))
  await knex.migrate.latest()
  await knex.destroy()

  const db = new Database(dbFile)
  db.transaction(() => {
    const insert = db.prepare('insert into tasks (chat_id, number, text, created_at, updated_at, done_at, deleted_at) values (?, ?, ?, ?, ?, ?, ?)')
    for (let chat = 1; chat <= CHATS; chat += 1) db.prepare('insert into chats (id, next_number, created_at) values (?, ?, 0)').run(chat, TASKS / CHATS + 1)
    for (let i = 0; i < TASKS; i += 1) {
      const text = Array.from({ length: 3 + (i % 12) }, (_, w) => WORDS[(i * 7 + w * 3) % WORDS.length]).join(' ')
      const at = 1_790_000_000_000 + i * 1000
      insert.run(1 + (i % CHATS), 1 + Math.floor(i / CHATS), text, at, at, i % 3 === 0 ? at : null, i % 10 === 0 ? at : null)
    }
  })()
  db.close()

  const started = performance.now()
  const result = await backup({ root, env: {}, quiet: true })
  const backupMs = performance.now() - started
  const verifyStarted = performance.now()
  const verification = await verifyBackup(result.file ?? '')
  const verifyMs = performance.now() - verifyStarted
  console.log(`${formatCount(TASKS)} tasks: database ${formatBytes(fs.statSync(dbFile).size)}, backup ${formatBytes(result.manifest?.size ?? 0)} in ${Math.round(backupMs)} ms (copy ${result.manifest?.durationMs} ms incl. integrity check and sha256), re-verify ${Math.round(verifyMs)} ms, ${verification.ok ? 'verifies' : `does not verify: ${verification.problem}`}`)
} finally {
  fs.rmSync(root, { recursive: true, force: true })
}
