// The backups folder (ops/lib/backups.mjs) function by function, on real files in a temp folder:
// names, the list's order, manifests, every reason a backup is refused in the words the operator
// reads, free space, writability, publishing without overwriting, and stale temp files.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { backupName, ensurePrivateDir, FREE_BYTES_ENV, freeBytes, isAlive, listBackupFiles, manifestPathOf, publishUnder, readManifest, removeStaleTemps, stampOf, unwritableReason, verifyBackup, writeManifest } from '../ops/lib/backups.mjs'
import { inspectDatabase, sha256File } from '../ops/lib/sqlite.mjs'

function folder (t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-backups-'))
  t.teardown(() => {
    fs.chmodSync(dir, 0o700)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** A small database with a verified manifest beside it, as ops/backup.mjs leaves one. */
async function backupIn (dir: string, name = 'todo_2026-12-01_10-00-00.sqlite'): Promise<string> {
  const file = path.join(dir, name)
  const db = new Database(file)
  db.exec('create table tasks (id integer primary key, text text); insert into tasks (text) values (\'a\'), (\'b\'); create table chats (id integer primary key)')
  db.close()
  const inspection = inspectDatabase(file)
  writeManifest(file, {
    file: name, kind: 'backup', createdAt: '2026-12-01T10:00:00.000Z', source: 'storage/db/todo.sqlite', size: fs.statSync(file).size,
    sha256: await sha256File(file), integrity: inspection.integrity, verified: true, counts: inspection.counts, migrationHead: null, gitCommit: null, durationMs: 5,
  })
  return file
}

const deadPid = (): number => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout)

t.test('backup files: names are UTC to the second, with a sequence from 2 and a pre-restore mark', async (t) => {
  const at = new Date('2026-11-24T10:02:11.999Z')
  t.equal(stampOf(at), '2026-11-24_10-02-11')
  t.equal(backupName('2026-11-24_10-02-11', 1, 'backup'), 'todo_2026-11-24_10-02-11.sqlite')
  t.equal(backupName('2026-11-24_10-02-11', 2, 'backup'), 'todo_2026-11-24_10-02-11_2.sqlite')
  t.equal(backupName('2026-11-24_10-02-11', 3, 'pre-restore', 'pgdump'), 'todo_2026-11-24_10-02-11_3_pre-restore.pgdump')
  t.equal(manifestPathOf('/b/todo_x.sqlite'), '/b/todo_x.sqlite.json')
})

t.test('backup files: the list is the backups alone, newest first, a later sequence before an earlier one', async (t) => {
  const dir = folder(t)
  t.strictSame(listBackupFiles(path.join(dir, 'none')), [], 'no folder: no backups')
  const stamps = ['2026-10-01_00-00-00', '2026-11-30_23-59-59', '2026-01-15_12-00-00', '2026-11-02_08-00-00', '2025-12-31_23-59-59', '2026-11-30_23-59-58']
  const many = path.join(dir, 'many')
  fs.mkdirSync(many)
  for (const stamp of stamps) fs.writeFileSync(path.join(many, `todo_${stamp}.sqlite`), '')
  t.strictSame(listBackupFiles(many).map((b) => b.stamp), [...stamps].sort().reverse(), 'six stamps, newest first')
  for (const name of ['todo_2026-11-24_10-02-11.sqlite', 'todo_2026-11-24_10-02-11_2.sqlite', 'todo_2026-11-25_09-00-00_pre-restore.sqlite', 'todo_2026-11-23_00-00-00.pgdump', 'todo_2026-11-24_10-02-11_10.sqlite',
    'todo_2026-11-24_10-02-11.sqlite.json', 'notes.txt', 'todo_2026-11-24.sqlite', 'xtodo_2026-11-24_10-02-11.sqlite', 'todo_2026-11-24_10-02-11.sqlite-wal']) fs.writeFileSync(path.join(dir, name), '')
  t.strictSame(listBackupFiles(dir), [
    { name: 'todo_2026-11-25_09-00-00_pre-restore.sqlite', file: path.join(dir, 'todo_2026-11-25_09-00-00_pre-restore.sqlite'), stamp: '2026-11-25_09-00-00', seq: 1, kind: 'pre-restore' },
    { name: 'todo_2026-11-24_10-02-11_10.sqlite', file: path.join(dir, 'todo_2026-11-24_10-02-11_10.sqlite'), stamp: '2026-11-24_10-02-11', seq: 10, kind: 'backup' },
    { name: 'todo_2026-11-24_10-02-11_2.sqlite', file: path.join(dir, 'todo_2026-11-24_10-02-11_2.sqlite'), stamp: '2026-11-24_10-02-11', seq: 2, kind: 'backup' },
    { name: 'todo_2026-11-24_10-02-11.sqlite', file: path.join(dir, 'todo_2026-11-24_10-02-11.sqlite'), stamp: '2026-11-24_10-02-11', seq: 1, kind: 'backup' },
    { name: 'todo_2026-11-23_00-00-00.pgdump', file: path.join(dir, 'todo_2026-11-23_00-00-00.pgdump'), stamp: '2026-11-23_00-00-00', seq: 1, kind: 'backup' },
  ])
})

t.test('backup files: a manifest is written owner-only through a temp file, and read back; a missing or broken one reads as none', async (t) => {
  const dir = folder(t)
  const file = await backupIn(dir)
  const manifest = readManifest(file)
  t.equal(manifest?.counts.tasks, 2)
  t.equal(fs.statSync(manifestPathOf(file)).mode & 0o777, 0o600)
  t.ok(fs.readFileSync(manifestPathOf(file), 'utf8').endsWith('}\n'))
  t.strictSame(fs.readdirSync(dir).sort(), ['todo_2026-12-01_10-00-00.sqlite', 'todo_2026-12-01_10-00-00.sqlite.json'], 'no temp file left')
  t.equal(readManifest(path.join(dir, 'missing.sqlite')), null)
  fs.writeFileSync(manifestPathOf(file), '{ cut')
  t.equal(readManifest(file), null)
})

t.test('backup files: a backup verifies against its manifest, or is refused saying why', async (t) => {
  const dir = folder(t)
  const file = await backupIn(dir)
  const good = await verifyBackup(file)
  t.strictSame([good.ok, good.problem, good.counts], [true, null, { chats: 0, tasks: 2 }])
  const manifest = readManifest(file)
  if (manifest === null) throw new Error('no manifest')
  const refused = async (change: () => void | Promise<void>, options?: { deep?: boolean }): Promise<string | null> => {
    const saved = fs.readFileSync(file)
    const savedManifest = fs.readFileSync(manifestPathOf(file))
    await change()
    const v = await verifyBackup(file, options)
    fs.writeFileSync(file, saved)
    fs.writeFileSync(manifestPathOf(file), savedManifest)
    return v.ok ? null : v.problem
  }
  t.equal((await verifyBackup(path.join(dir, 'gone.sqlite'))).problem, 'the file does not exist')
  t.equal(await refused(() => fs.rmSync(manifestPathOf(file))), 'it has no readable manifest (todo_2026-12-01_10-00-00.sqlite.json), so its checksum cannot be checked')
  t.equal(await refused(() => writeManifest(file, { ...manifest, verified: false, integrity: 'row 3 missing from index' })), 'its manifest records that it failed verification (row 3 missing from index)')
  t.equal(await refused(() => fs.truncateSync(file, 1024)), `it is 1024 bytes but its manifest says ${manifest.size}: it was cut short or changed`)
  t.equal(await refused(() => fs.appendFileSync(file, 'x')), `it is ${manifest.size + 1} bytes but its manifest says ${manifest.size}: it was cut short or changed`)
  t.equal(await refused(() => writeManifest(file, { ...manifest, sha256: '0'.repeat(64) })), 'its sha256 does not match its manifest: the file was changed or damaged')
  t.equal(await refused(() => writeManifest(file, { ...manifest, counts: { chats: 0, tasks: 3 } })), 'its row counts differ from its manifest')
  t.equal(await refused(() => writeManifest(file, { ...manifest, counts: { tasks: 2 } })), 'its row counts differ from its manifest', 'a table fewer')
  t.equal(await refused(() => writeManifest(file, { ...manifest, counts: { chats: 0, tasks: 2, extra: 0 } })), 'its row counts differ from its manifest', 'a table more')
  writeManifest(file, { ...manifest, counts: { chats: 0, tasks: 3 } })
  t.strictSame(await verifyBackup(file, { deep: false }), { ok: true, problem: null, manifest: readManifest(file), counts: { chats: 0, tasks: 3 } }, 'deep: false stops after the sha256')
  writeManifest(file, manifest)
  t.equal((await verifyBackup(file, {})).ok, true, 'each change undone: it verifies again')

  const damaged = path.join(dir, 'todo_2026-12-01_11-00-00.sqlite')
  fs.writeFileSync(damaged, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080, 7)]))
  writeManifest(damaged, { ...manifest, file: path.basename(damaged), size: 4096, sha256: await sha256File(damaged), counts: {} })
  const v = await verifyBackup(damaged)
  t.equal(v.ok, false)
  t.equal(v.problem, 'cannot read it: file is not a database', 'a file that is not a database: refused with SQLite\'s reason')
  t.strictSame(v.counts, {}, 'the manifest\'s counts')

  const dump = path.join(dir, 'todo_2026-12-01_12-00-00.pgdump')
  fs.writeFileSync(dump, 'PGDMP not a real dump')
  writeManifest(dump, { ...manifest, file: path.basename(dump), size: fs.statSync(dump).size, sha256: await sha256File(dump), counts: { tasks: 9 } })
  t.strictSame(await verifyBackup(dump), { ok: true, problem: null, manifest: readManifest(dump), counts: { tasks: 9 } }, 'a PostgreSQL dump: proven when taken, its checksum says it is that file')
})

