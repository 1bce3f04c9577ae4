// The edge every ops script shares, run for real under zx with no TTY: --help, unknown flags,
// --dry-run changes nothing, and a destructive step without --yes refuses instead of hanging.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { backup } from '../ops/backup.mjs'
import { createSandbox, type Sandbox, type Teardown } from './support/ops-sandbox.js'

const SCRIPTS = ['backup', 'restore', 'migrate'] as const
/** The newest migration of this code: the sandbox applies them all in one batch, which a rollback names in that order. */
const MIGRATIONS = fs.readdirSync(path.join(import.meta.dirname, '..', 'storage', 'migrations')).filter((f) => f.endsWith('.ts')).sort()
const BATCH = `${MIGRATIONS.length} migration(s) on storage/db/todo.sqlite: ${MIGRATIONS.join(', ')}`

/** Everything an ops step could change: the live file's bytes and the backups folder. */
const state = (box: Sandbox): { db: string, backups: string[] } => ({ db: box.sha(box.dbFile), backups: box.backups() })

async function sandboxWithBackups (t: Teardown, pending: string[] = []): Promise<Sandbox> {
  const box = await createSandbox(t, { tasks: 50, pending })
  for (const hoursAgo of [3, 2]) await backup({ root: box.root, env: box.env, quiet: true, now: () => new Date(Date.now() - hoursAgo * 3600_000) })
  return box
}

t.test('ops: every script prints its header for --help and rejects an unknown flag', async (t) => {
  const box = await createSandbox(t)
  for (const script of SCRIPTS) {
    const help = await box.run(script, ['--help'])
    t.equal(help.code, 0, `${script} --help`)
    const header = fs.readFileSync(path.join(import.meta.dirname, '..', 'ops', `${script}.mjs`), 'utf8').split('\n')[1]?.replace(/^\/\/ /, '')
    t.equal(help.stdout.split('\n')[0], header, `${script} --help opens with the script's header`)
    t.match(help.stdout, /--dry-run {3,}say what would be done|--dry-run {3,}verify the backup/, `${script} --help documents --dry-run`)
    t.match(help.stdout, /\n {2}--help {3,}this text\n/)
    const bad = await box.run(script, ['--frobnicate'])
    t.equal(bad.code, 2)
    t.equal(bad.stderr, `✗ ${script}: unknown flag --frobnicate — see: npx zx ops/${script}.mjs --help\n`)
  }
})

t.test('ops: --dry-run changes nothing', async (t) => {
  const box = await sandboxWithBackups(t, ['migrations-declared'])
  const before = state(box)
  const runs = [
    await box.run('backup', ['--dry-run', '--keep', '1']),
    await box.run('restore', ['--dry-run']),
    await box.run('migrate', ['latest', '--dry-run']),
    await box.run('migrate', ['rollback', '--dry-run']),
  ]
  for (const run of runs) t.equal(run.code, 0, run.stderr)
  t.match(runs[0]?.stdout, /^✓ backup {2}would copy storage\/db\/todo\.sqlite \([\d.]+ kB\) to storage\/backups\/todo_\S+\.sqlite \(dry run\)\n✓ prune {2}would delete todo_\S+\.sqlite, todo_\S+\.sqlite \(dry run\)\n$/)
  t.match(runs[1]?.stdout, /\n✓ restore {2}would save storage\/db\/todo\.sqlite as a _pre-restore backup, then replace it with todo_\S+\.sqlite \(dry run\)\n$/)
  t.equal(runs[2]?.stdout, '  pending  20261201000000_purge_deleted_tasks.ts\n✓ migrate  would back up, rehearse on the copy, then apply 1 migration(s) to storage/db/todo.sqlite (dry run)\n')
  t.equal(runs[3]?.stdout, `✓ migrate  would back up, then undo ${MIGRATIONS.join(', ')} on storage/db/todo.sqlite (dry run)\n`)
  t.same(state(box), before, 'the live database and the backups are as they were')
})

t.test('ops: with no TTY and no --yes, a destructive step refuses at once and changes nothing', async (t) => {
  const box = await sandboxWithBackups(t, ['migrations-declared'])
  const before = state(box)
  const prune = await box.run('backup', ['--keep', '1'])
  t.equal(prune.code, 1)
  t.equal(prune.stderr, '✗ backup: refusing to delete 2 old backup(s) beyond the newest 1 without confirmation: no terminal to ask on — see: rerun with --yes\n')
  const restore = await box.run('restore', [])
  t.equal(restore.code, 1)
  t.match(restore.stderr, /^✗ restore: refusing to replace storage\/db\/todo\.sqlite with todo_\S+\.sqlite without confirmation: no terminal to ask on — see: rerun with --yes\n$/)
  const latest = await box.run('migrate', ['latest'])
  t.equal(latest.code, 1)
  t.equal(latest.stderr, '✗ migrate: refusing to apply 1 migration(s) to storage/db/todo.sqlite without confirmation: no terminal to ask on — see: rerun with --yes\n')
  const rollback = await box.run('migrate', ['rollback'])
  t.equal(rollback.code, 1)
  t.equal(rollback.stderr, `✗ migrate: refusing to undo ${BATCH} without confirmation: no terminal to ask on — see: rerun with --yes\n`)
  t.same(state(box), before, 'nothing was written: no backup, no pre-restore copy, no migration')
})

t.test('ops: a plain backup with nothing to prune needs no confirmation', async (t) => {
  const box = await createSandbox(t, { tasks: 5 })
  const run = await box.run('backup', [])
  t.equal(run.code, 0, run.stderr)
  t.equal(box.backups().length, 2)
})
