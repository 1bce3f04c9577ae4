// ops/migrate.mjs against real SQLite files in temp sandboxes: status, the rehearsal on a copy
// (catches knex #6213's silent cascade, accepts a declared change), latest and rollback.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { undeclaredChanges } from '../ops/lib/migrations.mjs'
import { createSandbox, type Sandbox } from './support/ops-sandbox.js'
import { appliedMigrations } from './support/migrations-applied.js'

/** Every migration the code ships, in order (the fixtures below come on top of these). */
const BASE = fs.readdirSync(path.join(import.meta.dirname, '..', 'storage', 'migrations')).filter((f) => /^\d{14}_.+\.ts$/.test(f)).sort()
const CASCADE = '20261201000000_drop_chat_timezone.ts'
const PURGE = '20261201000000_purge_deleted_tasks.ts'

const count = (box: Sandbox, table: string): number => box.query<{ n: number }>(box.dbFile, `select count(*) as n from ${table}`)[0]?.n ?? -1
const applied = (box: Sandbox): string[] => appliedMigrations(box.dbFile)

t.test('migrate: the rehearsal stops a migration that silently deletes rows, and the live database is untouched', async (t) => {
  const box = await createSandbox(t, { tasks: 300, pending: ['migrations-cascade'] })
  const before = box.sha(box.dbFile)
  const run = await box.run('migrate', ['rehearse'])
  t.equal(run.code, 1)
  const name = /storage\/backups\/(todo_\S+\.sqlite)/.exec(run.stdout)?.[1] ?? ''
  t.match(run.stdout, new RegExp([
    '^✓ backup  storage/backups/todo_\\S+\\.sqlite \\([\\d.]+ kB, 300 tasks, integrity ok\\)',
    `  rehearsing 1 migration\\(s\\) on a copy of ${name}: ${CASCADE}`,
    '  table            before  after',
    '  bot_state             0      0',
    '  chats                 1      1',
    '  digests               0      0',
    '  handled_updates       0      0',
    '  outbox                0      0',
    '  owner_notices         0      0',
    '  rate_limits           0      0',
    '  reminders             0      0',
    '  scheduled_jobs        0      0',
    '  tasks               300      0',
    '$',
  ].join('\n')))
  t.equal(run.stderr, '✗ rehearse: tasks lost 300 rows (300 → 0) and no migration declares it (knex #6213: with foreign keys on, rebuilding a referenced table cascades deletes); the live database was not touched — see: fix the migration, or declare the change in it: export const dataChange = { tasks: \'may-decrease\' }\n')
  t.equal(box.sha(box.dbFile), before, 'live database unchanged (checksum)')
  t.same(applied(box), BASE)
  t.same(fs.readdirSync(path.join(box.root, 'storage')).sort(), ['backups', 'db', 'migrations'], 'the scratch copy is gone')

  const latest = await box.run('migrate', ['latest', '--yes'])
  t.equal(latest.code, 1, 'latest rehearses first and stops')
  t.match(latest.stderr, /^✗ rehearse: tasks lost 300 rows/)
  t.same(applied(box), BASE, 'nothing was applied')
  t.equal(count(box, 'tasks'), 300)
})

