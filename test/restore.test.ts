// ops/restore.mjs against real SQLite files in temp sandboxes: damaged backups are refused with the
// live database untouched, the pre-restore copy undoes a restore, a running bot (real PM2) blocks it.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { backup } from '../ops/backup.mjs'
import { CODE_ROOT, collect, createSandbox, type Sandbox } from './support/ops-sandbox.js'

const tasks = (box: Sandbox, file = box.dbFile): unknown[] => box.query(file, 'select * from tasks order by id')

async function takeBackup (box: Sandbox, ago = 0): Promise<string> {
  const result = await backup({ root: box.root, env: box.env, quiet: true, now: () => new Date(Date.now() - ago) })
  return path.basename(result.file ?? '')
}

t.test('restore: refuses a backup with flipped bytes, and the live database is left as it was', async (t) => {
  const box = await createSandbox(t, { tasks: 500 })
  const name = await takeBackup(box)
  const file = path.join(box.backupsDir, name)
  const bytes = fs.readFileSync(file)
  for (let i = 8192; i < 8200; i += 1) bytes[i] = (bytes[i] ?? 0) ^ 0xff
  fs.writeFileSync(file, bytes)
  box.addTasks(3)
  const before = box.sha(box.dbFile)
  const listing = box.backups()
  const run = await box.run('restore', ['--backup', name, '--yes'])
  t.equal(run.code, 1)
  t.equal(run.stdout, '')
  t.equal(run.stderr, `✗ restore: refusing storage/backups/${name}: its sha256 does not match its manifest: the file was changed or damaged; the live database was not touched — see: npx zx ops/backup.mjs --list\n`)
  t.equal(box.sha(box.dbFile), before, 'live database unchanged (checksum)')
  t.same(box.backups(), listing, 'no pre-restore copy was made')
})

t.test('restore: refuses a backup that was cut short, and the live database is left as it was', async (t) => {
  const box = await createSandbox(t, { tasks: 500 })
  const name = await takeBackup(box)
  const file = path.join(box.backupsDir, name)
  const size = fs.statSync(file).size
  fs.truncateSync(file, size / 2)
  const before = box.sha(box.dbFile)
  const run = await box.run('restore', ['--backup', file, '--yes'])
  t.equal(run.code, 1)
  t.equal(run.stderr, `✗ restore: refusing storage/backups/${name}: it is ${size / 2} bytes but its manifest says ${size}: it was cut short or changed; the live database was not touched — see: npx zx ops/backup.mjs --list\n`)
  t.equal(box.sha(box.dbFile), before, 'live database unchanged (checksum)')
})

t.test('restore: keeps the pre-restore copy, and restoring that copy brings back the newer state', async (t) => {
  const box = await createSandbox(t, { tasks: 100 })
  const name = await takeBackup(box, 3 * 3600_000)
  const older = tasks(box)
  box.addTasks(5)
  const newer = tasks(box)

  const run = await box.run('restore', ['--yes'])
  t.equal(run.code, 0, run.stderr)
  const preRestore = /(todo_\S+_pre-restore\.sqlite)/.exec(run.stdout)?.[1] ?? ''
  t.match(run.stdout, new RegExp([
    `^✓ verify  storage/backups/${name} \\(sha256 ok, integrity ok, 100 tasks, taken 3 h ago\\)`,
    `✓ backup  storage/backups/${preRestore} \\([\\d.]+ kB, 105 tasks, integrity ok\\)`,
    `✓ restore  storage/db/todo\\.sqlite ← ${name} \\(integrity ok, row counts match the backup\\)`,
    ' {2}table {12}before {2}after',
    ' {2}bot_state {13}0 {6}0',
    ' {2}chats {17}1 {6}1',
    ' {2}digests {15}0 {6}0',
    ' {2}handled_updates {7}0 {6}0',
    ' {2}outbox {16}0 {6}0',
    ' {2}owner_notices {9}0 {6}0',
    ' {2}rate_limits {11}0 {6}0',
    ' {2}reminders {13}0 {6}0',
    ' {2}scheduled_jobs {8}0 {6}0',
    ' {2}tasks {15}105 {4}100',
    '$',
  ].join('\n')))
  t.same(tasks(box), older, 'the live tasks are the backup\'s')
  t.same(tasks(box, path.join(box.backupsDir, preRestore)), newer, 'the pre-restore copy holds the newer state')
  t.same(fs.readdirSync(path.dirname(box.dbFile)), ['todo.sqlite'], 'no stale -wal/-shm or temp file beside the live database')
  t.equal(fs.statSync(box.dbFile).mode & 0o777, 0o600)

  const back = await box.run('restore', ['--backup', preRestore, '--yes'])
  t.equal(back.code, 0, back.stderr)
  t.same(tasks(box), newer, 'restoring the pre-restore copy brings back the newer state')
  t.equal(box.backups().filter((n) => n.endsWith('_pre-restore.sqlite')).length, 2, 'each restore keeps what it replaced')
})

