// Knex for the ops scripts (ops/lib/migrations.mjs) function by function, on SQLite in a temp
// folder with the project's real migrations: opening (owner-only, or read-only without creating),
// the newest batch, undoing what a target commit lacks, and what migrations declare about data.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { keepApplied } from '../bot/kept-migrations.js'
import { declaredDataChange, declaresAdditive, lastBatch, openKnex, reinstateKeptOf, schemaStatusOf, undeclaredChanges, undoMigrationsNotIn } from '../ops/lib/migrations.mjs'

const MIGRATIONS = path.resolve(import.meta.dirname, '..', 'storage', 'migrations')
const ALL = fs.readdirSync(MIGRATIONS).filter((n) => n.endsWith('.ts')).sort()

function folder (t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-migrations-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('migrations lib: opening creates an owner-only file and folder; read-only creates nothing', async (t) => {
  const dir = folder(t)
  const before = process.env.DATABASE_FILE
  const ro = path.join(dir, 'ro', 'todo.sqlite')
  const knexRo = await openKnex(ro, MIGRATIONS, { readonly: true })
  await knexRo.destroy()
  t.notOk(fs.existsSync(path.dirname(ro)), 'read-only: no folder made')
  const file = path.join(dir, 'db', 'todo.sqlite')
  const knex = await openKnex(file, MIGRATIONS)
  t.teardown(() => knex.destroy())
  t.equal(process.env.DATABASE_FILE, before, 'DATABASE_FILE is put back')
  process.env.DATABASE_FILE = 'storage/db/elsewhere.sqlite'
  await (await openKnex(file, MIGRATIONS, { readonly: true })).destroy()
  t.equal(process.env.DATABASE_FILE, 'storage/db/elsewhere.sqlite', 'a value set before is put back')
  delete process.env.DATABASE_FILE
  await (await openKnex(file, MIGRATIONS, { readonly: true })).destroy()
  t.notOk('DATABASE_FILE' in process.env, 'unset before: unset after')
  if (before !== undefined) process.env.DATABASE_FILE = before
  t.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700)
  t.equal(fs.statSync(file).mode & 0o777, 0o600)
  t.strictSame(await lastBatch(knex), [], 'no migrations table: no batch')
  t.strictSame(await schemaStatusOf(knex, MIGRATIONS), { applied: [], pending: ALL, unknown: [], head: null })
  await knex.migrate.latest()
  t.strictSame(await lastBatch(knex), ALL, 'one batch, oldest first')
  await knex.migrate.rollback()
  t.strictSame(await lastBatch(knex), [], 'the migrations table is there, with no rows')
  await knex.migrate.up()
  await knex.migrate.up()
  t.strictSame(await lastBatch(knex), ALL.slice(1, 2), 'the newest batch alone')
  t.strictSame(await schemaStatusOf(knex, MIGRATIONS), { applied: ALL.slice(0, 2), pending: ALL.slice(2), unknown: [], head: ALL[1] })
  t.strictSame(await reinstateKeptOf(knex, MIGRATIONS), [], 'nothing kept by a rollback: nothing taken back')
  await keepApplied(knex, [ALL[1] ?? ''], 'test')
  t.strictSame((await schemaStatusOf(knex, MIGRATIONS)).applied, ALL.slice(0, 1))
  t.strictSame(await reinstateKeptOf(knex, MIGRATIONS), ALL.slice(1, 2), 'kept by a rollback: counted as applied again')
  t.strictSame((await schemaStatusOf(knex, MIGRATIONS)).applied, ALL.slice(0, 2))
})

t.test('migrations lib: undo takes off, newest first, what the target does not have, and stops at what it has', async (t) => {
  const dir = folder(t)
  const file = path.join(dir, 'todo.sqlite')
  t.strictSame(await undoMigrationsNotIn(file, MIGRATIONS, ALL), [], 'no migrations table: nothing to undo')
  const knex = await openKnex(file, MIGRATIONS)
  await knex.migrate.latest()
  await knex.destroy()
  t.strictSame(await undoMigrationsNotIn(file, MIGRATIONS, ALL), [], 'the target has them all')
  t.strictSame(await undoMigrationsNotIn(file, MIGRATIONS, ALL.slice(0, -2)), ALL.slice(-2).reverse())
  const after = await openKnex(file, MIGRATIONS, { readonly: true })
  t.strictSame((await schemaStatusOf(after, MIGRATIONS)).applied, ALL.slice(0, -2))
  await after.destroy()
  t.strictSame(await undoMigrationsNotIn(file, MIGRATIONS, [ALL[0] ?? '', 'unrelated.ts']), ALL.slice(1, -2).reverse(), 'down to the first one the target has')
  t.strictSame(await undoMigrationsNotIn(file, MIGRATIONS, []), [ALL[0]], 'nothing kept: all of them')

  const copy = path.join(dir, 'migrations')
  fs.cpSync(MIGRATIONS, copy, { recursive: true })
  const k2 = await openKnex(file, copy)
  await k2.migrate.latest()
  await k2.destroy()
  fs.rmSync(path.join(copy, ALL.at(-1) ?? ''))
  await t.rejects(undoMigrationsNotIn(file, copy, ALL.slice(0, 1)), { message: `${ALL.at(-1)} is applied but its file is not on disk, so it cannot be undone` })
})

