// Under PM2 (a real daemon, its own PM2_HOME): start to ready, crash restarts, graceful stop with
// an update in hand, reload and restart under traffic, one instance per database, no token in logs.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { openDatabase } from '../bot/db.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, freePort, OWNER, spawnBot, tempDir } from './support/bot-harness.js'
import { createCodeSandbox } from './support/code-sandbox.js'
import { conversation } from './support/conversation.js'
import { Pm2Sandbox } from './support/pm2-sandbox.js'

const run = promisify(execFile)

const emu = await BotApiEmulator.start()
const code = createCodeSandbox()
const data = tempDir()
const port = await freePort()
const env = botEnv(emu, data, { HEALTH_PORT: String(port), LOG_LEVEL: 'info' })
const pm2 = new Pm2Sandbox(code, env)
t.teardown(async () => {
  await pm2.kill()
  await emu.stop()
})

async function healthScript (...args: string[]): Promise<{ code: number, out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['node_modules/zx/build/cli.js', 'ops/health.mjs', ...args], { cwd: code, env: pm2.fullEnv })
    return { code: 0, out: stdout + stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, out: e.stdout + e.stderr }
  }
}

async function tasks (): Promise<string[]> {
  const db = openDatabase(env.DATABASE_FILE ?? '', { readonly: true })
  try {
    return (await db('tasks').where({ chat_id: OWNER }).orderBy('number').select('text')).map((r: { text: string }) => r.text)
  } finally {
    await db.destroy()
  }
}

const { sent, say, allAnswered } = conversation(emu, OWNER)

t.test('pm2: start waits for ready; /healthz 200; ops/health.mjs exits 0', async (t) => {
  const started = Date.now()
  await pm2.pm2('start', 'ecosystem.config.js')
  t.comment(`pm2 start → ready in ${Date.now() - started} ms`)
  t.equal((await pm2.app())?.status, 'online')
  const res = await fetch(`http://127.0.0.1:${port}/healthz`)
  t.equal(res.status, 200)
  const body = await res.json() as { status: string, version: string }
  t.equal(body.status, 'ok')
  t.match(body.version, /^[0-9a-f]{40}$/)
  const health = await healthScript()
  t.equal(health.code, 0)
  t.match(health.out, /✓ health {2}mister_todo online \(pid \d+, 0 restarts\), version [0-9a-f]{7}, 0 open tasks/)
})

t.test('pm2: the bot runs with production\'s node flags (scripts/runtime-flags.mjs), one V8 helper thread among them', async (t) => {
  // PM2 rewrites the process title, so /proc/<pid>/cmdline does not show them; node's execArgv does.
  const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as { node: { args: string[] } }
  t.same(health.node.args.filter((a) => /^--(max-semi|max-old|v8-pool)/.test(a)), ['--max-semi-space-size=1', '--max-old-space-size=64', '--v8-pool-size=1'])
})

t.test('pm2: kill -9 → restarted → healthy; commands sent meanwhile applied once', async (t) => {
  say('before crash')
  await allAnswered()
  const before = await pm2.app()
  process.kill(before?.pid ?? 0, 'SIGKILL')
  say('during crash 1')
  say('during crash 2')
  const health = await healthScript('--wait', '20')
  t.equal(health.code, 0, health.out)
  t.equal((await pm2.app())?.restarts, 1)
  await allAnswered()
  t.same(await tasks(), sent)
})