t.test('backup files: free space, with the test override; unwritable folders named', async (t) => {
  const dir = folder(t)
  t.equal(freeBytes(dir, { [FREE_BYTES_ENV]: ' 1234 ' }), 1234)
  const stats = fs.statfsSync(dir)
  for (const override of ['12k', 'x12']) {
    const free = freeBytes(path.join(dir, 'not', 'yet'), { [FREE_BYTES_ENV]: override })
    t.ok(Math.abs(free - stats.bavail * stats.bsize) < 64 * 1024 * 1024, `a malformed override (${override}) is ignored; a missing folder is measured on its parent`)
  }
  t.equal(unwritableReason(path.join(dir, 'new', 'backups')), null)
  const file = path.join(dir, 'file')
  fs.writeFileSync(file, '')
  t.equal(unwritableReason(path.join(file, 'backups')), `${file} is not a folder`)
  if (process.getuid?.() !== 0) {
    fs.chmodSync(dir, 0o500)
    t.equal(unwritableReason(dir), 'it is not writable (EACCES)')
    t.equal(unwritableReason(path.join(dir, 'sub')), `${dir} is not writable (EACCES)`)
    fs.chmodSync(dir, 0o700)
  }
  const own = path.join(dir, 'a', 'b')
  ensurePrivateDir(own)
  t.equal(fs.statSync(own).mode & 0o777, 0o700)
  fs.chmodSync(own, 0o755)
  ensurePrivateDir(own)
  t.equal(fs.statSync(own).mode & 0o777, 0o700, 'an existing folder is tightened')
})

