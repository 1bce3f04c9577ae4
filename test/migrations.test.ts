// Migrations: each has a real down; up → down → up works on a populated database, and the bot
// refuses a database that is newer than its code or needs migrating.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ensureSchemaCurrent, openDatabase, schemaStatus } from '../bot/db.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import { MIGRATIONS_DIR } from '../knexfile.js'
import { tempDir } from './support/bot-harness.js'

t.test('migrations: up → down → up on a populated database', async (t) => {
  const db = openDatabase(path.join(tempDir(), 'todo.sqlite'))
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  await new TaskRepository(db).add(7, ['a', 'b'])
  const status = await schemaStatus(db)
  t.same(status.pending, [])
  await db('outbox').insert({ update_id: 1, method: 'sendDocument', params: '{}', created_at: 0, file: Buffer.from('bytes') })
  for (let i = 0; i < status.applied.length; i++) await db.migrate.down()
  t.same((await schemaStatus(db)).applied, [])
  t.notOk(await db.schema.hasTable('tasks'), 'down really removed the tables')
  await db.migrate.latest()
  await new TaskRepository(db).add(7, ['c'])
  t.same((await new TaskRepository(db).open(7)).map((x) => `${x.number} ${x.text}`), ['1 c'])
})

t.test('migrations: outbox_documents adds the outbox file column and its down removes it, keeping the rows', async (t) => {
  const db = openDatabase(path.join(tempDir(), 'todo.sqlite'))
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const columns = async (): Promise<string[]> => (await db.raw('PRAGMA table_info(outbox)') as Array<{ name: string }>).map((c) => c.name)
  t.same(await columns(), ['id', 'update_id', 'method', 'params', 'created_at', 'file'])
  await db('outbox').insert({ update_id: 5, method: 'sendMessage', params: '{"text":"hi"}', created_at: 1 })
  await db.migrate.down()
  t.same(await columns(), ['id', 'update_id', 'method', 'params', 'created_at'])
  t.same(await db('outbox').select('update_id', 'params'), [{ update_id: 5, params: '{"text":"hi"}' }], 'queued replies survive the down')
  await db.migrate.latest()
  t.same(await columns(), ['id', 'update_id', 'method', 'params', 'created_at', 'file'])
})

t.test('migrations: pragmas are on for every connection', async (t) => {
  const db = openDatabase(path.join(tempDir(), 'todo.sqlite'))
  t.teardown(() => db.destroy())
  t.same(await db.raw('PRAGMA journal_mode'), [{ journal_mode: 'wal' }])
  t.same(await db.raw('PRAGMA foreign_keys'), [{ foreign_keys: 1 }])
  t.same(await db.raw('PRAGMA busy_timeout'), [{ timeout: 5000 }])
})

t.test('schema: a fresh database is migrated at start', async (t) => {
  const db = openDatabase(path.join(tempDir(), 'todo.sqlite'))
  t.teardown(() => db.destroy())
  const status = await ensureSchemaCurrent(db)
  t.same(status.pending, [])
  t.ok(status.head?.endsWith('_outbox_documents.ts'))
})

t.test('schema: a database newer than the code is refused, naming the migrations', async (t) => {
  const db = openDatabase(path.join(tempDir(), 'todo.sqlite'))
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  await db('knex_migrations').insert({ name: '20991231000000_from_the_future.ts', batch: 2, migration_time: new Date() })
  await t.rejects(ensureSchemaCurrent(db), { code: 'ESCHEMA_NEWER', message: /migrations this code does not know: 20991231000000_from_the_future\.ts/ })
})

t.test('schema: an existing database with pending migrations is refused with the command to run', async (t) => {
  const db = openDatabase(path.join(tempDir(), 'todo.sqlite'))
  t.teardown(() => db.destroy())
  await db.schema.createTable('something_else', (tb) => { tb.integer('x') })
  const all = fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{14}_.+\.ts$/.test(f)).sort()
  t.ok(all.includes('20261201153000_outbox_documents.ts'))
  await t.rejects(ensureSchemaCurrent(db), { code: 'ESCHEMA_PENDING', message: `the database needs ${all.length} migration(s): ${all.join(', ')}. Run: npx zx ops/migrate.mjs latest (it backs up first)` })
})
