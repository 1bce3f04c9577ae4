// The two small helpers of bot/updates/: the prepared-statement cache (knexfile.ts installs it on
// every SQLite connection) and carryHandledIds (a restore or a rollback's take-over keeps the ids
// of the updates answered after the backup). Real better-sqlite3 files in a temp folder.
import path from 'node:path'
import Sqlite from 'better-sqlite3'
import t from 'tap'
import { carryHandledIds } from '../bot/updates/carry-handled.js'
import { cachePreparedStatements, MAX_CACHED_STATEMENTS } from '../bot/updates/statement-cache.js'
import { tempDir } from './support/bot-harness.js'

/** A connection whose `prepare` is counted, wrapped by the cache. */
function counted (): { db: Sqlite.Database, prepared: string[] } {
  const db = new Sqlite(':memory:')
  const prepared: string[] = []
  const original = db.prepare.bind(db)
  db.prepare = ((sql: string) => { prepared.push(sql); return original(sql) }) as typeof db.prepare
  return { db: cachePreparedStatements(db), prepared }
}

t.test('statement cache: the same SQL is prepared once and answers as before', async (t) => {
  const { db, prepared } = counted()
  t.teardown(() => db.close())
  db.exec('create table t (n integer)')
  const insert = db.prepare('insert into t (n) values (?)')
  insert.run(1)
  t.equal(db.prepare('insert into t (n) values (?)'), insert, 'the cached statement itself')
  db.prepare('insert into t (n) values (?)').run(2)
  t.same(db.prepare('select n from t order by n').all(), [{ n: 1 }, { n: 2 }])
  t.same(prepared, ['insert into t (n) values (?)', 'select n from t order by n'])
})

t.test('statement cache: keeps at most MAX_CACHED_STATEMENTS (500); past that, statements are prepared each time', async (t) => {
  t.equal(MAX_CACHED_STATEMENTS, 500)
  const { db, prepared } = counted()
  t.teardown(() => db.close())
  for (let i = 0; i < 500; i++) db.prepare(`select ${i}`)
  for (let i = 0; i < 500; i++) db.prepare(`select ${i}`)
  t.equal(prepared.length, 500, 'the first 500 are kept')
  db.prepare('select 500')
  db.prepare('select 500')
  t.equal(prepared.length, 502, 'the 501st is prepared on each use')
  t.equal(db.prepare('select 499').get() !== undefined, true)
  t.equal(prepared.length, 502)
})

t.test('statement cache: the wrapped connection is the same object, and a schema change is seen', async (t) => {
  const plain = new Sqlite(':memory:')
  t.teardown(() => plain.close())
  t.equal(cachePreparedStatements(plain), plain)
  plain.exec('create table t (a integer)')
  plain.prepare('insert into t values (1)').run()
  const select = 'select * from t'
  t.same(plain.prepare(select).all(), [{ a: 1 }])
  plain.exec('alter table t add column b integer default 7')
  t.same(plain.prepare(select).all(), [{ a: 1, b: 7 }])
})

/** A database file with the handled_updates table (as the migration makes it) and these rows. */
function ledgerFile (name: string, rows: Array<[number, number]>, table = true): string {
  const file = path.join(tempDir(), name)
  const db = new Sqlite(file)
  if (table) {
    db.exec('create table handled_updates (update_id integer primary key, handled_at integer not null)')
    for (const [id, at] of rows) db.prepare('insert into handled_updates values (?, ?)').run(id, at)
  }
  db.close()
  return file
}

const idsOf = (file: string): Array<[number, number]> => {
  const db = new Sqlite(file, { readonly: true })
  try {
    return (db.prepare('select update_id, handled_at from handled_updates order by update_id').all() as Array<{ update_id: number, handled_at: number }>).map((r) => [r.update_id, r.handled_at])
  } finally { db.close() }
}

t.test('carry handled: the ids handled after the backup go into the restored database, with their times', async (t) => {
  const replaced = ledgerFile('replaced.sqlite', [[10, 100], [11, 110], [12, 120], [13, 130]])
  const restored = ledgerFile('restored.sqlite', [[10, 100], [11, 110]])
  t.equal(carryHandledIds(replaced, restored), 2)
  t.same(idsOf(restored), [[10, 100], [11, 110], [12, 120], [13, 130]])
  t.same(idsOf(replaced), [[10, 100], [11, 110], [12, 120], [13, 130]], 'the replaced file is only read')
  t.equal(carryHandledIds(replaced, restored), 0, 'a second time: nothing newer')
})

t.test('carry handled: only ids above the restored newest are carried (older pruned ones stay out)', async (t) => {
  const replaced = ledgerFile('replaced.sqlite', [[5, 50], [20, 200], [21, 210]])
  const restored = ledgerFile('restored.sqlite', [[20, 200]])
  t.equal(carryHandledIds(replaced, restored), 1)
  t.same(idsOf(restored), [[20, 200], [21, 210]])
})

t.test('carry handled: an empty restored table takes every id', async (t) => {
  const replaced = ledgerFile('replaced.sqlite', [[1, 10], [2, 20]])
  const restored = ledgerFile('restored.sqlite', [])
  t.equal(carryHandledIds(replaced, restored), 2)
  t.same(idsOf(restored), [[1, 10], [2, 20]])
})

t.test('carry handled: a database without the table (before the migration) carries nothing and is left as it was', async (t) => {
  const old = ledgerFile('old.sqlite', [], false)
  const restored = ledgerFile('restored.sqlite', [[1, 10]])
  t.equal(carryHandledIds(old, restored), 0)
  t.same(idsOf(restored), [[1, 10]])
  const replaced = ledgerFile('replaced.sqlite', [[1, 10], [2, 20]])
  t.equal(carryHandledIds(replaced, old), 0)
  const db = new Sqlite(old, { readonly: true })
  t.same(db.prepare("select name from sqlite_master where type = 'table'").all(), [], 'no table was made')
  db.close()
})

t.test('carry handled: a missing replaced file is an error and creates nothing', async (t) => {
  const missing = path.join(tempDir(), 'missing.sqlite')
  const restored = ledgerFile('restored.sqlite', [[1, 10]])
  t.throws(() => carryHandledIds(missing, restored), { code: 'SQLITE_CANTOPEN' })
  t.same(idsOf(restored), [[1, 10]])
})

t.test('carry handled: both files are closed afterwards, even on an error', async (t) => {
  const { readdirSync, readlinkSync } = await import('node:fs')
  const open = (file: string): number => readdirSync('/proc/self/fd').filter((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`) === file } catch { return false } }).length
  const replaced = ledgerFile('replaced.sqlite', [[1, 10], [2, 20]])
  const restored = ledgerFile('restored.sqlite', [[1, 10]])
  carryHandledIds(replaced, restored)
  t.equal(open(replaced) + open(restored), 0)
  // An insert that fails half-way (a trigger refuses it): an error, nothing carried, both closed.
  const odd = path.join(tempDir(), 'odd.sqlite')
  const db = new Sqlite(odd)
  db.exec("create table handled_updates (update_id integer primary key, handled_at integer not null); create trigger refuse before insert on handled_updates begin select raise(abort, 'refused'); end")
  db.close()
  t.throws(() => carryHandledIds(replaced, odd), { code: 'SQLITE_CONSTRAINT_TRIGGER', message: 'refused' })
  t.same(idsOf(odd), [], 'nothing carried')
  t.equal(open(replaced) + open(odd), 0)
})
