// ops/migrate-data.mjs: an existing SQLite database moves into an empty PostgreSQL database, every
// row of every table, verified by counts; the file is left as it was; a database that already
// holds tasks is refused.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import t from 'tap'
import { openDatabase } from '../bot/db.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import { UpdateLedger } from '../bot/updates/ledger.js'
import { MIGRATIONS_DIR } from '../knexfile.js'
import { forEachEngine } from './support/engines.js'
import { childEnv, CODE_ROOT, collect } from './support/ops-sandbox.js'

const sha256 = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')

forEachEngine(t, 'migrate-data: SQLite into an empty PostgreSQL database, verified by counts; a second run is refused', async (t, e) => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-md-')))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  fs.mkdirSync(path.join(root, 'storage'), { recursive: true })
  fs.writeFileSync(path.join(root, 'package.json'), '{ "type": "module" }\n')
  fs.cpSync(MIGRATIONS_DIR, path.join(root, 'storage', 'migrations'), { recursive: true })
  const file = path.join(root, 'storage', 'db', 'todo.sqlite')
  const sqlite = openDatabase(file)
  await sqlite.migrate.latest()
  const ledger = new UpdateLedger(sqlite)
  await ledger.handleOnce(500, async (trx) => {
    await new TaskRepository(trx, Date.now).add(1, Array.from({ length: 1200 }, (_, i) => `task ${i + 1}`))
    await new TaskRepository(trx, Date.now).add(2, [{ text: 'dentist', dueAt: 1_800_000_000_000, dueHasTime: true, remindAt: 1_800_000_000_000 }])
    return [{ method: 'sendDocument', params: { chat_id: 1 }, file: new Uint8Array([1, 2, 3]) }]
  })
  await sqlite('tasks').where({ chat_id: 1 }).whereIn('number', [1, 2]).update({ deleted_at: 5, deleted_batch: 500 })
  await sqlite.destroy()
  const before = sha256(file)
  const env = { ...childEnv(root), ...e.env, ALLOWED_USER_IDS: '1' }
  const run = (): ReturnType<typeof collect> => collect(spawn(process.execPath, [path.join(CODE_ROOT, 'node_modules', 'zx', 'build', 'cli.js'), path.join(CODE_ROOT, 'ops', 'migrate-data.mjs'), '--from', 'sqlite', '--to', 'postgres', '--yes'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] }), 120_000)
  const shownUrl = (e.env.DATABASE_URL ?? '').replace(/:[^:@/]*@/, ':xxxxx@')

  const moved = await run()
  t.equal(moved.code, 0, moved.stderr)
  t.equal(moved.stdout, [
    `✓ check  storage/db/todo.sqlite (integrity ok, 1,201 tasks, schema 20261201230000_rate_limits.ts) → ${shownUrl} (empty)`,
    `✓ migrate-data  ${shownUrl} ← storage/db/todo.sqlite (10 tables, row counts match)`,
    '  table            before  after',
    '  bot_state             0      0',
    '  chats                 2      2',
    '  digests               0      0',
    '  handled_updates       1      1',
    '  outbox                1      1',
    '  owner_notices         0      0',
    '  rate_limits           0      0',
    '  reminders             0      0',
    '  scheduled_jobs        0      0',
    '  tasks             1,201  1,201',
    '',
  ].join('\n'))
  t.equal(sha256(file), before, 'the SQLite file is unchanged')

  const pg = e.open()
  t.teardown(() => pg.destroy())
  const repo = new TaskRepository(pg, Date.now)
  t.same((await repo.open(2)).map((x) => [x.number, x.text, x.dueAt, x.dueHasTime, x.remindAt]), [[1, 'dentist', 1_800_000_000_000, true, 1_800_000_000_000]])
  t.equal(await repo.countOpen(1), 1198, 'deleted tasks stay deleted')
  t.equal(await new UpdateLedger(pg).lastUpdateId(), 500, 'polling resumes after the last handled update')
  t.same([...await new UpdateLedger(pg).fileOf((await new UpdateLedger(pg).pending())[0]?.id ?? 0) ?? []], [1, 2, 3], 'queued file bytes came along')
  const [added] = await repo.add(1, ['after the move'])
  t.equal(added?.id, 1202, 'new ids continue after the copied ones')
  t.equal(added?.number, 1201)

  const again = await run()
  t.equal(again.code, 1)
  t.equal(again.stderr, `✗ migrate-data: ${shownUrl} already holds 1,202 tasks; nothing was copied — see: copy into an empty database (createdb …), or drop this one first if it is a failed earlier attempt\n`)
}, ['postgres'])
