// Logs: ops/logs.mjs shows bot.log pretty-printed and filtered; the bot's copytruncate rotation
// keeps the file bounded; no token survives into what an operator sees.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { PROJECT_ROOT } from '../bot/config.js'
import { rotateIfLarge } from '../bot/log-rotation.js'
import { tempDir } from './support/bot-harness.js'

const TOKEN = '123456:TEST-token-abcdefghijklmnopqrstuvwxyz'

function logsScript (root: string, ...args: string[]): { code: number | null, out: string, err: string } {
  const r = spawnSync(process.execPath, ['node_modules/zx/build/cli.js', 'ops/logs.mjs', ...args], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, MISTER_TODO_ROOT: root, FORCE_COLOR: '0' }, encoding: 'utf8' })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

function sandboxWithLog (): string {
  const root = tempDir()
  fs.mkdirSync(path.join(root, 'storage', 'logs'), { recursive: true })
  const now = Date.now()
  const at = (agoMs: number): string => new Date(now - agoMs).toISOString()
  const lines = [
    `${at(3_600_000)}: {"level":30,"time":"${at(3_600_000)}","app":"mister_todo","msg":"ready","username":"mister_todo_bot"}`,
    `${at(120_000)}: {"level":40,"time":"${at(120_000)}","app":"mister_todo","msg":"getUpdates failed; retrying","attempt":1}`,
    // PM2 prefixes even an empty write (the bot's last flush before it exits): the next line has two.
    `${at(80_000)}: ${at(80_000)}: {"level":30,"time":"${at(80_000)}","app":"mister_todo","msg":"took over: serving"}`,
    `${at(60_000)}: {"level":30,"time":"${at(60_000)}","app":"mister_todo","msg":"update handled","updateId":7}`,
    `${at(30_000)}: Error: boom at https://api.telegram.org/bot${TOKEN}/getMe`,
    `${at(10_000)}: {"level":50,"time":"${at(10_000)}","app":"mister_todo","msg":"update failed","updateId":8}`,
  ]
  fs.writeFileSync(path.join(root, 'storage', 'logs', 'bot.log'), lines.join('\n') + '\n')
  return root
}

t.test('logs: pretty-prints the last lines and exits with --no-follow', async (t) => {
  const r = logsScript(sandboxWithLog(), '--no-follow', '--lines', '2')
  t.equal(r.code, 0, r.err)
  const shown = r.out.trim().split('\n')
  t.equal(shown.length, 2)
  t.match(shown[0], /^\d\d:\d\d:\d\d STDERR Error: boom at https:\/\/api\.telegram\.org\/bot<redacted-token>\/getMe$/)
  t.match(shown[1], /^\d\d:\d\d:\d\d ERROR {2}update failed updateId=8$/)
  t.notOk(r.out.includes(TOKEN), 'the token is redacted')
})

t.test('logs: --errors shows warnings and above only; --since filters by age', async (t) => {
  const root = sandboxWithLog()
  const errors = logsScript(root, '--no-follow', '--errors').out.trim().split('\n')
  t.same(errors.map((l) => l.split(/\s+/)[1]), ['WARN', 'STDERR', 'ERROR'])
  const recent = logsScript(root, '--no-follow', '--since', '90s').out.trim().split('\n')
  t.same(recent.map((l) => l.split(/\s+/)[1]), ['INFO', 'INFO', 'STDERR', 'ERROR'])
  t.match(recent[0], /^\d\d:\d\d:\d\d INFO {3}took over: serving$/, 'a line with two PM2 prefixes is still its own JSON line')
})

t.test('logs: bad flags and a missing log file say what to do', async (t) => {
  const root = sandboxWithLog()
  t.same(logsScript(root, '--since', 'yesterday'), { code: 2, out: '', err: '✗ logs: --since must look like 30s, 10m, 2h or 1d, got "yesterday" — see: npx zx ops/logs.mjs --help\n' })
  t.equal(logsScript(root, '--bogus').err, '✗ logs: unknown flag --bogus — see: npx zx ops/logs.mjs --help\n')
  const empty = tempDir()
  const missing = logsScript(empty, '--no-follow')
  t.equal(missing.code, 1)
  t.match(missing.err, /^✗ logs: no log file at .*bot\.log: the bot has not run under pm2 here yet — see: npm start\n$/)
})

t.test('log rotation: past the limit the file is copied to .1 and truncated; old copies shift, at most LOG_KEEP', async (t) => {
  const dir = tempDir()
  const file = path.join(dir, 'bot.log')
  fs.writeFileSync(file, 'x'.repeat(100))
  t.notOk(rotateIfLarge(file, 1024, 2), 'small file left alone')
  for (let i = 1; i <= 4; i++) {
    fs.writeFileSync(file, String(i).repeat(2000))
    t.ok(rotateIfLarge(file, 1024, 2))
    t.equal(fs.statSync(file).size, 0, 'truncated in place')
  }
  t.same(fs.readdirSync(dir).sort(), ['bot.log', 'bot.log.1', 'bot.log.2'])
  t.equal(fs.readFileSync(`${file}.1`, 'utf8')[0], '4')
  t.equal(fs.readFileSync(`${file}.2`, 'utf8')[0], '3')
})
