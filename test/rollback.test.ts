// Rollback for real: a bare origin, a live clone under a real PM2 daemon, the Bot API emulator,
// real SQLite. The tests run in order and each builds on the releases the previous one left:
// A → B (deploy) → C (deploy) → back to B (restore) → back to A (--keep-data) → A → C → --to A
// → E (deploy) → --to D, which cannot start → E never stopped.
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { addColumnMigration, addPing, createDeploySandbox } from './support/deploy-sandbox.js'
import { git } from './support/code-sandbox.js'

const s = await createDeploySandbox()
t.teardown(() => s.close())

const DEPLOY = ['--yes', '--offline', '--watch', '0', '--test-command', 'true']
const ROLLBACK = ['--yes', '--watch', '0']
type Entry = { id: string, kind: string, outcome: string, reason: string | null, backup: string | null, undoes?: string[], migrations: string[] }
const journal = (): Entry[] => s.journal() as unknown as Entry[]
const columns = (): string[] => (s.rows('pragma table_info(tasks)') as Array<{ name: string }>).map((c) => c.name)
const applied = (): string[] => (s.rows('select name from knex_migrations order by id') as Array<{ name: string }>).map((r) => r.name)
const texts = (): string[] => (s.rows('select text from tasks where deleted_at is null order by id') as Array<{ text: string }>).map((r) => r.text)
const deploy = async (): Promise<Entry> => {
  const run = await s.run('deploy', DEPLOY)
  if (run.code !== 0) throw new Error(`deploy failed:\n${run.stdout}\n${run.stderr}`)
  return journal().at(-1) as Entry
}

const A = s.head()
const migrationsAtA = applied()
await s.ask('buy milk')
await s.ask('call mum')
const B = s.push('add /ping and a note column', addPing)
const deployB = await deploy()
await s.ask('walk the dog')

t.test('rollback: --list shows the deploy as good', async (t) => {
  const list = await s.run('rollback', ['--list'])
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, new RegExp(`deploy +${A.slice(0, 7)} → ${B.slice(0, 7)} +good +${path.basename(deployB.backup ?? '')}`))
})

t.test('rollback: a corrupt chosen backup → refused before the stop, nothing changed', async (t) => {
  const dir = fs.mkdtempSync(path.join(s.live, '..', 'corrupt-'))
  const copy = path.join(dir, path.basename(deployB.backup ?? ''))
  fs.copyFileSync(deployB.backup ?? '', copy)
  fs.copyFileSync(`${deployB.backup}.json`, `${copy}.json`)
  const bytes = fs.readFileSync(copy)
  bytes.fill(0x5a, 4096, 4196)
  fs.writeFileSync(copy, bytes)
  const pid = (await s.pm2.app())?.pid
  const before = s.tasks()
  const run = await s.run('rollback', [...ROLLBACK, '--backup', copy])
  t.equal(run.code, 1)
  t.match(run.stderr, /^✗ choose: backup todo_[\d_-]+\.sqlite cannot be restored: its sha256 does not match its manifest: the file was changed or damaged; nothing was changed — see: .*\n✗ rollback: failed, nothing changed: .*; [0-9a-f]{7} serving; .*\n$/)
  t.notMatch(run.stdout, /rollback stop/, 'the bot was never stopped')
  t.same(await s.pm2.app().then((a) => [a?.status, a?.pid]), ['online', pid], 'the same bot process is still running')
  t.equal(s.head(), B)
  t.same(s.tasks(), before, 'rows identical')
  t.equal(s.integrity(), 'ok')
  t.match(journal().at(-1), { kind: 'rollback', outcome: 'failed', reason: /sha256 does not match/ })
  fs.rmSync(dir, { recursive: true, force: true })
})