t.test('migrate: the rehearsal accepts a migration that declares its data change, then latest and rollback apply it', async (t) => {
  const box = await createSandbox(t, { tasks: 300, pending: ['migrations-declared'] })
  const rehearsal = await box.run('migrate', ['rehearse'])
  t.equal(rehearsal.code, 0, rehearsal.stderr)
  const name = /storage\/backups\/(todo_\S+\.sqlite)/.exec(rehearsal.stdout)?.[1] ?? ''
  t.match(rehearsal.stdout, new RegExp([
    '^✓ backup  storage/backups/todo_\\S+\\.sqlite \\([\\d.]+ kB, 300 tasks, integrity ok\\)',
    `  rehearsing 1 migration\\(s\\) on a copy of ${name}: ${PURGE}`,
    '  table            before  after',
    '  bot_state             0      0',
    '  chats                 1      1',
    '  digests               0      0',
    '  handled_updates       0      0',
    '  outbox                0      0',
    '  owner_notices         0      0',
    '  purged_tasks          -     30',
    '  rate_limits           0      0',
    '  reminders             0      0',
    '  scheduled_jobs        0      0',
    '  tasks               300    270',
    `✓ rehearse  1 migration\\(s\\) ran on a copy of ${name}, rows as expected`,
    '$',
  ].join('\n')))
  t.same(applied(box), BASE, 'the rehearsal changes nothing live')

  const again = await box.run('migrate', ['rehearse'])
  t.match(again.stdout, new RegExp(`^  rehearsing 1 migration\\(s\\) on a copy of ${name}:`), 'the newest verified backup at the live head is reused')

  const latest = await box.run('migrate', ['latest', '--yes'])
  t.equal(latest.code, 0, latest.stderr)
  t.match(latest.stdout, new RegExp(`\n✓ migrate  applied 1 migration\\(s\\) as batch 2: ${PURGE}\n$`))
  t.same(applied(box), [...BASE, PURGE])
  t.equal(count(box, 'tasks'), 270)
  t.equal(count(box, 'purged_tasks'), 30)

  const status = await box.run('migrate', ['status'])
  t.equal(status.stdout, `${[...BASE, PURGE].map((n) => `  applied  ${n}\n`).join('')}✓ migrate  storage/db/todo.sqlite: ${BASE.length + 1} applied, 0 pending, 0 unknown to this code\n`)

  const rollback = await box.run('migrate', ['rollback', '--yes'])
  t.equal(rollback.code, 0, rollback.stderr)
  t.match(rollback.stdout, new RegExp(`^✓ backup  storage/backups/todo_\\S+\\.sqlite \\([\\d.]+ kB, 270 tasks, integrity ok\\)\n✓ migrate  rolled back 1 migration\\(s\\): ${PURGE}\n$`))
  t.same(applied(box), BASE)
  t.equal(count(box, 'tasks'), 300, 'down puts the purged tasks back')
})

t.test('migrate: status lists applied, pending and unknown-to-this-code migrations', async (t) => {
  const box = await createSandbox(t, { tasks: 1, pending: ['migrations-declared'] })
  box.query(box.dbFile, "insert into knex_migrations (name, batch, migration_time) values ('20261130000000_from_the_future.ts', 2, 0) returning id")
  const run = await box.run('migrate', ['status'])
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stdout, [
    ...BASE.map((n) => `  applied  ${n}`),
    '  applied  20261130000000_from_the_future.ts  (unknown to this code)',
    `  pending  ${PURGE}`,
    `✓ migrate  storage/db/todo.sqlite: ${BASE.length + 1} applied, 1 pending, 1 unknown to this code`,
    '! migrate  the database was migrated by newer code: deploy that version, or roll back with npx zx ops/rollback.mjs',
    '',
  ].join('\n'))
  const latest = await box.run('migrate', ['latest', '--yes'])
  t.equal(latest.code, 1)
  t.equal(latest.stderr, '✗ migrate: storage/db/todo.sqlite has migrations this code does not know: 20261130000000_from_the_future.ts — see: deploy the newer code, or: npx zx ops/rollback.mjs\n')
})

t.test('migrate: a declared exact change must match, and may-decrease accepts a dropped table', async (t) => {
  t.same(undeclaredChanges({ tasks: 10, chats: 2 }, { tasks: 5, chats: 2 }, { tasks: -5 }), [])
  t.same(undeclaredChanges({ tasks: 10 }, { tasks: 3 }, { tasks: -5 }), ['tasks changed by -7 rows (10 → 3) but the migrations declare -5'])
  t.same(undeclaredChanges({ tasks: 10, old: 4 }, { tasks: 10 }, { old: 'may-decrease' }), [])
  t.same(undeclaredChanges({ old: 4 }, {}, {}), ['old lost 4 rows (4 → 0) because it was dropped and no migration declares it'])
  t.same(undeclaredChanges({ tasks: 10, knex_migrations: 1 }, { tasks: 12, knex_migrations: 2 }, {}), [], 'growth and knex\'s own tables are fine')
})

t.test('migrate: latest on a fresh install creates the database owner-only', async (t) => {
  const box = await createSandbox(t, { tasks: 0 })
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(box.dbFile + suffix, { force: true })
  const run = await box.run('migrate', ['latest', '--yes'])
  t.equal(run.code, 0, run.stderr)
  t.same(applied(box), BASE)
  t.equal(fs.statSync(box.dbFile).mode & 0o777, 0o600)
})
