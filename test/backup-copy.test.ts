// Off-machine copies (ops/backup.mjs --scheduled): into a BACKUP_COPY_TO folder with its own
// retention, through a BACKUP_COPY_COMMAND run without a shell (succeeds, fails, hangs past its
// limit: the local backup is kept and the manifest says so), and restore --from the copy.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { backup } from '../ops/backup.mjs'
import { formatBytes } from '../ops/lib/format.mjs'
import { createSandbox } from './support/ops-sandbox.js'
import { tempDir } from './support/bot-harness.js'

type Copy = { to: string, ok: boolean, error: string | null }
type Manifest = { sha256: string, origin: string, copies?: Copy[], counts: Record<string, number> }
const manifestOf = (file: string): Manifest => JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as Manifest
const BACKUP_LINE = /^✓ backup {2}storage\/backups\/(todo_\S+\.sqlite) \(\S+ kB, 30 tasks, integrity ok\)$/

t.test('backup copy: --scheduled copies the verified backup and its manifest into BACKUP_COPY_TO and records it', async (t) => {
  const box = await createSandbox(t, { tasks: 30 })
  const away = tempDir('mister-todo-away-')
  t.teardown(() => fs.rmSync(away, { recursive: true, force: true }))
  const run = await box.run('backup', ['--scheduled'], { BACKUP_COPY_TO: away })
  t.equal(run.code, 0, run.stderr)
  const [first, second, ...rest] = run.stdout.split('\n')
  const name = BACKUP_LINE.exec(first ?? '')?.[1] ?? ''
  t.ok(name, first ?? '')
  t.match(second, new RegExp(`^✓ copy {2}${name.replaceAll('.', '\\.')} → ${away} \\(\\d+\\.\\d s\\)$`))
  t.same(rest, [''])
  t.same(fs.readdirSync(away).sort(), [name, `${name}.json`], 'the backup and its manifest, no temp file')
  const local = path.join(box.backupsDir, name)
  t.equal(box.sha(path.join(away, name)), box.sha(local))
  t.match(manifestOf(local), { origin: 'schedule', copies: [{ to: away, ok: true, error: null }] })
  t.equal(manifestOf(path.join(away, name)).sha256, box.sha(local), 'the copied manifest carries the sha256 that restore checks')
})

t.test('backup copy: a missing BACKUP_COPY_TO folder is not created (it may be an unmounted share); the local backup stays', async (t) => {
  const box = await createSandbox(t, { tasks: 30 })
  const away = path.join(tempDir('mister-todo-away-'), 'not-mounted')
  const run = await box.run('backup', ['--scheduled'], { BACKUP_COPY_TO: away })
  t.equal(run.code, 0, run.stderr)
  const name = BACKUP_LINE.exec(run.stdout.split('\n')[0] ?? '')?.[1] ?? ''
  t.equal(run.stdout.split('\n')[1], `! copy  ${away} failed: ${away} does not exist (is the disk or share mounted?); the local backup is kept`)
  t.notOk(fs.existsSync(away))
  t.same(box.backups(), [name, `${name}.json`])
  t.match(manifestOf(path.join(box.backupsDir, name)).copies, [{ to: away, ok: false, error: `${away} does not exist (is the disk or share mounted?)` }])
})

t.test('backup copy: BACKUP_COPY_COMMAND runs without a shell, {file} and {name} are never split, once for the backup and once for its manifest', async (t) => {
  const box = await createSandbox(t, { tasks: 30 })
  const log = path.join(box.root, 'argv log.jsonl')
  const recorder = path.join(box.root, 'record.mjs')
  fs.writeFileSync(recorder, `import fs from 'node:fs'\nfs.appendFileSync(process.argv[2], JSON.stringify(process.argv.slice(3)) + '\\n')\n`)
  const command = `node ${recorder} "${log}" {file} 'remote:dir/{name} $HOME;*' {name}`
  const run = await box.run('backup', ['--scheduled', '--json'], { BACKUP_COPY_COMMAND: command })
  t.equal(run.code, 0, run.stderr)
  const outcome = JSON.parse(run.stdout) as { ok: boolean, file: string, copies: Copy[] }
  const name = path.basename(outcome.file)
  const file = path.join(box.backupsDir, name)
  t.same(fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]), [
    [file, `remote:dir/${name} $HOME;*`, name],
    [`${file}.json`, `remote:dir/${name}.json $HOME;*`, `${name}.json`],
  ])
  t.match(outcome, { ok: true, copies: [{ to: 'command node', ok: true, error: null }] })
  t.match(manifestOf(file).copies, [{ to: 'command node', ok: true }])
})