t.test('migrations lib: additive is read from the text: `export const additive = true` at the start of a line', async (t) => {
  const dir = folder(t)
  const cases: Array<[string, boolean]> = [
    ['export const additive = true\n', true],
    ['// x\nexport const additive=true // a new table\n', true],
    ['export const additive  =  true;\n', true],
    ['export const additive = false\n', false],
    ['  export const additive = true\n', false],
    ['export const additive = trueish\n', false],
    ['// export const additive = true\n', false],
    ['export const additiveX = true\n', false],
    ['', false],
  ]
  cases.forEach(([text, expected], i) => {
    const file = path.join(dir, `m${i}.ts`)
    fs.writeFileSync(file, text)
    t.equal(declaresAdditive(file), expected, JSON.stringify(text))
  })
  t.equal(declaresAdditive(path.join(dir, 'missing.ts')), false, 'no file: not additive')
})

t.test('migrations lib: declared data changes add up per table; may-decrease wins; a bad value is named', async (t) => {
  const dir = folder(t)
  const write = (name: string, body: string): void => fs.writeFileSync(path.join(dir, name), body)
  write('package.json', '{ "type": "module" }\n') // as the project's own migrations are ES modules
  write('a.ts', 'export const dataChange = { tasks: -5, chats: 2 }\n')
  write('b.ts', 'export const dataChange = { tasks: -1 }\n')
  write('c.ts', "export const dataChange = { reminders: 'may-decrease', chats: -2 }\n")
  write('d.ts', 'export const up = 1\n')
  write('e.ts', "export const dataChange = { reminders: 3, digests: 'may-decrease' }\n")
  write('f.ts', "export const dataChange = { digests: 4, tasks: 1.5 }\n")
  write('g.ts', "export const dataChange = { tasks: '3' }\n")
  t.strictSame(await declaredDataChange(dir, []), {})
  t.strictSame(await declaredDataChange(dir, ['a.ts', 'b.ts', 'missing.ts', 'd.ts']), { tasks: -6, chats: 2 })
  t.strictSame(await declaredDataChange(dir, ['a.ts', 'c.ts', 'e.ts']), { tasks: -5, chats: 0, reminders: 'may-decrease', digests: 'may-decrease' }, 'may-decrease before or after a number')
  await t.rejects(declaredDataChange(dir, ['e.ts', 'f.ts']), { message: 'f.ts: dataChange.tasks must be \'may-decrease\' or a whole number, not 1.5' }, 'digests were may-decrease: a number after it does not matter; 1.5 does')
  await t.rejects(declaredDataChange(dir, ['g.ts']), { message: 'g.ts: dataChange.tasks must be \'may-decrease\' or a whole number, not "3"' })
})

t.test('migrations lib: a change in rows no migration declared is named, in counts with separators', async (t) => {
  t.strictSame(undeclaredChanges({ tasks: 1204, chats: 3, knex_migrations: 6 }, { tasks: 1204, chats: 3, knex_migrations: 2 }, {}), [], 'unchanged; knex\'s own tables are not data')
  t.strictSame(undeclaredChanges({ tasks: 1204 }, { tasks: 1300 }, {}), [], 'a gain needs no declaration')
  t.strictSame(undeclaredChanges({ tasks: 1204, chats: 3 }, { tasks: 1200, chats: 3 }, {}), ['tasks lost 4 rows (1,204 → 1,200) and no migration declares it'])
  t.strictSame(undeclaredChanges({ tasks: 1204, outbox: 2 }, { tasks: 1204 }, {}), ['outbox lost 2 rows (2 → 0) because it was dropped and no migration declares it'])
  t.strictSame(undeclaredChanges({ tasks: 1204, outbox: 0 }, { tasks: 1204 }, {}), [], 'an empty table dropped lost nothing')
  t.strictSame(undeclaredChanges({ tasks: 1204 }, { tasks: 1199 }, { tasks: -5 }), [], 'exactly as declared')
  t.strictSame(undeclaredChanges({ tasks: 1204 }, { tasks: 1200 }, { tasks: -5 }), ['tasks changed by -4 rows (1,204 → 1,200) but the migrations declare -5'])
  t.strictSame(undeclaredChanges({ tasks: 1204 }, { tasks: 1204 }, { tasks: 2 }), ['tasks changed by 0 rows (1,204 → 1,204) but the migrations declare 2'])
  t.strictSame(undeclaredChanges({}, { rates: 3 }, { rates: 4 }), ['rates changed by 3 rows (0 → 3) but the migrations declare 4'], 'a declared table that did not exist before')
  t.strictSame(undeclaredChanges({ tasks: 5000 }, {}, { tasks: 'may-decrease' }), [], 'may-decrease accepts any loss, even the table')
  t.strictSame(undeclaredChanges({ b: 2, a: 2 }, { b: 1, a: 1 }, {}), ['a lost 1 rows (2 → 1) and no migration declares it', 'b lost 1 rows (2 → 1) and no migration declares it'], 'in table order')
})