t.test('pm2: stop with a slow update in hand finishes it and exits 0 within kill_timeout', async (t) => {
  emu.setMethodDelay('sendMessage', 2500)
  const answered = emu.waitForMessage(OWNER, (m) => m.rendered.endsWith(' slow one'), 15_000)
  say('slow one')
  await emu.waitFor(() => emu.calls('sendMessage').some((c) => c.status === 0 || c.params.text?.toString().includes('slow one')))
  const started = Date.now()
  await pm2.pm2('stop', 'ecosystem.config.js')
  const took = Date.now() - started
  emu.setMethodDelay('sendMessage', 0)
  await answered
  const app = await pm2.app()
  t.equal(app?.status, 'stopped')
  t.equal(app?.exitCode, 0, 'exit code 0')
  t.ok(took < 20_000, `stopped in ${took} ms, within kill_timeout`)
  t.ok(took >= 1000, 'waited for the update in hand')
  t.same(await tasks(), sent)
  await pm2.pm2('start', 'ecosystem.config.js')
})

t.test('pm2: reload and restart during a stream of commands: all answered, none twice', async (t) => {
  let streaming = true
  let i = 0
  const stream = (async () => {
    while (streaming) {
      say(`stream ${i++}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  await new Promise((r) => setTimeout(r, 300))
  const reloadStarted = Date.now()
  await pm2.pm2('reload', 'ecosystem.config.js')
  t.comment(`pm2 reload → ready in ${Date.now() - reloadStarted} ms`)
  await new Promise((r) => setTimeout(r, 300))
  const restartStarted = Date.now()
  await pm2.pm2('restart', 'ecosystem.config.js')
  t.comment(`pm2 restart → ready in ${Date.now() - restartStarted} ms`)
  await new Promise((r) => setTimeout(r, 300))
  streaming = false
  await stream
  await allAnswered()
  t.same(await tasks(), sent, 'every command applied exactly once, in order')
})

t.test('pm2: a second instance on the same database is refused; the first keeps running', async (t) => {
  const second = spawnBot({ ...env, HEALTH_PORT: '0' })
  const { code } = await exited(second)
  t.equal(code, 1)
  t.match(second.output(), /mister_todo: cannot start: another Mister_Todo bot \(process \d+\) is already running on .*todo\.sqlite: stop it first \(npm stop\), or use another DATABASE_FILE/)
  t.equal((await pm2.app())?.status, 'online')
  t.equal((await healthScript()).code, 0)
})

t.test('pm2: the token is in no log file, even after API errors', async (t) => {
  emu.failNext('getUpdates', { status: 500 }, 3)
  emu.failNext('sendMessage', { status: 400, description: 'Bad Request: chat not found' }, 1)
  say('after errors')
  await emu.waitFor(() => emu.calls('sendMessage').some((c) => c.status === 400), 15_000)
  await pm2.pm2('restart', 'ecosystem.config.js')
  const logs = path.join(code, 'storage', 'logs')
  const files = fs.readdirSync(logs)
  t.ok(files.includes('bot.log'))
  const all = files.map((f) => fs.readFileSync(path.join(logs, f), 'utf8')).join('\n')
  t.match(all, /getUpdates failed; retrying|reply rejected by Telegram/, 'the errors were logged')
  t.notOk(all.includes(emu.token), 'no token')
  t.notOk(all.includes(emu.token.split(':')[1] ?? 'x'), 'not even its secret half')
  t.notOk(all.includes('after errors'), 'task text is not logged at info')
})

t.test('pm2: a crash loop ends in "errored" instead of spinning', async (t) => {
  await pm2.pm2('stop', 'ecosystem.config.js')
  // A token Telegram rejects: the bot exits 1 at every start.
  const broken = new Pm2Sandbox(code, { ...env, TELEGRAM_BOT_TOKEN: '999999:WRONG-token-abcdefghijklmnopqrstuv', HEALTH_PORT: String(await freePort()) })
  t.teardown(() => broken.kill())
  await broken.pm2('start', 'ecosystem.config.js').catch(() => '')
  let status = ''
  for (let i = 0; i < 180 && status !== 'errored'; i++) {
    await new Promise((r) => setTimeout(r, 500))
    status = (await broken.app())?.status ?? ''
  }
  t.equal(status, 'errored')
  t.ok(((await broken.app())?.restarts ?? 0) <= 11, 'stopped restarting after max_restarts')
})
