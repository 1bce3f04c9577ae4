// Deploy and rollback with the bot on PostgreSQL (the test run's server, a database of its own),
// under a real PM2 daemon with the emulator: the incoming migration is applied at take-over in its
// own transaction, the backup step's pg_dump is the restore point, a migration that throws on the
// live database leaves it as it was and the bot is handed back, and a rollback keeps the data and
// undoes the deploy's migrations.
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import t from 'tap'
import { FRIEND, OWNER } from './support/bot-harness.js'
import { git } from './support/code-sandbox.js'
import { addColumnMigration, addPing, createDeploySandbox } from './support/deploy-sandbox.js'
import { createDatabase, NOT_INSTALLED, postgresBin } from './support/postgres.js'

if (postgresBin() === null) {
  t.plan(0, NOT_INSTALLED)
} else {
  await cases()
}

async function cases (): Promise<void> {
  const database = await createDatabase()
  const s = await createDeploySandbox({ DATABASE_URL: database.url })
  t.teardown(async () => {
    await s.close()
    await database.drop()
  })
  const FAST = ['--yes', '--offline', '--watch', '1', '--test-command', 'true']

  const query = async <T>(sql: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: database.url })
    await client.connect()
    try {
      return (await client.query(sql)).rows as T[]
    } finally {
      await client.end()
    }
  }
  const tasks = (): Promise<unknown[]> => query('select id, chat_id, number, text, done_at, deleted_at from tasks order by id')
  const columns = async (): Promise<string[]> => (await query<{ column_name: string }>("select column_name from information_schema.columns where table_name = 'tasks' and table_schema = current_schema() order by column_name")).map((r) => r.column_name)
  const applied = async (): Promise<string[]> => (await query<{ name: string }>('select name from knex_migrations order by id')).map((r) => r.name)

  const original = s.head()
  await s.ask('buy milk')
  await s.ask('call mum')

  await t.test('deploy on PostgreSQL: a migration applied at take-over, no snapshot file, the pg_dump backup is the restore point', async (t) => {
    const ping = s.push('add /ping and a note column', addPing)
    const oldPid = (await s.pm2.app())?.pid ?? 0
    const traffic = s.traffic('during deploy', FRIEND, 50)
    const run = await s.run('deploy', FAST)
    const report = await traffic.finish()
    t.comment(run.stdout + run.stderr)
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /✓ backup {2}storage\/backups\/todo_[\d_-]+\.pgdump /)
    t.match(run.stdout, new RegExp(`✓ hand over {2}${ping.slice(0, 7)} serves \\(pid \\d+, took over from ${oldPid}; pm2 reload\\); at take-over: migrate \\d+ ms`))
    t.notMatch(run.stdout, /at take-over: snapshot/, 'no file copy on PostgreSQL')
    t.match(run.stdout, /✓ snapshot {2}PostgreSQL: the restore point is the backup step's storage\/backups\/todo_[\d_-]+\.pgdump; rows after the migrations as declared/)
    t.match(run.stdout, /✓ verify {2}healthy, version [0-9a-f]{7}, PostgreSQL, \d+ tasks \(rows not fewer\)/)
    t.same(report.unanswered, [], 'every message answered')
    t.same(report.stored, report.sent, 'each applied once, in order')
    t.equal(s.handoverOrder(oldPid, (await s.pm2.app())?.pid ?? 0), 'new stood by → old asked to stop → old ended polling → new took over')
    t.ok((await columns()).includes('note'), 'the migration ran on PostgreSQL')
    t.ok((await applied()).includes('20261125000000_add_task_note.ts'))
    t.notOk(fs.existsSync(s.dbFile), 'no SQLite file was made or migrated')
    const entry = s.journal().at(-1)
    t.equal(entry?.outcome, 'good')
    t.match(String(entry?.backup), /\.pgdump$/)
    t.equal(await s.ask('/ping'), 'pong')
  })

  await t.test('deploy on PostgreSQL: a migration that throws on the live database leaves it as it was (its transaction) and the bot is handed back', async (t) => {
    const before = await tasks()
    const migrationsBefore = await applied()
    const headBefore = s.head()
    // Passes the rehearsal (ops runs it) and throws under PM2, on the live database.
    s.push('a migration that throws on the live database', (dir) => {
      // Outside a transaction (as CREATE INDEX CONCURRENTLY must be): it commits before the next one throws.
      addColumnMigration(dir, '20261126000000_add_task_tag.ts', 'tag')
      fs.appendFileSync(path.join(dir, 'storage', 'migrations', '20261126000000_add_task_tag.ts'), 'export const config = { transaction: false }\n')
      fs.writeFileSync(path.join(dir, 'storage', 'migrations', '20261126000001_fails_on_live.ts'), [
        "import type { Knex } from 'knex'",
        'export async function up (knex: Knex): Promise<void> {',
        "  await knex.schema.alterTable('tasks', (t) => { t.text('doomed') })",
        "  if (process.env.pm_id !== undefined) throw new Error('refusing the live data')",
        '}',
        "export async function down (knex: Knex): Promise<void> { await knex.schema.alterTable('tasks', (t) => { t.dropColumn('doomed') }) }",
        '',
      ].join('\n'))
    })
    await s.ask('added before the failed deploy')
    const withMarker = await tasks()
    const run = await s.run('deploy', FAST)
    t.comment(run.stdout + run.stderr)
    t.not(run.code, 0)
    t.match(run.stderr, /✗ hand over: the new version took over but its take-over failed: a migration failed on the live database \(rolled back by its transaction; 20261126000000_add_task_tag\.ts of the same batch undone\): .*refusing the live data/)
    t.match(run.stdout, /✓ undo hand over {2}[0-9a-f]{7} serves/)
    t.equal(s.head(), headBefore)
    t.equal((await s.healthz()).version, headBefore, 'the previous version serves')
    t.same(await applied(), migrationsBefore, 'no migration of the batch is left applied')
    const cols = await columns()
    t.notOk(cols.includes('tag') || cols.includes('doomed'), 'the schema is the previous version\'s')
    t.same((await tasks()).slice(0, before.length), before)
    t.same(await tasks(), withMarker, 'rows as they were')
    t.match(await s.ask('/help'), /Mister Todo/)
    git(s.dev, 'revert', '--no-edit', 'HEAD')
    git(s.dev, 'push', '-q', 'origin', 'HEAD:main')
  })

  await t.test('rollback on PostgreSQL: keeps the data and undoes the deploy\'s migrations; --backup is refused with what to do instead', async (t) => {
    const refused = await s.run('rollback', ['--yes', '--backup', 'anything.pgdump'])
    t.equal(refused.code, 1)
    t.match(refused.stderr, /✗ choose: on PostgreSQL a rollback keeps the data \(its migrations undone\): --backup is for SQLite; nothing was changed — see: npx zx ops\/rollback\.mjs \(data kept\), then npx zx ops\/restore\.mjs <backup>/)
    await s.ask('added after the deploy')
    const before = await tasks()
    const oldPid = (await s.pm2.app())?.pid ?? 0
    const run = await s.run('rollback', ['--yes', '--watch', '1'])
    t.comment(run.stdout + run.stderr)
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /✓ choose {2}[0-9a-f]{7} → [0-9a-f]{7} \(undoing 1 deploy\(s\)\); data kept, 1 migration\(s\) to undo/)
    t.match(run.stdout, new RegExp(`✓ hand over {2}${original.slice(0, 7)} serves \\(pid \\d+, took over from ${oldPid}; pm2 reload\\); at take-over: undo \\d+ ms`))
    t.equal(s.head(), original)
    t.equal((await s.healthz()).version, original)
    t.notOk((await columns()).includes('note'), 'the deploy\'s migration undone')
    t.notOk((await applied()).includes('20261125000000_add_task_note.ts'))
    t.same(await tasks(), before, 'every task kept, including those added after the deploy')
    t.match(await s.ask('/help'), /Mister Todo/)
    t.ok((await query<{ text: string }>(`select text from tasks where chat_id = ${OWNER}`)).some((r) => r.text === 'added after the deploy'))
  })
}
