// Deploy and rollback for real: a bare origin, a live clone under a real PM2 daemon, the Bot API
// emulator, real SQLite. Each test builds on the state the previous one left (run them in order).\n// A deploy hands over: the old version serves until the new one takes over.
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { depsKey } from '../ops/lib/deps.mjs'
import { FRIEND } from './support/bot-harness.js'
import { git } from './support/code-sandbox.js'
import { createDeploySandbox } from './support/deploy-sandbox.js'

const s = await createDeploySandbox()
t.teardown(() => s.close())

const FAST = ['--yes', '--offline', '--watch', '1', '--test-command', 'true']
const PING = (dir: string): void => {
  const file = path.join(dir, 'bot', 'commands', 'help.ts')
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace("  { name: 'help',", "  { name: 'ping', description: 'Answers pong', handler: async (turn) => turn.reply('pong') },\n  { name: 'help',"))
  fs.writeFileSync(path.join(dir, 'storage', 'migrations', '20261125000000_add_task_note.ts'), [
    "import type { Knex } from 'knex'",
    "export async function up (knex: Knex): Promise<void> { await knex.schema.alterTable('tasks', (t) => { t.text('note') }) }",
    "export async function down (knex: Knex): Promise<void> { await knex.schema.alterTable('tasks', (t) => { t.dropColumn('note') }) }",
    '',
  ].join('\n'))
}

const original = s.head()
await s.ask('buy milk')
await s.ask('call mum')
const tasksBefore = s.rows('select number, text from tasks order by id')

t.test('deploy: no TTY and no --yes refuses without hanging', async (t) => {
  const run = await s.run('deploy', ['--offline'])
  t.equal(run.code, 1)
  t.match(run.stderr, /✗ deploy: refusing to deploy without confirmation: no terminal to ask on — see: rerun with --yes/)
})

t.test('deploy: already up to date exits 0 and records nothing', async (t) => {
  const run = await s.run('deploy', FAST)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /nothing to deploy: already at [0-9a-f]{7}/)
  t.same(s.journal(), [])
})

let pingCommit = ''
t.test('deploy: incoming tests fail → nothing stopped, HEAD and DB unchanged', async (t) => {
  pingCommit = s.push('add /ping and a note column', PING)
  const run = await s.run('deploy', ['--yes', '--offline', '--watch', '1', '--test-command', 'echo "not ok 1 - ping: answers pong"; false'])
  t.equal(run.code, 1)
  t.match(run.stderr, /not ok: ping: answers pong/)
  t.match(run.stderr, /✗ tests: echo .* failed \(stopped at the first failing file.*\): 1 failing test\(s\); nothing was stopped or changed/)
  t.equal(s.head(), original)
  t.equal((await s.pm2.app())?.status, 'online')
  t.same(s.rows('select number, text from tasks order by id'), tasksBefore)
  t.equal(s.journal().at(-1)?.outcome, 'failed')
})

t.test('deploy: lock held → refused; --dry-run prints the steps from the table and changes nothing', async (t) => {
  const lock = path.join(s.live, 'storage', 'deploy.lock')
  fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), command: 'ops/deploy.mjs', startedAt: new Date().toISOString() }))
  const locked = await s.run('deploy', FAST)
  t.equal(locked.code, 1)
  t.match(locked.stderr, /✗ lock: another deploy or rollback holds deploy\.lock: "ops\/deploy\.mjs" \(pid \d+/)
  fs.rmSync(lock)
  const journal = s.journal().length
  const dry = await s.run('deploy', [...FAST, '--dry-run'])
  t.equal(dry.code, 0, dry.stderr)
  const listed = [...dry.stdout.matchAll(/^ {2}(?:· | {2})([a-z]+(?: [a-z]+)?) {2,}/gm)].map((m) => m[1])
  t.same(listed, ['release', 'build', 'tests', 'backup', 'rehearse', 'dry start', 'hand over', 'snapshot', 'watch', 'verify', 'checkout', 'prune'], 'the table\'s steps, in order')
  t.match(dry.stdout, /hand over +pm2 reload: [0-9a-f]{7} stands by/)
  t.match(dry.stdout, /✓ deploy {2}dry run: nothing was changed/)
  t.same(fs.existsSync(path.join(s.live, 'releases')) ? fs.readdirSync(path.join(s.live, 'releases')) : [], [], 'no release directory made (the failed deploy removed its own)')
  t.equal(s.head(), original)
  t.equal(s.journal().length, journal)
  t.equal((await s.pm2.app())?.status, 'online')
})