let C = ''
t.test('rollback: restores the backup of the deploy it undoes; the replaced database is kept as a file', async (t) => {
  C = s.push('ping answers pong 2, tag column', (dir) => {
    const file = path.join(dir, 'bot', 'commands', 'help.ts')
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace("turn.reply('pong')", "turn.reply('pong 2')"))
    addColumnMigration(dir, '20261126000000_add_task_tag.ts', 'tag')
  })
  const atStop = s.tasks()
  const deployC = await deploy()
  t.equal(await s.ask('/ping'), 'pong 2')
  await s.ask('water plants')
  const run = await s.run('rollback', ROLLBACK)
  t.comment(run.stdout)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /✓ hand over {2}[0-9a-f]{7} serves \(pid \d+, took over from \d+; pm2 reload\); at take-over: restore \d+ ms/, 'the backup is put in place by the version taking over')
  t.match(run.stdout, /tasks added or changed since: 1, kept in the _pre-restore copy/)
  t.equal(s.head(), B)
  t.equal(await s.ask('/ping'), 'pong')
  t.same(s.tasks(), atStop, 'the database is the one the bot left when deploy C stopped it')
  t.notOk(columns().includes('tag'))
  const kept = /✓ kept copy {2}\S*?(todo_\S+_pre-restore\.sqlite)/.exec(run.stdout)?.[1] ?? ''
  const keptFile = path.join(path.dirname(deployC.backup ?? ''), kept)
  t.ok(fs.existsSync(keptFile), `${kept} exists`)
  t.match(git(s.live, 'show', '--no-patch', '--format=%H'), B)
  const Database = (await import('better-sqlite3')).default
  const db = new Database(keptFile, { readonly: true })
  t.same(db.prepare("select count(*) as n from tasks where text = 'water plants'").get(), { n: 1 }, 'the task added after the deploy is in the kept file')
  db.close()
  t.match(journal().at(-1), { kind: 'rollback', outcome: 'good', backup: deployC.backup, undoes: [deployC.id] })
  t.match((await s.run('rollback', ['--list'])).stdout, new RegExp(`${B.slice(0, 7)} → ${C.slice(0, 7)} +bad`))
})

t.test('rollback: a second one undoes the deploy before (not the bad one); --keep-data undoes only its migrations; traffic answered once', async (t) => {
  t.ok(columns().includes('note'))
  const before = texts()
  const traffic = s.traffic('during rollback')
  const run = await s.run('rollback', [...ROLLBACK, '--keep-data'])
  const report = await traffic.finish()
  t.comment(run.stdout)
  t.equal(run.code, 0, run.stderr)
  t.equal(s.head(), A, `back at A (${A.slice(0, 7)}), not at the bad C`)
  t.match(run.stdout, /✓ hand over {2}[0-9a-f]{7} serves .*; at take-over: snapshot \d+ ms, undo \d+ ms/, 'the migration undone by the version taking over, with the newer release\'s file')
  t.same(applied(), migrationsAtA, 'only that deploy\'s migration was undone')
  t.notOk(columns().includes('note'))
  t.same(texts(), [...before, ...report.sent], 'every task is still there, the traffic added once each')
  t.comment(`${report.sent.length} messages during the rollback; longest gap between answers ${report.longestGapMs} ms`)
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  t.equal(await s.ask('/ping'), "I don't know /ping. Send /help to see what I can do.", 'A has no /ping: the code that answers is A\'s')
  t.match(journal().at(-1), { kind: 'rollback', outcome: 'good', backup: null, undoes: [deployB.id], migrations: ['20261125000000_add_task_note.ts'] })
})

t.test('rollback: nothing left to undo, or an unknown commit → refused, nothing changed', async (t) => {
  const pid = (await s.pm2.app())?.pid
  const none = await s.run('rollback', ROLLBACK)
  t.equal(none.code, 1)
  t.match(none.stderr, /^✗ choose: no good deploy in storage\/deploys\.jsonl to undo; nothing was changed — see: .*\n✗ rollback: failed, nothing changed: no good deploy .*\n$/)
  const unknown = await s.run('rollback', [...ROLLBACK, '--to', 'no-such-commit'])
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /^✗ choose: unknown commit no-such-commit; nothing was changed/)
  t.equal(s.head(), A)
  t.same(await s.pm2.app().then((a) => [a?.status, a?.pid]), ['online', pid])
})

t.test('rollback: --to <commit> --backup <file> goes exactly there', async (t) => {
  const deployC2 = await deploy()
  t.equal(s.head(), C)
  const atStop = s.tasks()
  await s.ask('feed the cat')
  const run = await s.run('rollback', [...ROLLBACK, '--to', A.slice(0, 10), '--backup', path.basename(deployC2.backup ?? '')])
  t.equal(run.code, 0, run.stderr)
  t.equal(s.head(), A)
  t.ok(fs.existsSync(path.join(s.live, 'releases', 'current', 'dist', 'main.js')), 'the release it went to is built: PM2 runs compiled code')
  t.same(s.tasks(), atStop)
  t.same(applied(), migrationsAtA)
  t.match(await s.ask('/help'), /Mister Todo/)
  t.match(journal().at(-1), { kind: 'rollback', outcome: 'good', backup: deployC2.backup, undoes: [deployC2.id] })
})

