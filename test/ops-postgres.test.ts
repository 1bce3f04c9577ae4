// The ops scripts on PostgreSQL, run for real under zx against the test run's server: backup is
// pg_dump verified by a scratch restore, restore goes into a new database swapped in by rename
// (the replaced one kept), and the password shows up nowhere.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import pg from 'pg'
import t, { type Test } from 'tap'
import { TaskRepository } from '../bot/tasks/repository.js'
import { MIGRATIONS_DIR } from '../knexfile.js'
import { forEachEngine, type EngineCase } from './support/engines.js'
import { childEnv, CODE_ROOT, collect, type Run } from './support/ops-sandbox.js'
import { asSuperuser } from './support/postgres.js'

type PgBox = { root: string, env: NodeJS.ProcessEnv, run: (script: string, args: string[]) => Promise<Run>, tasks: (database?: string) => Promise<number>, e: EngineCase }

async function pgBox (t: Test, e: EngineCase, tasks: number): Promise<PgBox> {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-opspg-')))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  fs.mkdirSync(path.join(root, 'storage'), { recursive: true })
  // As in a checkout: knex loads the .ts migrations as ES modules.
  fs.writeFileSync(path.join(root, 'package.json'), '{ "type": "module" }\n')
  fs.cpSync(MIGRATIONS_DIR, path.join(root, 'storage', 'migrations'), { recursive: true })
  const db = e.open()
  await db.migrate.latest()
  await new TaskRepository(db, Date.now).add(1, Array.from({ length: tasks }, (_, i) => `task ${i + 1}`))
  await db.destroy()
  const env = { ...childEnv(root), ...e.env, ALLOWED_USER_IDS: '1' }
  const url = new URL(e.env.DATABASE_URL ?? '')
  return {
    root,
    env,
    e,
    run: (script, args) => collect(spawn(process.execPath, [path.join(CODE_ROOT, 'node_modules', 'zx', 'build', 'cli.js'), path.join(CODE_ROOT, 'ops', `${script}.mjs`), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] }), 120_000),
    tasks: async (database = decodeURIComponent(url.pathname.slice(1))) => {
      const other = new URL(url.toString())
      other.pathname = `/${database}`
      const client = new pg.Client({ connectionString: other.toString() })
      await client.connect()
      try {
        return Number((await client.query<{ n: string }>('select count(*) as n from tasks')).rows[0]?.n)
      } finally {
        await client.end()
      }
    },
  }
}

forEachEngine(t, 'ops on PostgreSQL: backup is a verified pg_dump, restore swaps a new database in and keeps the old one', async (t, e) => {
  const box = await pgBox(t, e, 30)
  const password = decodeURIComponent(new URL(e.env.DATABASE_URL ?? '').password)
  const shownUrl = (e.env.DATABASE_URL ?? '').replace(`:${password}@`, ':xxxxx@')
  const handled = async (ids: number[]): Promise<void> => {
    const db = e.open()
    await db('handled_updates').insert(ids.map((id) => ({ update_id: id, handled_at: Date.now() })))
    await db.destroy()
  }
  await handled([1, 2, 3])
  const taken = await box.run('backup', [])
  t.equal(taken.code, 0, taken.stderr)
  t.match(taken.stdout, /^✓ backup {2}storage\/backups\/todo_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.pgdump \([\d.]+ kB, 30 tasks, integrity ok\)\n$/)
  const name = /(todo_\S+\.pgdump)/.exec(taken.stdout)?.[1] ?? ''
  const file = path.join(box.root, 'storage', 'backups', name)
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'the dump is owner-only')
  const manifest = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as { counts: Record<string, number>, verified: boolean, source: string, owner: unknown }
  t.match(manifest, { verified: true, source: shownUrl, owner: { chatId: 1, openTasks: 30 } })
  t.equal(manifest.counts.tasks, 30)
  t.equal(manifest.counts.chats, 1)

  const db = e.open()
  await new TaskRepository(db, Date.now).add(1, ['added after the backup'])
  await db.destroy()
  // Answered after the backup: Telegram sends the stopped bot's last batch again.
  await handled([4, 5, 6])
  const restored = await box.run('restore', ['--backup', name, '--yes'])
  t.equal(restored.code, 0, restored.stderr)
  const lines = restored.stdout.split('\n')
  t.match(lines[0], new RegExp(`^✓ verify {2}storage/backups/${name} \\(sha256 ok, restored and counted when taken, 30 tasks, taken \\d+ s ago\\)$`))
  t.match(lines[1], /^✓ backup {2}storage\/backups\/todo_\S+_pre-restore\.pgdump \([\d.]+ kB, 31 tasks, integrity ok\)$/)
  const keptAs = /kept as (\S+)\)$/.exec(lines[2] ?? '')?.[1] ?? ''
  t.equal(lines[2], `✓ restore  ${shownUrl} ← ${name} (restored into a new database, row counts match the backup; kept the ids of 3 update(s) answered after the backup, so none is answered twice; the replaced database is kept as ${keptAs})`)
  t.equal(await box.tasks(), 30, 'the live database is the backup')
  const live = e.open()
  t.same((await live('handled_updates').orderBy('update_id').pluck('update_id')).map(Number), [1, 2, 3, 4, 5, 6], 'the ids answered after the backup are known')
  await live.destroy()
  t.equal(await box.tasks(keptAs), 31, 'the replaced database is kept on the server with the newer task')
  t.teardown(() => asSuperuser((c) => c.query(`drop database if exists "${keptAs}" with (force)`)))
  for (const out of [taken, restored]) t.notMatch(out.stdout + out.stderr, password, 'no password in any output')
  for (const f of fs.readdirSync(path.join(box.root, 'storage', 'backups'))) {
    t.notMatch(f, password)
    if (f.endsWith('.json')) t.notMatch(fs.readFileSync(path.join(box.root, 'storage', 'backups', f), 'utf8'), password, `no password in ${f}`)
  }
}, ['postgres'])

