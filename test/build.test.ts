// The production build for real: scripts/build.mjs in a server checkout, PM2's entry choosing the
// build or tsx, a deploy that builds the incoming release and hands it to a real PM2 daemon, and a
// deploy refused because the release does not compile. Tests run in order on one sandbox.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, tempDir } from './support/bot-harness.js'
import { addPing, createDeploySandbox } from './support/deploy-sandbox.js'

const s = await createDeploySandbox()
t.teardown(() => s.close())

const FAST = ['--yes', '--offline', '--watch', '1', '--test-command', 'true']

/** Runs a node script in `cwd`, as PM2 would (no loader hooks), and returns its exit code and output. */
async function node (cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  // Without NODE_OPTIONS: tap puts its process-info hook there, and that hook turns source maps on.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const { code } = await exited(child)
  return { code, stdout, stderr }
}

/** Makes a file an hour old: every source is newer. */
function backdate (file: string): void {
  const hourAgo = new Date(Date.now() - 3_600_000)
  fs.utimesSync(file, hourAgo, hourAgo)
}

t.test('build: npm start builds only when dist/ is missing or older than the sources, saying why in one line', async (t) => {
  const first = await node(s.live, ['scripts/build.mjs', '--if-stale'])
  t.equal(first.code, 0, first.stderr)
  t.equal(first.stdout, 'building: dist/ is missing (npm run build)\n')
  const built = ['dist/main.js', 'dist/main.js.map', 'dist/build.json', 'dist/storage/migrations/20261124000000_create_tasks.js']
  t.same(built.filter((f) => !fs.existsSync(path.join(s.live, f))), [], 'the bundle, its map, the record and the compiled migrations')
  const again = await node(s.live, ['scripts/build.mjs', '--if-stale'])
  t.same([again.code, again.stdout, again.stderr], [0, '', ''], 'a current build is left alone, silently')
  backdate(path.join(s.live, 'dist', 'main.js'))
  const stale = await node(s.live, ['scripts/build.mjs', '--if-stale'])
  t.equal(stale.stdout, 'building: dist/ is older than bot/access.ts (npm run build)\n')
  const current = await node(s.live, ['scripts/build.mjs', '--if-stale'])
  t.equal(current.stdout, '', 'rebuilt, so current again')
  // The packages are in the bundle: new ones pinned (an npm install) make it stale too.
  const now = new Date()
  fs.utimesSync(path.join(s.live, 'package-lock.json'), now, now)
  const newPackages = await node(s.live, ['scripts/build.mjs', '--if-stale'])
  t.equal(newPackages.stdout, 'building: dist/ is older than package-lock.json (npm run build)\n')
  t.equal((await node(s.live, ['scripts/build.mjs', '--if-stale'])).stdout, '', 'current again')
})

t.test('build: the bundle carries the packages it runs on; node_modules needs only the native one', async (t) => {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  const dir = tempDir('mister-todo-bundle-')
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  // The build and the migrations' names (Knex records the .ts files'; bot/migration-source.ts).
  for (const d of ['dist', 'storage/migrations']) fs.cpSync(path.join(s.live, d), path.join(dir, d), { recursive: true })
  // better-sqlite3 and what it loads its binary with; no knex, pino, zod, chrono-node, telegram library.
  for (const p of ['better-sqlite3', 'bindings', 'file-uri-to-path']) {
    fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true })
    fs.symlinkSync(fs.realpathSync(path.join(s.live, 'node_modules', p)), path.join(dir, 'node_modules', p))
  }
  const run = await node(dir, ['dist/main.js', '--dry-start'], botEnv(emu, path.join(dir, 'data')))
  t.equal(run.stderr, '')
  t.match(run.stdout, /^dry start ok: \S+ as @mister_todo_bot\n$/, 'config, migrations, schema and getMe, from the bundle alone')
})

