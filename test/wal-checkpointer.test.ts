// WAL checkpoints off the event loop (bot/wal-checkpointer.ts): the bot's own commits never run
// one (its fsync stalled a user's answer for up to 1.2 s while `npm ci` wrote beside it); a short
// child process does, when the WAL changed, and keeps it small.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { openDatabase } from '../bot/db.js'
import { createLogger } from '../bot/logger.js'
import { WalCheckpointer } from '../bot/wal-checkpointer.js'
import { startHarness } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

const logger = createLogger('silent')

async function freshDatabase (t: Test): Promise<{ file: string, db: ReturnType<typeof openDatabase> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-wal-'))
  const file = path.join(dir, 'todo.sqlite')
  const db = openDatabase(file, { checkpoints: 'external' })
  t.teardown(async () => {
    await db.destroy()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await db.schema.createTable('notes', (table) => { table.increments('id'); table.string('text') })
  return { file, db }
}

/** One commit per row: each writes at least one WAL frame. */
async function commits (db: ReturnType<typeof openDatabase>, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) await db('notes').insert({ text: `note ${i}` })
}

t.test('wal checkpoints: commits on the bot\'s connections never checkpoint; the child copies every frame', async (t) => {
  const { file, db } = await freshDatabase(t)
  // No tick during the test: only checkpointNow copies.
  const checkpointer = new WalCheckpointer(file, logger, 3_600_000).start()
  t.teardown(() => checkpointer.stop())
  await commits(db, 1_200)
  const first = await checkpointer.checkpointNow()
  // SQLite's own checkpoint (at 1,000 pages) would have restarted the WAL inside a commit.
  t.ok(first.log >= 1_200, `all ${first.log} frames were still in the WAL: no commit checkpointed`)
  t.equal(first.checkpointed, first.log, 'the child copied every frame into the database')
  await commits(db, 10)
  const second = await checkpointer.checkpointNow()
  t.ok(second.log < 100, `the WAL started over after the checkpoint (${second.log} frames), it does not grow`)
  t.equal(second.checkpointed, second.log)
})

t.test('wal checkpoints: the timer checkpoints only a WAL that changed', async (t) => {
  const { file, db } = await freshDatabase(t)
  const checkpointer = new WalCheckpointer(file, logger, 100).start()
  t.teardown(() => checkpointer.stop())
  await commits(db, 5)
  await waitUntil(() => checkpointer.checkpoints >= 1, { what: 'a checkpoint after the commits' })
  const after = checkpointer.checkpoints
  await new Promise((resolve) => setTimeout(resolve, 600))
  t.equal(checkpointer.checkpoints, after, 'none while nothing was written')
  await commits(db, 5)
  await waitUntil(() => checkpointer.checkpoints > after, { what: 'a checkpoint after more commits' })
  t.pass('one after the next commits')
})

t.test('wal checkpoints: a database the child cannot open is reported once and tried again, never thrown', async (t) => {
  const lines: string[] = []
  const capture = new Writable({ write (chunk: Buffer, _e, done) { lines.push(chunk.toString()); done() } })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-wal-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'todo.sqlite')
  // A WAL that changes, beside a database file that is not there (moved away under the bot).
  fs.writeFileSync(`${file}-wal`, '')
  const checkpointer = new WalCheckpointer(file, createLogger('info', capture), 100).start()
  t.teardown(() => checkpointer.stop())
  await waitUntil(() => lines.length > 0, { what: 'the warning' })
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(lines.length, 1, 'one line, not one per attempt')
  t.match(JSON.parse(lines[0] ?? '{}'), { level: 40, msg: 'WAL checkpoint failed; trying again in a few seconds', err: { message: /unable to open database file/ } })
  // The file is back: the next attempt checkpoints.
  fs.rmSync(`${file}-wal`)
  const db = openDatabase(file, { checkpoints: 'external' })
  t.teardown(() => db.destroy())
  await db.schema.createTable('notes', (table) => { table.increments('id') })
  await waitUntil(() => checkpointer.checkpoints > 0, { what: 'checkpoints once the file is there' })
  t.pass('checkpoints once the file is there')
})

t.test('wal checkpoints: the running bot never checkpoints in a commit, and its commits reach the database file within seconds', async (t) => {
  const h = await startHarness()
  t.teardown(() => h.close())
  const rows = await h.bot.db.raw('pragma wal_autocheckpoint') as Array<{ wal_autocheckpoint: number }>
  t.same(rows, [{ wal_autocheckpoint: 0 }], 'the bot\'s connection leaves checkpoints to the child')
  // In WAL mode only a checkpoint writes the database file itself: 30 commits are far below
  // SQLite's own threshold, so a change of the file within seconds is the child's doing.
  const before = fs.statSync(h.config.databaseFile).mtimeMs
  for (let i = 0; i < 30; i += 1) await h.say(`task ${i}`)
  await waitUntil(() => fs.statSync(h.config.databaseFile).mtimeMs > before, { what: 'the commits checkpointed into the database file', timeoutMs: 10_000 })
  t.pass('checkpointed by the child within seconds')
})
