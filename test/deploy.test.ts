// Deploy and rollback for real: a bare origin, a live clone under a real PM2 daemon, the Bot API
// emulator, real SQLite. Each test builds on the state the previous one left (run them in order).\n// A deploy hands over: the old version serves until the new one takes over.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { depsKey } from '../ops/lib/deps.mjs'
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
  t.match(run.stderr, /✗ tests: echo .* failed \(exit 1\): 1 failing test\(s\); nothing was stopped or changed/)
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
  t.same(listed, ['release', 'tests', 'backup', 'rehearse', 'dry start', 'hand over', 'snapshot', 'watch', 'verify', 'checkout', 'prune'], 'the table\'s steps, in order')
  t.match(dry.stdout, /hand over +pm2 reload: [0-9a-f]{7} stands by/)
  t.match(dry.stdout, /✓ deploy {2}dry run: nothing was changed/)
  t.same(fs.existsSync(path.join(s.live, 'releases')) ? fs.readdirSync(path.join(s.live, 'releases')) : [], [], 'no release directory made (the failed deploy removed its own)')
  t.equal(s.head(), original)
  t.equal(s.journal().length, journal)
  t.equal((await s.pm2.app())?.status, 'online')
})

t.test('deploy: happy path → handed over with no wait a user notices, migration applied at take-over, journal good', async (t) => {
  const oldPid = (await s.pm2.app())?.pid
  const traffic = s.traffic('during deploy', 1002, 50)
  const run = await s.run('deploy', FAST)
  const report = await traffic.finish()
  t.comment(run.stdout)
  t.equal(run.code, 0, run.stderr)
  t.comment(`${report.sent.length} messages during the deploy; longest gap between answers ${report.longestGapMs} ms`)
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  t.ok(report.longestGapMs <= 1000, `no wait a user notices (longest gap ${report.longestGapMs} ms; goal 300 ms, measured in bench/)`)
  t.equal(s.head(), pingCommit, 'the operator\'s checkout names what runs')
  t.equal(await s.ask('/ping'), 'pong')
  t.ok((s.rows('pragma table_info(tasks)') as Array<{ name: string }>).some((c) => c.name === 'note'))
  const app = await s.pm2.app()
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

t.test('rollback: after a good deploy → previous commit running and verified', async (t) => {
  const list = await s.run('rollback', ['--list'])
  t.match(list.stdout, /deploy .* good/)
  const run = await s.run('rollback', ['--yes', '--watch', '1'])
  t.comment(run.stdout)
  t.equal(run.code, 0, run.stderr)
  t.equal(s.head(), original)
  t.not(await s.ask('/ping'), 'pong')
  t.same(s.rows('select number, text from tasks where chat_id != 1002 order by id'), tasksBefore, 'the owner\'s rows are as before the deploy (traffic during it is in the kept pre-restore file)')
  t.equal(s.journal().at(-1)?.kind, 'rollback')
  t.equal(s.journal().at(-1)?.outcome, 'good')
})

t.test('deploy: a version that cannot start → automatic rollback, old version answering, rows identical', async (t) => {
  // The checkout is detached after the rollback; deploy puts it back on main (which contains it)
  // and deploys the next commit, whose bot exits at start.
  s.push('broken start', (dir) => {
    const main = path.join(dir, 'bot', 'main.ts')
    fs.writeFileSync(main, "throw new Error('boom at start')\n" + fs.readFileSync(main, 'utf8'))
  })
  const rowsBefore = s.rows('select number, text from tasks order by id')
  const headBefore = s.head()
  const run = await s.run('deploy', FAST)
  t.comment(run.stdout + run.stderr)
  t.equal(run.code, 1)
  t.match(run.stdout, /✓ rollback verify/)
  t.match(run.stderr, /✗ deploy: rolled back to [0-9a-f]{7}, release marked bad/)
  t.equal(s.head(), headBefore, 'back on the commit that ran before the deploy')
  t.match(await s.ask('/help'), /Mister Todo/, 'the old version answers')
  t.same(s.rows('select number, text from tasks order by id'), rowsBefore)
  t.equal(s.journal().at(-1)?.outcome, 'rolled-back')
})

t.test('deploy: an incoming migration that throws is caught by the rehearsal → nothing stopped, rows identical', async (t) => {
  const headBefore = s.head()
  const rowsBefore = s.rows('select number, text from tasks order by id')
  s.push('a migration that throws', (dir) => {
    fs.writeFileSync(path.join(dir, 'storage', 'migrations', '20261130000000_throws.ts'),
      "import type { Knex } from 'knex'\nexport async function up (_knex: Knex): Promise<void> { throw new Error('migration exploded') }\nexport async function down (): Promise<void> {}\n")
  })
  const run = await s.run('deploy', FAST)
  t.equal(run.code, 1)
  t.match(run.stderr, /✗ rehearse: .*migration exploded/)
  t.notMatch(run.stdout, /✓ stop/, 'the bot was never stopped')
  t.equal(s.head(), headBefore, 'HEAD unchanged')
  t.same(s.rows('select number, text from tasks order by id'), rowsBefore, 'rows identical')
  t.match(await s.ask('/help'), /Mister Todo/, 'the old version is still answering')
})

t.test('deploy: changed dependencies are staged before the stop and swapped in by rename; a rollback swaps them back', async (t) => {
  git(s.dev, 'revert', '--no-edit', 'HEAD', 'HEAD~1') // the throwing migration and the broken start
  const head = s.head()
  const incoming = s.push('dependency fields change', (dir) => {
    const file = path.join(dir, 'package.json')
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), overrides: {} }, null, 2) + '\n')
  })
  git(s.live, 'fetch', '-q', 'origin')
  const [oldKey, newKey] = [await depsKey(s.live, head), await depsKey(s.live, incoming)]
  t.not(oldKey, newKey)
  // What `npm ci` would have left in storage/deps (a real one compiles better-sqlite3 for a minute):
  // the same modules, as a link the swap moves like a folder.
  const live = path.join(s.live, 'node_modules')
  const modules = fs.realpathSync(live)
  fs.mkdirSync(path.join(s.live, 'storage', 'deps', newKey), { recursive: true })
  fs.symlinkSync(modules, path.join(s.live, 'storage', 'deps', newKey, 'node_modules'))
  fs.writeFileSync(path.join(s.live, 'storage', 'deps', newKey, 'complete'), 'staged by the test\n')
  const linkOf = (file: string): string => fs.readlinkSync(file)
  const original = linkOf(live)

  const run = await s.run('deploy', FAST)
  t.comment(run.stdout)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, new RegExp(`✓ install {2}already installed in storage/deps/${newKey}; the running bot's node_modules untouched`))
  t.match(run.stdout, new RegExp(`✓ deps {2}node_modules of ${incoming.slice(0, 7)} swapped in \\(installed before the stop\\); the previous ones are kept in storage/deps/${oldKey}`))
  t.equal(s.head(), incoming)
  t.equal(linkOf(live), modules, 'the staged node_modules is live')
  t.equal(linkOf(path.join(s.live, 'storage', 'deps', oldKey, 'node_modules')), original, 'the previous node_modules is parked')
  t.match(await s.ask('/help'), /Mister Todo/)

  const back = await s.run('rollback', ['--yes', '--watch', '0'])
  t.equal(back.code, 0, back.stderr)
  t.match(back.stdout, new RegExp(`✓ install {2}node_modules of ${head.slice(0, 7)} kept from before in storage/deps/${oldKey}, before the stop`))
  t.equal(linkOf(live), original, 'the previous node_modules is back')
  t.ok(fs.existsSync(path.join(s.live, 'storage', 'deps', newKey, 'node_modules')), 'the rolled-back one is parked for a redeploy')
  t.equal(s.head(), head)
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
