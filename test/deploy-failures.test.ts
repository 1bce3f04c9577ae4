// Failed deploys, each for real (bare origin, live clone under a real PM2 daemon, the Bot API
// emulator, real SQLite): after each one the previous version is (still) running, the rows are
// identical and pass integrity_check, the journal says what happened, and the exit code is
// non-zero with a one-line reason. The tests run in order: each starts from the release the
// previous one left, and origin's bad commits are reverted before the next test.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { FRIEND, OWNER } from './support/bot-harness.js'
import { git } from './support/code-sandbox.js'
import { addPing, createDeploySandbox, type DeploySandbox } from './support/deploy-sandbox.js'
import type { Run } from './support/ops-sandbox.js'

const s = await createDeploySandbox()
t.teardown(() => s.close())

const FAST = ['--yes', '--offline', '--watch', '0', '--test-command', 'true']
const LOCK = path.join(s.live, 'storage', 'deploy.lock')
type Entry = { kind: string, outcome: string, reason: string | null }
const lastEntry = (): Entry => s.journal().at(-1) as unknown as Entry

/** Puts origin back on the previous tree (a revert commit), as a developer would after a bad push. */
function revertOrigin (sandbox: DeploySandbox): string {
  git(sandbox.dev, 'revert', '--no-edit', 'HEAD')
  git(sandbox.dev, 'push', '-q', 'origin', 'HEAD:main')
  return git(sandbox.dev, 'rev-parse', 'HEAD')
}

type Snapshot = { head: string, pid: number | undefined, tasks: unknown[] }
async function snapshot (): Promise<Snapshot> {
  return { head: s.head(), pid: (await s.pm2.app())?.pid, tasks: s.tasks() }
}

/** The contract of every failed deploy. `restarted`: the old version was stopped and brought back. */
async function assertUnharmed (t: Test, run: Run, before: Snapshot, reason: RegExp, restarted: boolean): Promise<void> {
  t.not(run.code, 0, 'exit code non-zero')
  const lines = run.stderr.trim().split('\n')
  t.match(lines.at(-1), /^✗ deploy: .+/, 'ends with one ✗ line')
  t.match(lines.at(-1), reason, 'the last line says why')
  const app = await s.pm2.app()
  t.equal(app?.status, 'online', 'the bot is online in pm2')
  if (!restarted) t.equal(app?.pid, before.pid, 'the same bot process never stopped')
  t.equal(s.head(), before.head, 'HEAD is the previous version')
  t.equal(await s.ask('/ping'), 'pong', 'the previous version answers')
  t.same(s.tasks(), before.tasks, 'rows identical')
  t.equal(s.integrity(), 'ok')
  t.notOk(fs.existsSync(LOCK), 'the lock is released')
}

await s.ask('buy milk')
await s.ask('call mum')
// The friend has talked to the bot (Telegram only lets a bot write to users who have).
const hello = s.emu.waitForMessage(FRIEND)
s.emu.sendText(FRIEND, FRIEND, 'buy bread')
await hello
// Enough rows (about 8 MB) for the file-size limit below to bite at the backup and nowhere before
// (the build writes a 2.4 MB bundle).
{
  const db = new Database(s.dbFile, { timeout: 10_000 })
  db.transaction(() => {
    const next = Number(db.prepare('select next_number from chats where id = ?').pluck().get(OWNER))
    const insert = db.prepare('insert into tasks (chat_id, number, text, created_at, updated_at) values (?, ?, ?, ?, ?)')
    for (let i = 0; i < 16000; i++) insert.run(OWNER, next + i, `bulk task ${i}: buy milk and bread at the corner shop, then water the plants `.repeat(5), Date.now(), Date.now())
    db.prepare('update chats set next_number = ? where id = ?').run(next + 16000, OWNER)
  })()
  db.close()
}