t.test('deploy: happy path → handed over with no wait a user notices, migration applied at take-over, journal good', async (t) => {
  const oldPid = (await s.pm2.app())?.pid
  const traffic = s.traffic('during deploy', FRIEND, 50)
  const run = await s.run('deploy', FAST)
  const report = await traffic.finish()
  t.comment(run.stdout)
  t.equal(run.code, 0, run.stderr)
  t.ok(run.lingeredMs < 8000, `the deploy exits once it has said so (${run.lingeredMs} ms after its last line)`)
  t.comment(`${report.sent.length} messages during the deploy; longest gap between answers ${report.longestGapMs} ms; ${s.handoverTimeline()}`)
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  const app = await s.pm2.app()
  // The wait itself is a figure for bench/handover.ts; what makes it short is the order.
  t.equal(s.handoverOrder(oldPid ?? 0, app?.pid ?? 0), 'new stood by → old asked to stop → old ended polling → new took over', 'a hand-over, not a stop and a start')
  t.equal(s.head(), pingCommit, 'the operator\'s checkout names what runs')
  t.equal(await s.ask('/ping'), 'pong')
  t.ok((s.rows('pragma table_info(tasks)') as Array<{ name: string }>).some((c) => c.name === 'note'))
  t.equal(app?.status, 'online')
  t.not(app?.pid, oldPid, 'a new process serves')
  t.match(run.stdout, new RegExp(`✓ hand over {2}${pingCommit.slice(0, 7)} serves \\(pid ${app?.pid}, took over from ${oldPid}; pm2 reload\\); at take-over: snapshot \\d+ ms, migrate \\d+ ms`))
  t.match(run.stdout, /✓ dry start {2}dry start ok: [0-9a-f]{7} as @/)
  const entry = s.journal().at(-1)
  t.equal(entry?.outcome, 'good')
  t.same(entry?.migrations, ['20261125000000_add_task_note.ts'])
  t.ok(fs.existsSync(String(entry?.backup)) && fs.existsSync(`${String(entry?.backup)}.json`), 'the take-over snapshot is kept with its manifest')
  t.equal(fs.realpathSync(path.join(s.live, 'releases', 'current', 'bot')), fs.realpathSync(path.join(s.live, 'releases', fs.readlinkSync(path.join(s.live, 'releases', 'current')), 'bot')))
  t.equal((await s.healthz()).version, pingCommit, '/healthz reports the new version')
})

t.test('rollback: after a good deploy → handed back to the previous commit with its backup, no wait a user notices', async (t) => {
  const list = await s.run('rollback', ['--list'])
  t.match(list.stdout, /deploy .* good/)
  const dry = await s.run('rollback', ['--yes', '--dry-run'])
  t.equal(dry.code, 0, dry.stderr)
  t.same([...dry.stdout.matchAll(/^ {2}(?:· | {2})([a-z]+(?: [a-z]+)?) {2,}/gm)].map((m) => m[1]), ['release', 'dry start', 'hand over', 'kept copy', 'watch', 'verify', 'checkout', 'prune'])
  const oldPid = (await s.pm2.app())?.pid
  const traffic = s.traffic('during rollback', FRIEND, 50)
  const run = await s.run('rollback', ['--yes', '--watch', '1'])
  const report = await traffic.finish()
  t.comment(run.stdout)
  t.equal(run.code, 0, run.stderr)
  t.ok(run.lingeredMs < 8000, `the rollback exits once it has said so (${run.lingeredMs} ms after its last line)`)
  t.comment(`${report.sent.length} messages during the rollback; longest gap between answers ${report.longestGapMs} ms; ${s.handoverTimeline()}`)
  t.same(report.unanswered, [], 'every message answered')
  t.equal(s.handoverOrder(oldPid ?? 0, (await s.pm2.app())?.pid ?? 0), 'new stood by → old asked to stop → old ended polling → new took over', 'a hand-over, not a stop and a start')
  t.match(run.stdout, /✓ hand over {2}[0-9a-f]{7} serves \(pid \d+, took over from \d+; pm2 reload\); at take-over: restore \d+ ms/)
  t.equal(s.head(), original)
  t.match(await s.ask('/help'), /Mister Todo/)
  t.same(s.rows(`select number, text from tasks where chat_id != ${FRIEND} order by id`), tasksBefore, 'the owner\'s rows are as before the deploy (traffic since is in the kept pre-restore file)')
  const kept = fs.readdirSync(path.join(s.live, 'storage', 'backups')).filter((f) => /_pre-restore\.sqlite$/.test(f))
  t.equal(kept.length, 1, 'the replaced database is kept')
  t.equal(s.journal().at(-1)?.kind, 'rollback')
  t.equal(s.journal().at(-1)?.outcome, 'good')
  t.equal((await s.healthz()).version, original)
})

