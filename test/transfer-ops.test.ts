// ops/export.mjs, run for real under zx against the database of a bot that keeps running: every
// chat or one, each format, files the bot's /import reads, and the operator's mistakes refused.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { PROJECT_ROOT } from '../bot/config.js'
import { FRIEND, OWNER, startHarness, tempDir } from './support/bot-harness.js'
import { collect, type Run } from './support/ops-sandbox.js'

const ZX_CLI = path.join(PROJECT_ROOT, 'node_modules', 'zx', 'build', 'cli.js')
const GROUP = -4242

const h = await startHarness({ DEFAULT_TIMEZONE: 'Europe/Berlin' })
const root = tempDir()
t.teardown(async () => {
  await h.close()
  fs.rmSync(root, { recursive: true, force: true })
})
await h.say('buy milk\ncall mom friday 9am')
await h.say('/done 1')
await h.say('friend task', FRIEND, FRIEND)
await h.say('group task\n=cmd|\' /C calc\'!A0', OWNER, GROUP)
await h.say('only deleted', OWNER, -77)
await h.say('/del 1', OWNER, -77)

const exportRun = (args: string[], env: Record<string, string> = {}): Promise<Run> => collect(spawn(process.execPath, [ZX_CLI, path.join(PROJECT_ROOT, 'ops', 'export.mjs'), ...args], {
  cwd: root,
  env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MISTER_TODO_ROOT: root, DATABASE_FILE: h.config.databaseFile, DEFAULT_TIMEZONE: 'Europe/Berlin', ...env },
  stdio: ['ignore', 'pipe', 'pipe'],
}))
const exportsDir = path.join(root, 'storage', 'exports')
const FILE = '(storage/exports/chat_(-?\\d+)_\\d{4}-\\d\\d-\\d\\d_\\d\\d-\\d\\d-\\d\\d\\.(?:json|csv|todo\\.txt))'

t.test('ops export: every chat with tasks, from the live database while the bot answers', async (t) => {
  const run = await exportRun([])
  t.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trimEnd().split('\n')
  t.equal(lines.length, 4, run.stdout)
  t.match(lines[0], new RegExp(`^✓ export  chat ${GROUP}: 2 tasks \\(2 open, 0 done\\) → ${FILE} \\([\\d.]+ (B|kB)\\)$`))
  t.match(lines[1], new RegExp(`^✓ export  chat ${OWNER}: 2 tasks \\(1 open, 1 done\\) → ${FILE} `))
  t.match(lines[2], new RegExp(`^✓ export  chat ${FRIEND}: 1 task \\(1 open, 0 done\\) → ${FILE} `))
  t.equal(lines[3], '✓ export  3 chats, 5 tasks as json in storage/exports')
  t.notMatch(run.stdout, /chat -77/, 'a chat whose tasks are all deleted is skipped')

  const files = fs.readdirSync(exportsDir).sort()
  t.equal(files.length, 3)
  t.equal(fs.statSync(exportsDir).mode & 0o777, 0o700)
  for (const f of files) t.equal(fs.statSync(path.join(exportsDir, f)).mode & 0o777, 0o600, `${f} is owner-only`)
  const friendFile = files.find((f) => f.startsWith(`chat_${FRIEND}_`)) ?? ''
  const friend = JSON.parse(fs.readFileSync(path.join(exportsDir, friendFile), 'utf8')) as { tasks: Array<{ text: string }>, chat: { time_zone: string } }
  t.same(friend.tasks.map((x) => x.text), ['friend task'], 'one chat\'s file holds that chat only')
  t.equal(friend.chat.time_zone, 'Europe/Berlin')

  // The same file as /export sends: the bot imports it.
  const ownerFile = fs.readFileSync(path.join(exportsDir, files.find((f) => f.startsWith(`chat_${OWNER}_`)) ?? ''))
  const waiting = h.emu.waitForMessage(-5)
  h.emu.sendDocument(OWNER, -5, { name: 'owner.json', data: ownerFile, caption: '/import' })
  t.match((await waiting).rendered, /^📥 Imported 2 tasks from JSON \(1 open, 1 done\):\n✅ #1 buy milk \(was #1\)\n#2 call mom — due /)
  t.equal((await h.say('still here?')).rendered, 'Added:\n#3 still here?', 'the bot kept serving')
})

t.test('ops export: one chat as CSV or todo.txt; formula cells escaped', async (t) => {
  const csv = await exportRun(['--chat', String(GROUP), '--format', 'csv', '--out', 'out'])
  t.equal(csv.code, 0, csv.stderr)
  const file = new RegExp(`→ (out/chat_${GROUP}_\\S+\\.csv)`).exec(csv.stdout)?.[1] ?? ''
  t.equal(csv.stdout.trimEnd().split('\n').at(-1), '✓ export  1 chat, 2 tasks as csv in out')
  const text = fs.readFileSync(path.join(root, file), 'utf8')
  t.match(text, /\n2,open,'=cmd\|' \/C calc'!A0,/, 'the DDE formula is escaped')
  const todo = await exportRun(['--chat', String(OWNER), '--format', 'todo', '--out', 'out'])
  t.equal(todo.code, 0, todo.stderr)
  const todoFile = /→ (out\/\S+\.todo\.txt)/.exec(todo.stdout)?.[1] ?? ''
  t.match(fs.readFileSync(path.join(root, todoFile), 'utf8'), /^\d{4}-\d\d-\d\d call mom due:\d{4}-\d\d-\d\d time:09:00\n/)
})

t.test('ops export: mistakes are refused with one line and nothing written', async (t) => {
  const before = fs.readdirSync(exportsDir).length
  const cases: Array<[string[], Record<string, string>, number, string]> = [
    [['--chat', '999'], {}, 1, '✗ export: chat 999 has no tasks in ' + h.config.databaseFile + '; nothing was written — see: npx zx ops/export.mjs (every chat with tasks)\n'],
    [['--chat', 'me'], {}, 2, '✗ export: --chat must be a chat id (a whole number, negative for groups), got "me" — see: npx zx ops/export.mjs --help\n'],
    [['--format', 'pdf'], {}, 2, '✗ export: --format must be json, csv or todo, not "pdf" — see: npx zx ops/export.mjs --help\n'],
    [['--zip'], {}, 2, '✗ export: unknown flag --zip — see: npx zx ops/export.mjs --help\n'],
    [[], { DATABASE_FILE: path.join(root, 'nope.sqlite') }, 1, '✗ export: no database at nope.sqlite — see: check DATABASE_FILE in .env\n'],
    [[], { DEFAULT_TIMEZONE: 'Mars/Olympus' }, 1, '✗ export: DEFAULT_TIMEZONE "Mars/Olympus" is not an IANA time zone; nothing was written — see: use a name like Europe/Berlin or UTC in .env\n'],
  ]
  for (const [args, env, code, stderr] of cases) {
    const run = await exportRun(args, env)
    t.equal(run.code, code, args.join(' '))
    t.equal(run.stderr, stderr)
  }
  t.equal(fs.readdirSync(exportsDir).length, before, 'no file written')
  const help = await exportRun(['--help'])
  t.equal(help.stdout.split('\n')[0], 'ops/export.mjs: the tasks of every chat, or of one, as files, read from the live database.')
  t.match(help.stdout, /--format <name> {4}json \(default\), csv or todo/)
})