t.test('lock: a stale lock is reported with the command that clears it; --force-unlock clears it; --announce and the owner notice reach their chats', async (t) => {
  const dead = spawnSync(process.execPath, ['-e', '0']).pid
  fs.writeFileSync(LOCK, JSON.stringify({ pid: dead, host: os.hostname(), command: 'ops/deploy.mjs --yes', startedAt: '2026-11-24T10:00:00.000Z' }))
  const head = s.head()
  s.push('add /ping and a note column', addPing)
  const stale = await s.run('deploy', FAST)
  t.equal(stale.code, 1)
  t.equal(stale.stderr, `✗ lock: stale lock deploy.lock: "ops/deploy.mjs --yes" (pid ${dead} on ${os.hostname()}, since 2026-11-24T10:00:00.000Z) is no longer running — see: check \`git status\` and \`npm run status\`, then clear it: npx zx ops/deploy.mjs --force-unlock\n`)
  t.equal(s.head(), head)
  t.match(lastEntry(), { kind: 'deploy', outcome: 'failed', reason: /^stale lock deploy\.lock/ })

  const run = await s.run('deploy', [...FAST, '--force-unlock', '--announce'])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, new RegExp(`! lock {2}cleared a stale lock of pid ${dead} \\(--force-unlock\\)`))
  t.match(run.stdout, /✓ announce {2}notice sent to 2 of 2 chat\(s\)/)
  for (const chat of [OWNER, FRIEND]) t.ok(s.emu.messages(chat).some((m) => m.text === 'Mister Todo is being updated; back in a minute.'), `chat ${chat} got the notice`)
  t.ok(s.emu.messages(OWNER).some((m) => /^Mister Todo [0-9a-f]{7} is deployed and verified \(handed over without a stop\)\.$/.test(m.text)), 'the owner heard it was deployed')
  t.notOk(s.emu.messages(FRIEND).some((m) => /deployed/.test(m.text)), 'only the owner gets the outcome')
  t.equal(await s.ask('/ping'), 'pong')
  t.notOk(fs.existsSync(LOCK))
})

t.test('deploy: a version that never becomes ready is never handed the bot; the owner hears why', async (t) => {
  const before = await snapshot()
  s.push('hangs before ready', (dir) => {
    const main = path.join(dir, 'bot', 'main.ts')
    fs.writeFileSync(main, 'await new Promise<void>(() => { setInterval(() => {}, 60_000) })\n' + fs.readFileSync(main, 'utf8'))
  })
  const run = await s.run('deploy', [...FAST, '--ready-timeout', '6'])
  t.comment(run.stdout + run.stderr)
  t.match(run.stderr, /✗ dry start: the new version cannot start: did not finish its dry start within 6 s/)
  t.notMatch(run.stdout, /✓ hand over/)
  await assertUnharmed(t, run, before, /nothing changed: .*did not finish its dry start within 6 s.*; [0-9a-f]{7} still serving/, false)
  t.match(lastEntry(), { outcome: 'failed', reason: /did not finish its dry start within 6 s/ })
  t.ok(s.emu.messages(OWNER).some((m) => /^Mister Todo: the deploy of [0-9a-f]{7} failed \(nothing changed: .*\)\. Reason: .*did not finish its dry start/.test(m.text)), 'the owner heard why')
  revertOrigin(s)
})