/** Deploys a commit that breaks the way `change` does; the running version must serve throughout. */
async function deployBroken (t: Test, message: string, change: (dir: string) => void, args: string[] = []): Promise<{ stdout: string, stderr: string }> {
  s.push(message, change)
  const owned = "select number, text from tasks where text not like 'during %' order by id"
  const rowsBefore = s.rows(owned)
  const headBefore = s.head()
  const pidBefore = (await s.pm2.app())?.pid
  const traffic = s.traffic(`during ${message}`, FRIEND, 50)
  const run = await s.run('deploy', [...FAST, ...args])
  const report = await traffic.finish()
  t.comment(run.stdout + run.stderr)
  t.equal(run.code, 1)
  t.match(run.stderr, /✗ deploy: nothing changed: .*; [0-9a-f]{7} still serving/)
  t.equal(s.head(), headBefore, 'the checkout is where it was')
  t.equal((await s.pm2.app())?.pid, pidBefore, 'the same process serves')
  t.same(report.unanswered, [], 'every message answered while the deploy failed')
  t.comment(`longest gap between answers ${report.longestGapMs} ms (ended ${report.longestGapEndedAt})`)
  t.same(s.rows(owned), rowsBefore, 'rows unchanged')
  t.same(report.stored, report.sent, 'each message applied once, in order')
  t.equal(s.journal().at(-1)?.outcome, 'failed')
  git(s.dev, 'revert', '--no-edit', 'HEAD')
  git(s.dev, 'push', '-q', 'origin', 'HEAD:main')
  return run
}

t.test('deploy: a version that crashes at start never replaces the running one', async (t) => {
  const run = await deployBroken(t, 'broken start', (dir) => {
    const main = path.join(dir, 'bot', 'main.ts')
    fs.writeFileSync(main, "throw new Error('boom at start')\n" + fs.readFileSync(main, 'utf8'))
  })
  t.match(run.stderr, /✗ dry start: the new version cannot start: .*boom at start/)
})

t.test('deploy: a version that hangs at the top level never replaces the running one', async (t) => {
  const run = await deployBroken(t, 'hangs at start', (dir) => {
    const main = path.join(dir, 'bot', 'main.ts')
    fs.writeFileSync(main, 'await new Promise(() => { setInterval(() => {}, 1000) })\n' + fs.readFileSync(main, 'utf8'))
  }, ['--ready-timeout', '4'])
  t.match(run.stderr, /✗ dry start: the new version cannot start: did not finish its dry start within 4 s/)
})

t.test('deploy: a version whose getMe is refused never replaces the running one', async (t) => {
  s.emu.failNext('getMe', { status: 401, description: 'Unauthorized' })
  const run = await deployBroken(t, 'getMe refused', (dir) => { fs.appendFileSync(path.join(dir, 'README.md'), '\n') })
  t.match(run.stderr, /✗ dry start: the new version cannot start: .*Telegram rejected the bot token/)
})

t.test('deploy: an incoming migration that throws is caught by the rehearsal → nothing changed', async (t) => {
  const run = await deployBroken(t, 'a migration that throws', (dir) => {
    fs.writeFileSync(path.join(dir, 'storage', 'migrations', '20261130000000_throws.ts'),
      "import type { Knex } from 'knex'\nexport async function up (_knex: Knex): Promise<void> { throw new Error('migration exploded') }\nexport async function down (): Promise<void> {}\n")
  })
  t.match(run.stderr, /✗ rehearse: .*migration exploded/)
})

t.test('deploy: a migration that throws only on the live database → the snapshot is put back and the bot handed back', async (t) => {
  const rowsBefore = s.rows('select number, text from tasks order by id')
  const headBefore = s.head()
  s.push('throws at take-over', (dir) => {
    fs.writeFileSync(path.join(dir, 'storage', 'migrations', '20261130000001_throws_live.ts'),
      "import type { Knex } from 'knex'\nexport async function up (knex: Knex): Promise<void> { await knex.schema.alterTable('tasks', (t) => { t.text('x') }); if (process.env.pm_id !== undefined) throw new Error('live data says no') }\nexport async function down (knex: Knex): Promise<void> { await knex.schema.alterTable('tasks', (t) => { t.dropColumn('x') }) }\n")
  })
  const run = await s.run('deploy', FAST)
  t.comment(run.stdout + run.stderr)
  t.equal(run.code, 1)
  t.match(run.stderr, /✗ hand over: the new version took over but its take-over failed: a migration failed on the live database \(the snapshot was put back\): .*live data says no/)
  // The failed version exits and PM2 restarts it: with releases/current pointed back first, that
  // restart is the hand-back (waiting for PM2 to settle instead took 60 s of crash loop).
  // The old process may still be exiting when the hand-back starts: then it is named. And the
  // failed one may still be online then (a slow machine): then the hand-back is a reload.
  t.match(run.stdout, /✓ undo hand over {2}[0-9a-f]{7} serves \(pid \d+(, took over from \d+)?; pm2 (restarted it|reload)\)/)
  t.match(run.stderr, /✗ deploy: handed back to [0-9a-f]{7}, release marked bad/)
  t.equal(s.head(), headBefore)
  t.same(s.rows('select number, text from tasks order by id'), rowsBefore, 'rows as before')
  t.notOk((s.rows('pragma table_info(tasks)') as Array<{ name: string }>).some((c) => c.name === 'x'), 'the half-applied migration is gone')
  t.match(await s.ask('/help'), /Mister Todo/)
  t.equal(s.journal().at(-1)?.outcome, 'rolled-back')
  t.equal((await s.healthz()).version, headBefore)
  git(s.dev, 'revert', '--no-edit', 'HEAD')
  git(s.dev, 'push', '-q', 'origin', 'HEAD:main')
})

