// Migrations: each has a real down; up → down → up works on a populated database, and the bot
// refuses a database that is newer than its code or needs migrating — on SQLite and PostgreSQL.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ensureSchemaCurrent, openDatabase, schemaStatus, type Database } from '../bot/db.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import { MIGRATIONS_DIR } from '../knexfile.js'
import { tempDir } from './support/bot-harness.js'
import { forEachEngine, type EngineCase } from './support/engines.js'

// Named, because a later migration (rate_limits) now sits on top of it.
const HANDLED_UPDATES = '20261201190000_handled_updates.ts'

/** The outbox's columns, in order, as each engine describes them. */
async function outboxColumns (db: Database, e: EngineCase): Promise<string[]> {
  if (e.engine === 'sqlite') return (await db.raw('PRAGMA table_info(outbox)') as Array<{ name: string }>).map((c) => c.name)
  return await db('information_schema.columns').where({ table_name: 'outbox', table_schema: db.raw('current_schema()') }).orderBy('ordinal_position').pluck('column_name')
}

forEachEngine(t, 'migrations: up → down → up on a populated database', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  await new TaskRepository(db, Date.now).add(7, ['a', 'b'])
  const status = await schemaStatus(db)
  t.same(status.pending, [])
  await db('outbox').insert({ update_id: 1, method: 'sendDocument', params: '{}', created_at: 0, file: Buffer.from('bytes') })
  for (let i = 0; i < status.applied.length; i++) await db.migrate.down()
  t.same((await schemaStatus(db)).applied, [])
  t.notOk(await db.schema.hasTable('tasks'), 'down really removed the tables')
  await db.migrate.latest()
  await new TaskRepository(db, Date.now).add(7, ['c'])
  t.same((await new TaskRepository(db, Date.now).open(7)).map((x) => `${x.number} ${x.text}`), ['1 c'])
})

forEachEngine(t, 'migrations: outbox_documents adds the outbox file column and its down removes it, keeping the rows', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  await db.migrate.down({ name: '20261201230000_rate_limits.ts' })
  await db.migrate.down()
  const columns = (): Promise<string[]> => outboxColumns(db, e)
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

forEachEngine(t, 'migrations: handled_updates keeps the last handled update id across up and down', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  await db.migrate.down({ name: HANDLED_UPDATES })
  t.notOk(await db.schema.hasTable('handled_updates'))
  await db('bot_state').insert({ key: 'last_update_id', value: '4711' })
  await db.migrate.latest()
  t.same(await db('handled_updates').pluck('update_id'), [4711], 'the stored offset becomes the first handled id')
  t.same(await db('bot_state').select('key'), [], 'and leaves bot_state')
  await db('handled_updates').insert({ update_id: 4712, handled_at: 1 })
  await db.migrate.down({ name: HANDLED_UPDATES })
  t.same(await db('bot_state').select('key', 'value'), [{ key: 'last_update_id', value: '4712' }], 'down writes the newest id back')
  t.notOk(await db.schema.hasTable('handled_updates'))
})

forEachEngine(t, 'schema: a fresh database is migrated at start', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  const status = await ensureSchemaCurrent(db)
  t.same(status.pending, [])
  t.ok(status.head?.endsWith('_rate_limits.ts'))
})

forEachEngine(t, 'schema: a database newer than the code is refused, naming the migrations', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  await db('knex_migrations').insert({ name: '20991231000000_from_the_future.ts', batch: 2, migration_time: new Date() })
  await t.rejects(ensureSchemaCurrent(db), { code: 'ESCHEMA_NEWER', message: /migrations this code does not know: 20991231000000_from_the_future\.ts/ })
})

forEachEngine(t, 'schema: an existing database with pending migrations is refused with the command to run', async (t, e) => {
  const db = e.open()
  t.teardown(() => db.destroy())
  await db.schema.createTable('something_else', (tb) => { tb.integer('x') })
  const all = fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{14}_.+\.ts$/.test(f)).sort()
  t.ok(all.includes('20261201153000_outbox_documents.ts'))
  await t.rejects(ensureSchemaCurrent(db), { code: 'ESCHEMA_PENDING', message: `the database needs ${all.length} migration(s): ${all.join(', ')}. Run: npx zx ops/migrate.mjs latest (it backs up first)` })
})