t.test('deploy: a version that passes its dry start but never stands by under PM2 → the running version serves throughout, the stalled process is stopped', async (t) => {
  const before = await snapshot()
  const ownerTasks = (): unknown[] => (s.tasks() as Array<{ chat_id: number }>).filter((r) => r.chat_id === OWNER)
  const ownerBefore = ownerTasks()
  s.push('hangs under pm2 only', (dir) => {
    const main = path.join(dir, 'bot', 'main.ts')
    fs.writeFileSync(main, "if (process.env.pm_id !== undefined) { console.error('waiting for a disk that never comes'); await new Promise<void>(() => { setInterval(() => {}, 60_000) }) }\n" + fs.readFileSync(main, 'utf8'))
  })
  const traffic = s.traffic('during a stalled hand-over', FRIEND, 100)
  const run = await s.run('deploy', [...FAST, '--ready-timeout', '6'])
  const report = await traffic.finish()
  t.comment(run.stdout + run.stderr)
  t.not(run.code, 0)
  t.match(run.stderr, /✗ hand over: [0-9a-f]{7} did not take over within 6 s \(mister_todo is "launching" in pm2, pid \d+ serves [0-9a-f]{7}; pm2 is still reloading: the incoming pid \d+ has not said ready; pm2: pm2 reload has not answered yet; the new process last logged: "waiting for a disk that never comes"\)/)
  t.match(run.stdout, /✓ undo hand over {2}[0-9a-f]{7} still serves \(pid \d+\); the incoming process that never stood by \(pid \d+\) was stopped and pm2's reload ended on the serving release; nothing to hand back/)
  t.match(run.stderr.trim().split('\n').at(-1), /^✗ deploy: /)
  t.same(report.unanswered, [], 'every message answered while it stalled and after')
  t.same(report.stored, report.sent, 'each applied once, in order')
  const app = await s.pm2.app()
  t.equal(app?.status, 'online')
  t.equal((await s.healthz()).version, before.head, 'the previous version serves')
  t.equal(s.head(), before.head)
  t.equal(await s.ask('/ping'), 'pong')
  t.same(ownerTasks(), ownerBefore)
  t.equal(s.integrity(), 'ok')
  t.notOk(fs.existsSync(LOCK), 'the lock is released')
  revertOrigin(s)
})

t.test('deploy: npm ci of the incoming dependencies fails → refused before the hand-over, nothing changed', async (t) => {
  const before = await snapshot()
  const depsDir = path.join(s.live, 'storage', 'deps')
  const depsBefore = fs.existsSync(depsDir) ? fs.readdirSync(depsDir) : []
  s.push('add a dependency but forget the lockfile', (dir) => {
    const file = path.join(dir, 'package.json')
    const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { dependencies: Record<string, string> }
    pkg.dependencies['left-pad'] = '^1.3.0'
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n')
  })
  const run = await s.run('deploy', FAST)
  t.match(run.stderr, /✗ release: npm ci for [0-9a-f]{7} failed: `npm ci` can only install packages when your package\.json and package-lock\.json .*are in sync.*; nothing was stopped or changed/)
  t.notMatch(run.stdout, /✓ hand over/)
  await assertUnharmed(t, run, before, /nothing changed: npm ci for [0-9a-f]{7} failed/, false)
  t.match(lastEntry(), { outcome: 'failed', reason: /npm ci for [0-9a-f]{7} failed/ })
  t.same(fs.readdirSync(depsDir), depsBefore, 'the failed install left nothing behind (the running release\'s own dependencies stay)')
  revertOrigin(s)
})

t.test('deploy: the disk fills up at backup time → refused before the stop, nothing changed', async (t) => {
  t.ok(fs.statSync(s.dbFile).size > 4_000 * 1024, 'the database is bigger than the limit')
  const before = await snapshot()
  const backups = fs.readdirSync(path.join(s.live, 'storage', 'backups'))
  // A file-size limit (RLIMIT_FSIZE, 4,000 KB) on the deploy: its writes fail with EFBIG as on a full disk.
  const run = await s.run('deploy', FAST, { shellPrefix: 'ulimit -f 4000' })
  t.match(run.stderr, /✗ backup: the backup could not be written \(SQLITE_IOERR[A-Z_]*: disk I\/O error\): the disk may be full or a file-size limit reached/)
  t.notMatch(run.stdout, /✓ stop/)
  await assertUnharmed(t, run, before, /nothing changed: the backup could not be written/, false)
  t.match(lastEntry(), { outcome: 'failed', reason: /the backup could not be written/ })
  t.same(fs.readdirSync(path.join(s.live, 'storage', 'backups')), backups, 'no partial backup left behind')
})

t.test('deploy: Ctrl-C at each step → the completed steps undone, the previous version serving, lock released, journal says interrupted', async (t) => {
  const incoming = s.push('a change to deploy', (dir) => fs.writeFileSync(path.join(dir, 'CHANGES.md'), 'one more\n'))
  for (const step of ['release', 'backup', 'dry start', 'hand over']) {
    const before = await snapshot()
    const deploy = s.start('deploy', FAST)
    await s.emu.waitFor(() => new RegExp(`✓ ${step} `).test(deploy.output()), 60_000)
    // As a terminal does: SIGINT to the whole foreground process group.
    process.kill(-(deploy.child.pid ?? 0), 'SIGINT')
    const run = await deploy.done
    t.comment(`Ctrl-C after ${step}:\n${run.stdout}${run.stderr}`)
    t.match(run.stdout, /! deploy {2}Ctrl-C: finishing the step in hand, then undoing what was done/)
    // Ctrl-C lands after the step's ✓ line; the next step may already have started (a dry start is
    // followed at once by the hand-over), and then that one is finished and undone too.
    const handedOver = /✓ hand over /.test(run.stdout)
    t.equal(handedOver, step === 'hand over' || (step === 'dry start' && handedOver), 'handed over only where it could have been')
    if (handedOver) t.match(run.stdout, /✓ undo hand over {2}[0-9a-f]{7} serves/)
    await assertUnharmed(t, run, before, handedOver ? /^✗ deploy: interrupted \(Ctrl-C\); handed back to [0-9a-f]{7}, release marked bad/ : /^✗ deploy: interrupted \(Ctrl-C\); nothing changed: /, handedOver)
    t.match(lastEntry(), { outcome: 'interrupted' })
    t.not(s.head(), incoming)
  }
  revertOrigin(s)
})

t.test('rollback: Ctrl-C at each step → the completed steps undone, the version that ran serving with its data, lock released, journal says interrupted', async (t) => {
  for (const step of ['release', 'dry start', 'hand over']) {
    const before = await snapshot()
    const rollback = s.start('rollback', ['--yes', '--watch', '0'])
    await s.emu.waitFor(() => new RegExp(`✓ ${step} `).test(rollback.output()), 60_000)
    process.kill(-(rollback.child.pid ?? 0), 'SIGINT')
    const run = await rollback.done
    t.comment(`Ctrl-C after ${step}:\n${run.stdout}${run.stderr}`)
    t.not(run.code, 0)
    t.match(run.stdout, /! rollback {2}Ctrl-C: finishing the step in hand, then undoing what was done/)
    if (step === 'hand over') t.match(run.stdout, /✓ undo hand over {2}[0-9a-f]{7} serves .*, with the database it had/)
    t.match(run.stderr.trim().split('\n').at(-1), /^✗ rollback: interrupted \(Ctrl-C\); (handed back|nothing changed): .*; [0-9a-f]{7} serving/)
    t.equal(s.head(), before.head, 'the checkout names the version that ran')
    t.equal(await s.ask('/ping'), 'pong', 'the version that ran answers')
    t.same(s.tasks(), before.tasks, 'rows identical')
    t.equal(s.integrity(), 'ok')
    t.notOk(fs.existsSync(LOCK), 'the lock is released')
    t.match(lastEntry(), { kind: 'rollback', outcome: 'interrupted' })
  }
})

t.test('deploy: a diverged branch (a commit made on the server) → refused, nothing changed', async (t) => {
  fs.writeFileSync(path.join(s.live, 'HOTFIX.md'), 'a fix made on the server\n')
  git(s.live, 'add', 'HOTFIX.md')
  git(s.live, 'commit', '-qm', 'hotfix on the server')
  s.push('another change on origin', (dir) => fs.writeFileSync(path.join(dir, 'NOTES.md'), 'notes\n'))
  const before = await snapshot()
  const run = await s.run('deploy', FAST)
  t.match(run.stderr, /✗ preflight: main and origin\/main have diverged: a fast-forward is not possible — see: git log --oneline --graph main origin\/main/)
  await assertUnharmed(t, run, before, /nothing changed: main and origin\/main have diverged/, false)
  t.match(lastEntry(), { outcome: 'failed', reason: /have diverged/ })
})