t.test('restore: keeps the ids of the updates answered after the backup, so Telegram\'s resent batch is not applied twice', async (t) => {
  const box = await createSandbox(t, { tasks: 10 })
  const handled = (ids: number[]): void => {
    const db = new Database(box.dbFile)
    try {
      const insert = db.prepare('insert into handled_updates (update_id, handled_at) values (?, ?)')
      for (const id of ids) insert.run(id, Date.now())
    } finally {
      db.close()
    }
  }
  handled([1, 2, 3])
  const name = await takeBackup(box, 3600_000)
  // The bot answered 4–6 (and added two tasks) after the backup; Telegram will send its last batch again.
  handled([4, 5, 6])
  box.addTasks(2)
  const run = await box.run('restore', ['--backup', name, '--yes'])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, `✓ restore  storage/db/todo.sqlite ← ${name} (integrity ok, row counts match the backup; kept the ids of 3 update(s) answered after the backup, so none is answered twice)\n`)
  t.match(run.stdout, /\n {2}handled_updates {7}6 {6}6\n/, 'the table after the restore counts them')
  t.same(box.query(box.dbFile, 'select update_id from handled_updates order by update_id'), [1, 2, 3, 4, 5, 6].map((id) => ({ update_id: id })))
  t.equal(box.query<{ n: number }>(box.dbFile, 'select count(*) as n from tasks')[0]?.n, 10, 'the changes stay out: the tasks are the backup\'s')
})

t.test('restore: the default skips a damaged newest backup and names the one it uses', async (t) => {
  const box = await createSandbox(t, { tasks: 20 })
  const good = await takeBackup(box, 2 * 3600_000)
  const damaged = await takeBackup(box, 3600_000)
  fs.appendFileSync(path.join(box.backupsDir, damaged), 'x')
  const run = await box.run('restore', [])
  t.equal(run.code, 1)
  t.match(run.stdout, new RegExp(`^! verify  skipping ${damaged}: it is \\d+ bytes but its manifest says \\d+: it was cut short or changed\n✓ verify  storage/backups/${good} \\(sha256 ok, integrity ok, 20 tasks, taken 2 h ago\\)\n$`))
  t.equal(run.stderr, `✗ restore: refusing to replace storage/db/todo.sqlite with ${good} without confirmation: no terminal to ask on — see: rerun with --yes\n`)
})

t.test('restore: refuses while the bot is running in pm2, unless rollback stopped it', async (t) => {
  const box = await createSandbox(t, { tasks: 20 })
  await takeBackup(box)
  const pm2 = (args: string[]): ReturnType<typeof collect> => collect(spawn(path.join(CODE_ROOT, 'node_modules', '.bin', 'pm2'), args, { env: { ...box.env, PM2_DISCRETE_MODE: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] }))
  const idle = path.join(box.root, 'idle.cjs')
  fs.writeFileSync(idle, 'setInterval(() => {}, 1000)\n')
  t.teardown(() => pm2(['kill']))
  t.equal((await pm2(['start', idle, '--name', 'mister_todo'])).code, 0)
  const before = box.sha(box.dbFile)
  const run = await box.run('restore', ['--yes'])
  t.equal(run.code, 1)
  t.equal(run.stderr, '✗ restore: the bot is running (mister_todo is "online" in pm2); restoring under it would lose its writes — see: npm run stop (pm2 stop mister_todo), then run this again\n')
  t.equal(box.sha(box.dbFile), before)
  const byRollback = await box.run('restore', ['--stopped-by-rollback', '--dry-run'])
  t.equal(byRollback.code, 0, byRollback.stderr)
  await pm2(['stop', 'mister_todo'])
  const stopped = await box.run('restore', ['--yes'])
  t.equal(stopped.code, 0, stopped.stderr)
})