t.test('backup copy: a failing command and one that hangs past BACKUP_COPY_TIMEOUT_S are reported; the local backup is kept', async (t) => {
  const box = await createSandbox(t, { tasks: 30 })
  const failing = await box.run('backup', ['--scheduled'], { BACKUP_COPY_COMMAND: 'node -e "process.stderr.write(\'remote: permission denied\\n\'); process.exit(3)" {file}' })
  t.equal(failing.code, 0, failing.stderr)
  t.equal(failing.stdout.split('\n')[1], '! copy  command node failed: "node" exited with 3: remote: permission denied; the local backup is kept')
  const started = Date.now()
  const hanging = await box.run('backup', ['--scheduled', '--json'], { BACKUP_COPY_COMMAND: 'node -e "setTimeout(() => {}, 30000)" {file}', BACKUP_COPY_TIMEOUT_S: '1' })
  t.ok(Date.now() - started < 10_000, 'stopped at the limit, not after 30 s')
  const outcome = JSON.parse(hanging.stdout) as { ok: boolean, file: string, copies: Copy[] }
  t.match(outcome, { ok: true, copies: [{ to: 'command node', ok: false, error: '"node" did not finish within 1 s (BACKUP_COPY_TIMEOUT_S) and was stopped' }] })
  t.ok(fs.existsSync(outcome.file), 'the local backup is kept')
  const missing = await box.run('backup', ['--scheduled'], { BACKUP_COPY_COMMAND: 'rclone-not-installed copy {file} remote:' })
  t.equal(missing.stdout.split('\n').find((l) => l.startsWith('! copy')), '! copy  command rclone-not-installed failed: cannot run "rclone-not-installed": not found (check BACKUP_COPY_COMMAND and PATH); the local backup is kept')
  const bad = await box.run('backup', ['--scheduled'], { BACKUP_COPY_COMMAND: 'rclone copy "{file} remote:' })
  t.equal(bad.code, 1)
  t.equal(bad.stderr, '✗ backup: BACKUP_COPY_COMMAND has an unclosed double quote: write it as on a command line, e.g. rclone copy {file} remote:mister_todo/; nothing was written — see: fix .env (see .env.example)\n')
})

t.test('backup copy: retention applies in the BACKUP_COPY_TO folder too', async (t) => {
  const box = await createSandbox(t, { tasks: 30 })
  const away = tempDir('mister-todo-away-')
  t.teardown(() => fs.rmSync(away, { recursive: true, force: true }))
  const env = { ...box.env, BACKUP_COPY_TO: away }
  // Ten scheduled backups, one a day: the copy folder keeps the newest 7 days (and the weekly/monthly picks).
  for (let day = 1; day <= 10; day += 1) await backup({ root: box.root, env, origin: 'schedule', quiet: true, now: () => new Date(`2026-11-${String(day).padStart(2, '0')}T03:00:00Z`) })
  const names = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n.endsWith('.sqlite')).sort()
  const expected = ['01', '04', '05', '06', '07', '08', '09', '10'].map((d) => `todo_2026-11-${d}_03-00-00.sqlite`)
  t.same(names(box.backupsDir), expected, 'local: 7 daily (4–10), weekly Sun 1st and Sun 8th, monthly the 10th')
  t.same(names(away), expected, 'the copy folder keeps the same set')
})

t.test('restore: --from an off-machine copy folder verifies by the manifest before replacing anything', async (t) => {
  const box = await createSandbox(t, { tasks: 30 })
  const away = tempDir('mister-todo-away-')
  t.teardown(() => fs.rmSync(away, { recursive: true, force: true }))
  const taken = await backup({ root: box.root, env: { ...box.env, BACKUP_COPY_TO: away }, origin: 'schedule', quiet: true })
  const name = path.basename(taken.file ?? '')
  box.addTasks(5)
  const rows = 'select * from tasks order by id'
  // The local backups are lost with the disk: only the copy remains.
  fs.rmSync(box.backupsDir, { recursive: true })
  const copy = path.join(away, name)
  const bytes = fs.readFileSync(copy)
  bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0xff
  fs.writeFileSync(copy, bytes)
  const before = box.sha(box.dbFile)
  const refused = await box.run('restore', ['--from', away, '--yes'])
  t.equal(refused.code, 1)
  t.equal(refused.stdout, `! verify  skipping ${name}: its sha256 does not match its manifest: the file was changed or damaged\n`)
  t.equal(refused.stderr, `✗ restore: no backup in ${away} verifies; the live database was not touched — see: ls -l ${away}\n`)
  t.equal(box.sha(box.dbFile), before, 'the live database is untouched')

  bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0xff
  fs.writeFileSync(copy, bytes)
  const run = await box.run('restore', ['--from', away, '--yes'])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, new RegExp(`^✓ verify {2}${away.replaceAll('.', '\\.')}/${name.replaceAll('.', '\\.')} \\(sha256 ok, integrity ok, 30 tasks, taken .+ ago\\)\n`))
  t.match(run.stdout, `✓ restore  storage/db/todo.sqlite ← ${name} (sha256 identical to the verified backup, row counts match the backup)`)
  t.same(box.query(box.dbFile, rows), box.query(copy, rows), 'the live tasks are exactly the copy\'s')
  t.equal(formatBytes(fs.statSync(box.dbFile).size), formatBytes(fs.statSync(copy).size))
})
