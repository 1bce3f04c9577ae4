// ops/backup.mjs against real SQLite files in temp sandboxes: online backup under a writer,
// verification, names that never collide, free-space refusal, retention and the journal.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { backup } from '../ops/backup.mjs'
import Database from 'better-sqlite3'
import { inspectDatabase, onlineBackup } from '../ops/lib/sqlite.mjs'
import { formatBytes } from '../ops/lib/format.mjs'
import { tempDir } from './support/bot-harness.js'
import { createSandbox, startWriter } from './support/ops-sandbox.js'

const NAME = /^todo_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.sqlite$/

type Manifest = { file: string, size: number, sha256: string, verified: boolean, integrity: string, counts: Record<string, number>, migrationHead: string | null }
const manifestOf = (file: string): Manifest => JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as Manifest

t.test('backup: a backup taken while another process writes verifies, and restoring it gives exactly its rows', async (t) => {
  const box = await createSandbox(t, { tasks: 50_000 })
  const writer = await startWriter(box.dbFile)
  let run
  try {
    run = await box.run('backup', [])
  } finally {
    await writer.stop()
  }
  t.equal(run.code, 0, run.stderr)
  const line = /^✓ backup {2}storage\/backups\/(todo_\S+\.sqlite) \((\d+\.\d) MB, ([\d,]+) tasks, integrity ok\)\n$/.exec(run.stdout)
  t.ok(line, run.stdout)
  const name = line?.[1] ?? ''
  t.match(name, NAME)
  const file = path.join(box.backupsDir, name)
  const manifest = manifestOf(file)
  const inBackup = manifest.counts.tasks ?? 0
  const live = box.query<{ n: number }>(box.dbFile, 'select count(*) as n from tasks')[0]?.n ?? 0
  t.equal(line?.[3], inBackup.toLocaleString('en-US'), 'the line shows the backup\'s task count')
  t.ok(inBackup > 50_000, `the backup holds rows written during it (${inBackup})`)
  t.ok(live > inBackup, `the writer kept writing after the snapshot (${live} > ${inBackup})`)
  t.match(manifest, { file: name, verified: true, integrity: 'ok', size: fs.statSync(file).size, migrationHead: fs.readdirSync(path.join(import.meta.dirname, '..', 'storage', 'migrations')).filter((f) => f.endsWith('.ts')).sort().at(-1) })
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'owner-only backup')
  t.equal(fs.statSync(`${file}.json`).mode & 0o777, 0o600, 'owner-only manifest')
  t.equal(fs.statSync(box.backupsDir).mode & 0o777, 0o700, 'owner-only folder')
  t.match(inspectDatabase(file), { ok: true, integrity: 'ok', foreignKeyProblems: 0 })
  t.same(box.backups(), [name, `${name}.json`], 'no temp file is left behind')

  const restored = await box.run('restore', ['--backup', name, '--yes'])
  t.equal(restored.code, 0, restored.stderr)
  const rows = 'select * from tasks order by id'
  t.same(box.query(box.dbFile, rows), box.query(file, rows), 'the live tasks are exactly the backup\'s')
  t.same(box.query(box.dbFile, 'select * from chats'), box.query(file, 'select * from chats'))
})

t.test('backup: a writer that commits between every step of the copy (a busy bot on a big database) cannot starve it', async (t) => {
  const dir = tempDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const source = path.join(dir, 'live.sqlite')
  const live = new Database(source)
  t.teardown(() => live.close())
  live.pragma('journal_mode = WAL')
  live.exec('create table notes (id integer primary key, body blob)')
  const insert = live.prepare('insert into notes (body) values (?)')
  // 8 MB: 2,000 pages, so the first steps of 256 pages leave most of it to copy.
  live.transaction(() => { for (let i = 0; i < 2_000; i += 1) insert.run(Buffer.alloc(4_000, i % 256)) })()
  let steps = 0
  let writes = 0
  const copy = path.join(dir, 'copy.sqlite')
  const result = await onlineBackup(source, copy, {
    onProgress: (p) => {
      steps += 1
      // Stop a copy that never finishes instead of hanging the suite (before the fix it restarted forever).
      if (steps > 200) throw new Error(`still copying after ${steps} steps, ${p.remainingPages} of ${p.totalPages} pages left`)
      if (p.remainingPages > 0) {
        insert.run(Buffer.from('written during the backup'))
        writes += 1
      }
    },
  })
  t.ok(result.restarts >= 1, `the writes restarted the copy (${result.restarts} restart(s), ${steps} steps)`)
  t.ok(steps <= 4, `the copy ended a step after the restart (${steps} steps)`)
  const rows = new Database(copy, { readonly: true })
  t.teardown(() => rows.close())
  const n = (rows.prepare('select count(*) as n from notes').get() as { n: number }).n
  t.ok(n > 2_000 && n <= 2_000 + writes, `the copy holds the rows of one moment (${n})`)
  t.equal(rows.pragma('integrity_check', { simple: true }), 'ok')
})