forEachEngine(t, 'ops on PostgreSQL: migrate status, latest (backup, rehearsal on a scratch database) and rollback', async (t, e) => {
  const box = await pgBox(t, e, 30)
  const db = e.open()
  await db('tasks').whereIn('number', [1, 2, 3]).update({ deleted_at: 1 })
  await db.destroy()
  const purge = '20261201000000_purge_deleted_tasks.ts'
  fs.copyFileSync(path.join(CODE_ROOT, 'test', 'fixtures', 'migrations-declared', purge), path.join(box.root, 'storage', 'migrations', purge))
  const shownUrl = (e.env.DATABASE_URL ?? '').replace(/:[^:@/]*@/, ':xxxxx@')
  const applied = fs.readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.ts')).length

  const status = await box.run('migrate', ['status'])
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, `  pending  ${purge}\n✓ migrate  ${shownUrl}: ${applied} applied, 1 pending, 0 unknown to this code\n`)

  const latest = await box.run('migrate', ['latest', '--yes'])
  t.equal(latest.code, 0, latest.stderr)
  t.match(latest.stdout, /✓ backup {2}storage\/backups\/todo_\S+\.pgdump \([\d.]+ kB, 30 tasks, integrity ok\)\n/)
  t.match(latest.stdout, /\n {2}purged_tasks +- +3\n/)
  t.match(latest.stdout, /\n {2}tasks +30 +27\n/)
  t.match(latest.stdout, /✓ rehearse {2}1 migration\(s\) ran on a copy of todo_\S+\.pgdump, rows as expected\n/)
  t.match(latest.stdout, `✓ migrate  applied 1 migration(s) as batch 2: ${purge}\n`)
  t.equal(await box.tasks(), 27, 'applied live')
  const leftovers = await asSuperuser(async (c) => (await c.query<{ datname: string }>("select datname from pg_database where datname like '%_rehearse_%' or datname like '%_verify_%'")).rows)
  t.same(leftovers, [], 'no scratch database is left on the server')

  const rollback = await box.run('migrate', ['rollback', '--yes'])
  t.equal(rollback.code, 0, rollback.stderr)
  t.match(rollback.stdout, `✓ migrate  rolled back 1 migration(s): ${purge}\n`)
  t.equal(await box.tasks(), 30, 'the down brought the purged tasks back')
}, ['postgres'])

forEachEngine(t, 'ops on PostgreSQL: preflight problems name the missing CREATEDB grant and an unreachable server', async (t, e) => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-opspg-')))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  const { storageFor } = await import('../ops/lib/storage/index.mjs')
  const { resolvePaths } = await import('../ops/lib/paths.mjs')
  const at = async (url: string): Promise<string[]> => {
    const storage = await storageFor(resolvePaths({ root, env: { ...process.env, DATABASE_URL: url } }))
    return storage.engine === 'postgres' ? await storage.preflightProblems() : ['not postgres']
  }
  t.same(await at(e.env.DATABASE_URL ?? ''), [], 'the superuser may do everything')
  await asSuperuser((c) => c.query("create role mt_plain login password 'plain'"))
  t.teardown(() => asSuperuser((c) => c.query('drop role if exists mt_plain')))
  const plain = new URL(e.env.DATABASE_URL ?? '')
  plain.username = 'mt_plain'
  plain.password = 'plain'
  t.same(await at(plain.toString()), ['role "mt_plain" may not create databases, which backups and rehearsals restore into: ALTER ROLE "mt_plain" CREATEDB'])
  const closed = new URL(e.env.DATABASE_URL ?? '')
  closed.port = '1'
  t.same(await at(closed.toString()), [`DATABASE_URL: no PostgreSQL server answers at 127.0.0.1:1 (ECONNREFUSED): start the server, or fix the host and port in DATABASE_URL (${closed.toString().replace(/:[^:@/]*@/, ':xxxxx@')})`])
}, ['postgres'])
