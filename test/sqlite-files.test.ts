// The ops toolkit's SQLite access (ops/lib/sqlite.mjs) function by function, on real files in a
// temp folder: inspection and what it says of a damaged file, the checks before SQLite opens a
// path, sizes, the migration head, a chat's open tasks, checksums and the online copy.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { databaseBytes, databaseFileProblem, FIRST_STEP_PAGES, fsyncPath, inspectDatabase, onlineBackup, openTasksOf, readHead, removeDatabaseFiles, sha256File } from '../ops/lib/sqlite.mjs'

/** This process's open file descriptors on `file` (a connection left open would show here). */
function openOn (file: string): number {
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === file } catch { return false }
  }).length
}

function folder (t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-sqlite-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A database with migrations recorded, two chats' tasks and a foreign key. */
function sample (file: string, options: { migrations?: string[], orphan?: boolean } = {}): void {
  const db = new Database(file)
  db.exec(`create table chats (id integer primary key);
    create table tasks (id integer primary key, chat_id integer not null references chats(id), done_at integer, deleted_at integer);
    create table "odd""name" (x);
    insert into chats values (7), (8);
    insert into tasks (chat_id, done_at, deleted_at) values (7, null, null), (7, null, null), (7, 1, null), (7, null, 1), (8, null, null);`)
  if (options.migrations !== undefined) {
    db.exec('create table knex_migrations (id integer primary key autoincrement, name text)')
    for (const name of options.migrations) db.prepare('insert into knex_migrations (name) values (?)').run(name)
  }
  if (options.orphan === true) {
    db.pragma('foreign_keys = OFF')
    db.exec('insert into tasks (chat_id) values (99)')
  }
  db.close()
}

t.test('sqlite files: inspection counts every table\'s rows and reads the migration head', async (t) => {
  const dir = folder(t)
  const file = path.join(dir, 'a.sqlite')
  sample(file, { migrations: ['001_first.ts', '002_second.ts'] })
  t.strictSame(inspectDatabase(file), { ok: true, problem: null, integrity: 'ok', foreignKeyProblems: 0, counts: { chats: 2, knex_migrations: 2, 'odd"name': 0, tasks: 5 }, head: '002_second.ts' })
  t.equal(readHead(file), '002_second.ts')
  const bare = path.join(dir, 'b.sqlite')
  sample(bare)
  t.equal(inspectDatabase(bare).head, null, 'no migrations table: no head')
  t.equal(readHead(bare), null)
  const empty = path.join(dir, 'c.sqlite')
  sample(empty, { migrations: [] })
  t.equal(inspectDatabase(empty).head, null, 'a migrations table with no rows: no head')
  t.equal(readHead(empty), null)
  t.equal(openTasksOf(file, 7), 2, 'open: not done, not deleted')
  t.equal(openTasksOf(file, 8), 1)
  t.equal(openTasksOf(file, 9), 0)
  t.equal(openOn(file), 0, 'inspection, head and open tasks leave no connection open')
  const missing = path.join(dir, 'missing.sqlite')
  t.throws(() => readHead(missing), { code: 'SQLITE_CANTOPEN' })
  t.throws(() => openTasksOf(missing, 7), { code: 'SQLITE_CANTOPEN' })
  t.notOk(fs.existsSync(missing), 'reading never creates a database')
})

t.test('sqlite files: inspection says what is wrong with a damaged file, and never throws', async (t) => {
  const dir = folder(t)
  const orphan = path.join(dir, 'orphan.sqlite')
  sample(orphan, { orphan: true })
  const o = inspectDatabase(orphan)
  t.strictSame([o.ok, o.problem, o.integrity, o.foreignKeyProblems, o.counts.tasks], [false, 'foreign_key_check found 1 row(s) pointing at nothing', 'ok', 1, 6])
  t.strictSame(inspectDatabase(orphan, { checks: false }), { ok: true, problem: null, integrity: 'ok', foreignKeyProblems: 0, counts: { chats: 2, 'odd"name': 0, tasks: 6 }, head: null }, 'checks: false only counts rows')

  t.strictSame(inspectDatabase(path.join(dir, 'missing.sqlite')), { ok: false, problem: 'cannot open it: unable to open database file', integrity: 'not checked', foreignKeyProblems: 0, counts: {}, head: null })

  // An index declared in another order than it was built: SQLite then finds rows missing from it.
  const skewed = path.join(dir, 'skewed.sqlite')
  const db = new Database(skewed)
  db.exec('create table t (id integer primary key, v text); create index t_v on t (v)')
  for (let i = 0; i < 5; i++) db.prepare('insert into t (v) values (?)').run(`v${i}`)
  db.unsafeMode(true)
  db.pragma('writable_schema = ON')
  db.exec("update sqlite_master set sql = 'CREATE INDEX t_v ON t (v DESC)' where name = 't_v'")
  db.close()
  const three = 'row 1 missing from index t_v; row 2 missing from index t_v; row 3 missing from index t_v'
  t.strictSame(inspectDatabase(skewed), { ok: false, problem: `integrity_check failed: ${three}`, integrity: three, foreignKeyProblems: 0, counts: {}, head: null }, 'the first three of SQLite\'s lines; nothing counted')
  t.strictSame(inspectDatabase(skewed, { checks: false }), { ok: true, problem: null, integrity: 'ok', foreignKeyProblems: 0, counts: { t: 5 }, head: null }, 'checks: false runs no integrity_check')
  t.equal(openOn(skewed), 0, 'no connection left open')

  const text = path.join(dir, 'text.sqlite')
  fs.writeFileSync(text, 'x'.repeat(4096))
  t.strictSame(inspectDatabase(text), { ok: false, problem: 'cannot read it: file is not a database', integrity: 'not checked', foreignKeyProblems: 0, counts: {}, head: null })
})

t.test('sqlite files: a path is checked before SQLite opens it', async (t) => {
  const dir = folder(t)
  t.equal(databaseFileProblem(path.join(dir, 'missing.sqlite')), null, 'missing: the caller says so')
  t.equal(databaseFileProblem(dir), 'is a folder, not a database file')
  t.equal(databaseFileProblem('/dev/null'), 'is not a regular file')
  const empty = path.join(dir, 'empty.sqlite')
  fs.writeFileSync(empty, '')
  t.equal(databaseFileProblem(empty), null, 'empty: SQLite makes it a database')
  const text = path.join(dir, 'notes.sqlite')
  fs.writeFileSync(text, 'SQLite format 2\0 and more text after it')
  t.equal(databaseFileProblem(text), 'is not an SQLite database (it does not start with "SQLite format 3")')
  const short = path.join(dir, 'short.sqlite')
  fs.writeFileSync(short, 'SQLite')
  t.equal(databaseFileProblem(short), 'is not an SQLite database (it does not start with "SQLite format 3")', 'shorter than the header')
  const real = path.join(dir, 'real.sqlite')
  sample(real)
  t.equal(databaseFileProblem(real), null)
  t.equal(openOn(real), 0, 'the header read leaves no file open')
})

t.test('sqlite files: sizes count the write-ahead log; removing takes the companions too', async (t) => {
  const dir = folder(t)
  const file = path.join(dir, 'live.sqlite')
  t.equal(databaseBytes(file), 0, 'nothing there')
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec('create table t (v text); insert into t values (\'x\')')
  const main = fs.statSync(file).size
  const wal = fs.statSync(`${file}-wal`).size
  t.ok(wal > 0)
  t.equal(databaseBytes(file), main + wal)
  db.close()
  for (const suffix of ['-journal', '-wal', '-shm']) fs.writeFileSync(file + suffix, 'x')
  fs.writeFileSync(path.join(dir, 'other.sqlite'), 'x')
  removeDatabaseFiles(file)
  removeDatabaseFiles(file)
  t.strictSame(fs.readdirSync(dir), ['other.sqlite'], 'the file and its companions gone; a second call is fine')
})

t.test('sqlite files: checksums and fsync', async (t) => {
  const dir = folder(t)
  const file = path.join(dir, 'data.bin')
  const data = crypto.randomBytes(300_000)
  fs.writeFileSync(file, data)
  t.equal(await sha256File(file), crypto.createHash('sha256').update(data).digest('hex'))
  fsyncPath(file)
  fsyncPath(dir)
  t.equal(openOn(file) + openOn(dir), 0, 'fsync leaves nothing open')
  t.throws(() => fsyncPath(path.join(dir, 'missing')), { code: 'ENOENT' })
})

t.test('sqlite files: the online copy is one self-contained file with every row, its progress reported', async (t) => {
  const dir = folder(t)
  const source = path.join(dir, 'live.sqlite')
  const db = new Database(source)
  db.pragma('journal_mode = WAL')
  db.exec('create table t (id integer primary key, v text)')
  const insert = db.prepare('insert into t (v) values (?)')
  db.transaction(() => { for (let i = 0; i < 3000; i++) insert.run(crypto.randomBytes(500).toString('hex')) })()
  const pages = Number(db.pragma('page_count', { simple: true }))
  t.ok(pages > 2 * FIRST_STEP_PAGES, `${pages} pages: more than two steps`)
  const seen: Array<{ totalPages: number, remainingPages: number }> = []
  const dest = path.join(dir, 'copy.sqlite')
  t.strictSame(await onlineBackup(source, dest, { onProgress: (p) => seen.push({ totalPages: p.totalPages, remainingPages: p.remainingPages }) }), { restarts: 0 })
  db.close()
  t.equal(seen.at(-1)?.remainingPages, 0, 'the last report: nothing left')
  t.ok(seen.length >= 3, `reported step by step (${seen.length} reports)`)
  t.ok(seen.every((p) => p.totalPages === pages))
  t.ok(seen.slice(0, -1).every((p, i) => (seen[i + 1]?.remainingPages ?? 0) <= p.remainingPages), 'each report has less left')
  const left = seen.map((p) => p.remainingPages)
  t.strictSame(left.slice(1, -1).map((n, i) => (left[i] ?? 0) - n), left.slice(1, -1).map(() => FIRST_STEP_PAGES), `${FIRST_STEP_PAGES} pages a step while nobody writes (${left.join(', ')} left)`)
  const copy = new Database(dest, { readonly: true })
  t.equal(copy.pragma('journal_mode', { simple: true }), 'delete', 'not WAL: one file')
  t.equal(copy.prepare('select count(*) from t').pluck().get(), 3000)
  copy.close()
  t.notOk(fs.existsSync(`${dest}-wal`))
  t.equal(openOn(dest), 0, 'the copy is closed')
  await t.rejects(onlineBackup(path.join(dir, 'missing.sqlite'), path.join(dir, 'x.sqlite')), { code: 'SQLITE_CANTOPEN' }, 'no source: refused, nothing made')
  t.notOk(fs.existsSync(path.join(dir, 'x.sqlite')))
})