t.test('backup: refuses when the disk has less than twice the database free, and writes nothing', async (t) => {
  const box = await createSandbox(t, { tasks: 100 })
  const size = fs.statSync(box.dbFile).size
  const run = await box.run('backup', [], { MISTER_TODO_FREE_BYTES: String(2 * size - 1) })
  t.equal(run.code, 1)
  t.equal(run.stdout, '')
  t.equal(run.stderr, `✗ backup: not enough disk space for storage/backups: ${formatBytes(2 * size - 1)} free, ${formatBytes(2 * size)} needed (twice the ${formatBytes(size)} database); nothing was written — see: df -h storage\n`)
  t.same(box.backups(), [], 'no partial file')
  const enough = await box.run('backup', [], { MISTER_TODO_FREE_BYTES: String(2 * size) })
  t.equal(enough.code, 0, 'exactly twice the database is enough')
})

t.test('backup: two backups in the same second both exist, and an existing file is never overwritten', async (t) => {
  const box = await createSandbox(t, { tasks: 10 })
  const now = (): Date => new Date('2026-11-24T10:02:11.400Z')
  const [first, second] = await Promise.all([
    backup({ root: box.root, env: box.env, now, quiet: true }),
    backup({ root: box.root, env: box.env, now, quiet: true }),
  ])
  t.same([first.file, second.file].map((f) => path.basename(f ?? '')).sort(), ['todo_2026-11-24_10-02-11.sqlite', 'todo_2026-11-24_10-02-11_2.sqlite'])
  fs.writeFileSync(path.join(box.backupsDir, 'todo_2026-11-24_10-02-12.sqlite'), 'someone else\'s file')
  const third = await backup({ root: box.root, env: box.env, now: () => new Date('2026-11-24T10:02:12Z'), quiet: true })
  t.equal(path.basename(third.file ?? ''), 'todo_2026-11-24_10-02-12_2.sqlite')
  t.equal(fs.readFileSync(path.join(box.backupsDir, 'todo_2026-11-24_10-02-12.sqlite'), 'utf8'), 'someone else\'s file')
  for (const result of [first, second, third]) t.equal(manifestOf(result.file ?? '').verified, true)
})

t.test('backup: retention keeps the newest N and never deletes a backup the deploy journal names', async (t) => {
  const box = await createSandbox(t, { tasks: 10 })
  const names = []
  for (const second of [1, 2, 3, 4, 5]) {
    const result = await backup({ root: box.root, env: box.env, keep: null, quiet: true, now: () => new Date(`2026-11-24T10:00:0${second}Z`) })
    names.push(path.basename(result.file ?? ''))
  }
  // 12 entries: the oldest backup is named inside the last 10, the second oldest only before them.
  const entries = [{ kind: 'deploy', backup: `storage/backups/${names[1]}` }, { kind: 'deploy' }, { kind: 'rollback', restored: names[0] }]
  for (let i = 0; i < 9; i += 1) entries.push({ kind: 'deploy' })
  fs.writeFileSync(box.journalFile, entries.map((e) => JSON.stringify(e)).join('\n') + '\n{"torn')
  const run = await box.run('backup', ['--keep', '2', '--yes'])
  t.equal(run.code, 0, run.stderr)
  const taken = /storage\/backups\/(todo_\S+\.sqlite)/.exec(run.stdout)?.[1] ?? ''
  t.equal(run.stdout, [
    `  retention (--keep 2) will delete: ${names[3]}, ${names[2]}, ${names[1]}`,
    `✓ backup  storage/backups/${taken} (${formatBytes(fs.statSync(path.join(box.backupsDir, taken)).size)}, 10 tasks, integrity ok)`,
    '✓ prune  deleted 3 old backup(s), kept the newest 2 and 1 the deploy journal names',
    '',
  ].join('\n'))
  t.same(box.backups(), [names[0], names[4], taken].flatMap((n) => [n, `${n}.json`]).sort())
})

t.test('backup: --list shows age, size, tasks, the rule that keeps each backup and whether it verifies', async (t) => {
  const box = await createSandbox(t, { tasks: 1234 })
  const good = await backup({ root: box.root, env: box.env, quiet: true, now: () => new Date(Date.now() - 2 * 3600_000) })
  const bad = await backup({ root: box.root, env: box.env, quiet: true, now: () => new Date(Date.now() - 60_000) })
  fs.truncateSync(bad.file ?? '', 4096)
  const run = await box.run('backup', ['--list'])
  t.equal(run.code, 0, run.stderr)
  const size = formatBytes(good.manifest?.size ?? 0)
  const goodName = path.basename(good.file ?? '')
  const badName = path.basename(bad.file ?? '')
  t.equal(run.stdout, [
    `  ${'backup'.padEnd(goodName.length)}    age  ${'size'.padStart(size.length)}  tasks  copied  kept by    verifies`,
    `  ${badName}  1 min  ${'4.1 kB'.padStart(size.length)}  1,234  -       newest 10  no: it is 4096 bytes but its manifest says ${good.manifest?.size}: it was cut short or changed`,
    `  ${goodName}    2 h  ${size}  1,234  -       newest 10  ok`,
    '✓ backup  2 backup(s) in storage/backups, 1 verify',
    '',
  ].join('\n'))
})