t.test('deploy: a version that crashes 2 s after taking over is handed back automatically', async (t) => {
  const headBefore = s.head()
  s.push('late crash', (dir) => {
    const main = path.join(dir, 'bot', 'main.ts')
    const code = fs.readFileSync(main, 'utf8')
    const tookOver = 'serving.bot = running\n'
    if (!code.includes(tookOver)) throw new Error('bot/main.ts changed: put the late crash after the take-over another way')
    fs.writeFileSync(main, code.replace(tookOver, `${tookOver}setTimeout(() => { throw new Error('late crash') }, 2000)\n`))
  })
  const traffic = s.traffic('during late crash', FRIEND, 50)
  const run = await s.run('deploy', ['--yes', '--offline', '--watch', '4', '--test-command', 'true'])
  const report = await traffic.finish()
  t.comment(run.stdout + run.stderr)
  t.equal(run.code, 1)
  t.match(run.stderr, /✗ watch: /)
  t.match(run.stdout, /✓ undo hand over {2}[0-9a-f]{7} serves/)
  t.equal(s.head(), headBefore)
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  t.comment(`longest gap ${report.longestGapMs} ms (the crash, PM2's restart and the hand back)`)
  t.equal((await s.healthz()).version, headBefore)
  t.equal(s.journal().at(-1)?.outcome, 'rolled-back')
  git(s.dev, 'revert', '--no-edit', 'HEAD')
  git(s.dev, 'push', '-q', 'origin', 'HEAD:main')
})

t.test('deploy: changed dependencies get their own node_modules in the release; a rollback hands back to the release still on disk', async (t) => {
  const head = s.head()
  const incoming = s.push('dependency fields change', (dir) => {
    const file = path.join(dir, 'package.json')
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), overrides: {} }, null, 2) + '\n')
  })
  git(s.live, 'fetch', '-q', 'origin')
  const [oldKey, newKey] = [await depsKey(s.live, head), await depsKey(s.live, incoming)]
  t.not(oldKey, newKey)
  // What `npm ci` would have left in storage/deps (a real one compiles better-sqlite3 for a minute).
  const modules = fs.realpathSync(path.join(s.live, 'node_modules'))
  fs.mkdirSync(path.join(s.live, 'storage', 'deps', newKey), { recursive: true })
  fs.symlinkSync(modules, path.join(s.live, 'storage', 'deps', newKey, 'node_modules'))
  fs.writeFileSync(path.join(s.live, 'storage', 'deps', newKey, 'complete'), 'staged by the test\n')
  const run = await s.run('deploy', FAST)
  t.comment(run.stdout)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /✓ release {2}releases\/\d{8}-\d{6}-[0-9a-f]{7} \(new; node_modules reused\)/)
  t.equal(fs.readlinkSync(path.join(s.live, 'releases', 'current', 'node_modules')), path.join(s.live, 'storage', 'deps', newKey, 'node_modules'))
  t.equal(s.head(), incoming)
  t.ok(fs.existsSync(path.join(s.live, 'storage', 'deps', oldKey, 'node_modules')), 'the previous release\'s node_modules is kept for a rollback')
  const back = await s.run('rollback', ['--yes', '--keep-data', '--watch', '0'])
  t.comment(back.stdout)
  t.equal(back.code, 0, back.stderr)
  t.match(back.stdout, /✓ release {2}releases\/\S+ \(still on disk\)/)
  t.equal(s.head(), head)
  t.equal(fs.readlinkSync(path.join(s.live, 'releases', 'current', 'node_modules')), path.join(s.live, 'storage', 'deps', oldKey, 'node_modules'))
  t.match(await s.ask('/help'), /Mister Todo/)
})

t.test('pm2 restart under the same traffic: every message answered once (the figure beside the deploy\'s downtime)', async (t) => {
  const traffic = s.traffic('during restart')
  await new Promise((resolve) => setTimeout(resolve, 500))
  await s.pm2.pm2('restart', 'ecosystem.config.js')
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const report = await traffic.finish()
  t.comment(`${report.sent.length} messages during a bare pm2 restart; longest gap between answers ${report.longestGapMs} ms`)
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
})