t.test('rollback: a target that cannot start is never handed the bot: the running version serves, with its data', async (t) => {
  const D = s.push('broken start', (dir) => {
    const main = path.join(dir, 'bot', 'main.ts')
    fs.writeFileSync(main, "throw new Error('boom at start')\n" + fs.readFileSync(main, 'utf8'))
  })
  const E = s.push('fixed start', (dir) => {
    const main = path.join(dir, 'bot', 'main.ts')
    fs.writeFileSync(main, fs.readFileSync(main, 'utf8').replace("throw new Error('boom at start')\n", ''))
  })
  await deploy()
  t.equal(s.head(), E)
  await s.ask('water the plants')
  const before = s.tasks()
  const run = await s.run('rollback', [...ROLLBACK, '--to', D, '--keep-data'])
  t.comment(run.stdout + run.stderr)
  t.equal(run.code, 1)
  t.match(run.stderr, /✗ dry start: the new version cannot start: .*boom at start/)
  t.match(run.stderr, /^✗ rollback: failed, nothing changed: .*; [0-9a-f]{7} serving; /m)
  t.equal(s.head(), E, 'the code that ran before the rollback')
  t.equal((await s.pm2.app())?.status, 'online')
  t.match(await s.ask('/help'), /Mister Todo/, 'it answers')
  t.same(s.tasks(), before, 'no task lost')
  t.equal(s.integrity(), 'ok')
  t.match(journal().at(-1), { kind: 'rollback', outcome: 'failed' })
})

t.test('rollback: --keep-data leaves an additive migration applied (no undo in the hand-over, its data kept); the next deploy of it takes it back without running it', async (t) => {
  const E = s.head()
  const F = s.push('an additive column', (dir) => addColumnMigration(dir, '20270201000000_add_task_colour.ts', 'colour', { additive: true }))
  await deploy()
  t.equal(s.head(), F)
  await s.ask('paint the fence')
  // What the newer version stored in its column (it has no command for it: written as it would).
  const writer = new Database(s.dbFile)
  writer.prepare("update tasks set colour = 'green' where text = 'paint the fence'").run()
  writer.close()

  const traffic = s.traffic('kept')
  const run = await s.run('rollback', [...ROLLBACK, '--keep-data'])
  const seen = await traffic.finish()
  t.comment(run.stdout + run.stderr)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /✓ choose {2}[0-9a-f]{7} → [0-9a-f]{7} \(undoing 1 deploy\(s\)\); data kept, 1 additive migration\(s\) left applied/)
  t.match(run.stdout, /✓ hand over {2}[0-9a-f]{7} serves .*; at take-over: keep \d+ ms/)
  t.notMatch(run.stdout, /undo \d+ ms|snapshot \d+ ms/, 'nothing undone, nothing to snapshot')
  t.equal(s.head(), E)
  t.same(seen.unanswered, [], 'every message answered')
  t.same(seen.stored, seen.sent, 'each stored once, in order')
  t.ok(columns().includes('colour'), 'the column is still there')
  t.notOk(applied().includes('20270201000000_add_task_colour.ts'), 'to the older code the schema is its own')
  t.same(s.rows('select name, kept_by from knex_migrations_kept'), [{ name: '20270201000000_add_task_colour.ts', kept_by: E }])
  t.match(journal().at(-1), { kind: 'rollback', outcome: 'good', migrations: [], kept: ['20270201000000_add_task_colour.ts'] })
  // A crash restart of the older version starts on that schema too.
  await s.pm2.pm2('restart', 'ecosystem.config.js', '--update-env')
  t.match(await s.ask('/help', 30_000), /Mister Todo/, 'the older version starts again after a restart')

  const again = await s.run('deploy', DEPLOY)
  t.equal(again.code, 0, again.stderr)
  t.equal(s.head(), F)
  const result = JSON.parse(fs.readFileSync(path.join(path.dirname(s.dbFile), 'handover-result.json'), 'utf8')) as { steps: Array<{ name: string, detail: string }> }
  t.match(result.steps.find((x) => x.name === 'migrate')?.detail, /^nothing pending; taken back \(left applied by a rollback\): 20270201000000_add_task_colour\.ts$/, 'taken back, not run again')
  t.ok(applied().includes('20270201000000_add_task_colour.ts'), 'counted as applied again')
  t.same(s.rows('select name from knex_migrations_kept'), [], 'nothing kept any more')
  t.same(s.rows("select colour from tasks where text = 'paint the fence'"), [{ colour: 'green' }], 'what the column held survived the round trip')
  t.match(await s.ask('/list'), /paint the fence/)
  t.equal(s.integrity(), 'ok')
})