t.test('backup files: publishing never replaces a file: the same second takes _2, _3, and a name whose manifest is left is skipped', async (t) => {
  const dir = folder(t)
  const at = new Date('2026-12-01T10:00:00Z')
  const publish = (content: string, kind: 'backup' | 'pre-restore' = 'backup', ext?: 'sqlite' | 'pgdump'): string => {
    const tmp = path.join(dir, `.tmp-${process.pid}-x`)
    fs.writeFileSync(tmp, content)
    return path.basename(publishUnder(tmp, dir, at, kind, ext))
  }
  t.equal(publish('one'), 'todo_2026-12-01_10-00-00.sqlite')
  t.equal(publish('two'), 'todo_2026-12-01_10-00-00_2.sqlite')
  fs.writeFileSync(path.join(dir, 'todo_2026-12-01_10-00-00_3.sqlite.json'), '{}')
  t.equal(publish('three'), 'todo_2026-12-01_10-00-00_4.sqlite', 'a manifest without its file keeps its name taken')
  t.equal(publish('pre', 'pre-restore'), 'todo_2026-12-01_10-00-00_pre-restore.sqlite')
  t.equal(publish('dump', 'backup', 'pgdump'), 'todo_2026-12-01_10-00-00.pgdump')
  t.equal(fs.readFileSync(path.join(dir, 'todo_2026-12-01_10-00-00.sqlite'), 'utf8'), 'one', 'the first is untouched')
  t.strictSame(fs.readdirSync(dir).filter((n) => n.startsWith('.tmp-')), [], 'the temp file is gone each time')
  const tmp = path.join(dir, '.tmp-missing')
  t.throws(() => publishUnder(tmp, dir, at, 'backup'), { code: 'ENOENT' }, 'any other failure is thrown')
})

t.test('backup files: temp files of a process that died are removed; a live one\'s and other files are kept', async (t) => {
  const dir = folder(t)
  const dead = deadPid()
  for (const name of [`.tmp-${dead}-ab.json`, `.tmp-${process.pid}-cd.json`, '.tmp-x-ef', `notes.tmp-${dead}-gh`, 'todo_2026-12-01_10-00-00.sqlite']) fs.writeFileSync(path.join(dir, name), '')
  removeStaleTemps(dir)
  removeStaleTemps(path.join(dir, 'none'))
  t.strictSame(fs.readdirSync(dir).sort(), ['.tmp-x-ef', `.tmp-${process.pid}-cd.json`, `notes.tmp-${dead}-gh`, 'todo_2026-12-01_10-00-00.sqlite'].sort(), 'only names that start with .tmp-<pid>-')
  t.equal(isAlive(dead), false)
  t.equal(isAlive(process.pid), true)
})