t.test('build: PM2\'s entry runs the build with source maps, so a stack trace names the .ts line', async (t) => {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  const dir = tempDir('mister-todo-build-')
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  // A token Telegram refuses: the bot stops at start and logs the error with its stack.
  const env = botEnv(emu, dir, { TELEGRAM_BOT_TOKEN: '123456:REFUSED-token-abcdefghijklmnopqrstuv', MISTER_TODO_ROOT: s.live })
  const run = await node(s.live, ['bot/pm2-entry.mjs'], env)
  t.equal(run.code, 1)
  t.notMatch(run.stderr, /running TypeScript through tsx/, 'the build ran, not tsx')
  const fatal = JSON.parse(run.stdout.split('\n').find((l) => l.includes('"level":60')) ?? '{}') as { err?: { stack?: string } }
  t.match(fatal.err?.stack ?? '', /\n {4}at tokenRejected \(\S+\/bot\/updates\/poller\.ts:\d+:\d+\)/, 'the frame names the TypeScript file and line')
  t.notMatch(fatal.err?.stack ?? '', /dist\/main\.js/)

  // Sources edited after the build: the entry falls back to tsx and says why.
  backdate(path.join(s.live, 'dist', 'main.js'))
  const stale = await node(s.live, ['bot/pm2-entry.mjs'], env)
  t.equal(stale.code, 1)
  t.match(stale.stderr, /^mister_todo: running TypeScript through tsx: dist\/ is older than bot\/access\.ts \(npm run build\)\n/)
  const fatalTsx = JSON.parse(stale.stdout.split('\n').find((l) => l.includes('"level":60')) ?? '{}') as { err?: { stack?: string } }
  t.match(fatalTsx.err?.stack ?? '', /\/bot\/updates\/poller\.ts:\d+:\d+/, 'tsx names the .ts line too')
})

let pingCommit = ''
t.test('deploy: the release is built before the hand-over; PM2 runs the build, migrations included, and it answers', async (t) => {
  pingCommit = s.push('add /ping and a note column', addPing)
  const run = await s.run('deploy', FAST)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /✓ build {2}dist\/main\.js \(\d+ KB, \d+ sources\) and dist\/build\.json in \d+\.\d s/)
  t.ok(run.stdout.indexOf('✓ build') < run.stdout.indexOf('✓ dry start'), 'built before the dry start')
  t.equal(await s.ask('/ping'), 'pong')
  const health = await s.healthz()
  t.equal(health.runtime, 'compiled')
  t.equal(health.version, pingCommit)
  t.same(health.database, { ok: true, check: 'ok' }, 'the database check runs in its worker thread from the bundle too')
  t.match(health.tasks, { open: Number, done: Number, chats: Number })
  t.same(s.rows("select name from knex_migrations where name like '%note%'"), [{ name: '20261125000000_add_task_note.ts' }], 'the compiled migration ran, recorded under its .ts name')
  const release = fs.realpathSync(path.join(s.live, 'releases', 'current'))
  t.ok(fs.existsSync(path.join(release, 'dist', 'storage', 'migrations', '20261125000000_add_task_note.js')))
  const app = await s.pm2.app()
  t.equal(app?.status, 'online')
  t.same((health.node as { args: string[] }).args.filter((a) => a.startsWith('--max-')), ['--max-semi-space-size=1', '--max-old-space-size=64'], 'PM2 passes the memory flags')
  const listed = JSON.parse((await s.pm2.pm2('jlist')).replace(/^[^[]*/, '')) as Array<{ name: string, pm2_env: { max_memory_restart?: number } }>
  t.equal(listed.find((a) => a.name === 'mister_todo')?.pm2_env.max_memory_restart, 300 * 1024 * 1024, 'restarted above 300 MB')
})

t.test('deploy: a release that does not compile is refused, naming the error; nothing changed', async (t) => {
  const before = { head: s.head(), pid: (await s.pm2.app())?.pid, releases: fs.readdirSync(path.join(s.live, 'releases')).sort(), tasks: s.tasks() }
  s.push('a typo', (dir) => {
    const file = path.join(dir, 'bot', 'commands', 'help.ts')
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace("turn.reply('pong')", "turn.reply('pong'"))
  })
  const run = await s.run('deploy', FAST)
  t.equal(run.code, 1)
  t.match(run.stderr, /✗ build: the release does not compile: bot\/commands\/help\.ts:\d+:\d+: Expected "\)" but found "}"; nothing was stopped or changed/)
  t.match(run.stderr, /nothing changed: .*[0-9a-f]{7} still serving/)
  t.notMatch(run.stdout + run.stderr, /dry start/, 'never got as far as the dry start')
  t.equal(s.head(), before.head)
  t.equal((await s.pm2.app())?.pid, before.pid, 'the same process serves')
  t.same(fs.readdirSync(path.join(s.live, 'releases')).sort(), before.releases, 'the refused release removed')
  t.same(s.tasks(), before.tasks)
  t.equal(await s.ask('/ping'), 'pong')
  t.equal(s.journal().at(-1)?.outcome, 'failed')
})
