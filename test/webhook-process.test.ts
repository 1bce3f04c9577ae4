// Webhook mode as a real process: killed with SIGKILL in the middle of a request, Telegram's
// retry applies the update once; stopped with SIGINT in the middle of one, it finishes that
// request (200) before closing the database and exits 0. And a request that cannot commit within
// 10 s is answered 503 at once (Telegram retries) instead of hanging.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startBot } from '../bot/app.js'
import { loadConfig } from '../bot/config.js'
import { createLogger } from '../bot/logger.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, freePort, LogSink, OWNER, spawnBot, tempDir, waitForLog } from './support/bot-harness.js'
import { forEachEngine, type EngineCase } from './support/engines.js'
import { waitUntil } from './support/wait.js'

const SECRET = 'webhook-process-secret_0123456789abcdef'

async function webhookEnv (e: EngineCase, emu: BotApiEmulator, dir: string): Promise<Record<string, string>> {
  const port = await freePort()
  return botEnv(emu, dir, { ...e.env, TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, WEBHOOK_LISTEN: `127.0.0.1:${port}`, TELEGRAM_WEBHOOK_SECRET: SECRET })
}

async function tasksOf (e: EngineCase, dir: string): Promise<string[]> {
  const db = e.open(path.join(dir, 'db', 'todo.sqlite'))
  try {
    const rows = await db('tasks').where({ chat_id: OWNER }).orderBy('number').select('number', 'text') as Array<{ number: number | string, text: string }>
    return rows.map((r) => `${Number(r.number)} ${r.text}`)
  } finally {
    await db.destroy()
  }
}

forEachEngine(t, 'webhook process: kill -9 mid-request, and Telegram\'s retry applies the update once', async (t, e) => {
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 200, maxMs: 1000 } })
  const dir = tempDir()
  t.teardown(async () => { await emu.stop(); fs.rmSync(dir, { recursive: true, force: true }) })
  const env = await webhookEnv(e, emu, dir)
  let bot = spawnBot(env)
  t.teardown(() => { bot.kill('SIGKILL') })
  await waitForLog(bot, /"msg":"ready"/)
  let waiting = emu.waitForMessage(OWNER)
  emu.sendText(OWNER, OWNER, 'before the crash')
  await waiting
  // The bot fetches an /import's file inside the request, before its transaction: hold that.
  emu.setMethodDelay('getFile', 3000)
  const update = emu.sendDocument(OWNER, OWNER, { name: 'tasks.txt', data: 'alpha\nbeta\n', caption: '/import' })
  await waitUntil(() => emu.calls('getFile').length > 0, { what: 'the bot inside the request' })
  bot.kill('SIGKILL')
  await exited(bot)
  await waitUntil(() => emu.webhookAttempts().some((a) => a.updateId === update.update_id && a.error !== undefined), { what: 'the cut request seen by Telegram' })
  t.same(await tasksOf(e, dir), ['1 before the crash'], 'nothing of the cut request was stored')
  emu.setMethodDelay('getFile', 0)
  // Counted from the spawn: the new process's start (seconds on a loaded machine), Telegram's next
  // retry (at most 1 s apart here), the download, the commit and the reply.
  waiting = emu.waitForMessage(OWNER, undefined, 20_000)
  bot = spawnBot(env)
  await waitForLog(bot, /"msg":"ready"/)
  const reply = await waiting
  t.match(reply.rendered, /alpha/)
  await waitUntil(() => emu.pendingUpdates().length === 0, { what: 'Telegram holding nothing' })
  const attempts = emu.webhookAttempts().filter((a) => a.updateId === update.update_id)
  t.match(attempts[0], { error: /^Connection (reset by peer|error)/ }, 'the first delivery was cut')
  t.equal(attempts.at(-1)?.status, 200, 'a retry was answered 200')
  t.equal(attempts.filter((a) => a.status === 200).length, 1, 'answered 200 once')
  bot.kill('SIGINT')
  t.same(await exited(bot), { code: 0, signal: null })
  t.same(await tasksOf(e, dir), ['1 before the crash', '2 alpha', '3 beta'], 'the import applied once')
  t.equal(emu.messages(OWNER).filter((m) => m.rendered.includes('alpha')).length, 1, 'answered once')
})

t.test('webhook process: SIGINT mid-request finishes the request, then exits 0', async (t) => {
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 200, maxMs: 1000 } })
  const dir = tempDir()
  t.teardown(async () => { await emu.stop(); fs.rmSync(dir, { recursive: true, force: true }) })
  const e: EngineCase = { engine: 'sqlite', env: {}, target: () => ({ engine: 'sqlite', file: path.join(dir, 'db', 'todo.sqlite') }), open: () => { throw new Error('unused') } }
  const env = await webhookEnv(e, emu, dir)
  const bot = spawnBot(env)
  t.teardown(() => { bot.kill('SIGKILL') })
  await waitForLog(bot, /"msg":"ready"/)
  emu.setMethodDelay('getFile', 1500)
  const update = emu.sendDocument(OWNER, OWNER, { name: 'tasks.txt', data: 'gamma\n', caption: '/import' })
  await waitUntil(() => emu.calls('getFile').length > 0, { what: 'the bot inside the request' })
  bot.kill('SIGINT')
  t.same(await exited(bot), { code: 0, signal: null }, 'a clean exit')
  t.same(emu.webhookAttempts().filter((a) => a.updateId === update.update_id).map((a) => a.status), [200], 'the request in hand was answered 200, once')
  t.same(emu.pendingUpdates(), [], 'Telegram holds nothing')
  const out = bot.output()
  t.ok(out.indexOf('"msg":"webhook mode: stopping; finishing the requests in hand"') < out.indexOf('"msg":"webhook mode: stopped"'), 'stopped after finishing')
  t.match(out, /"answers":\{"200":1\},"msg":"webhook mode: stopped"/)
})

t.test('webhook process: a request that cannot commit within 10 s gets 503 fast, and the retry finds it applied', async (t) => {
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 100, maxMs: 1000 } })
  const dir = tempDir()
  const e: EngineCase = { engine: 'sqlite', env: {}, target: () => ({ engine: 'sqlite', file: path.join(dir, 'db', 'todo.sqlite') }), open: () => { throw new Error('unused') } }
  const env = await webhookEnv(e, emu, dir)
  const logs = new LogSink()
  const bot = await startBot(loadConfig(env), { logger: createLogger('debug', logs) })
  t.teardown(async () => { await bot.stop(); await emu.stop(); fs.rmSync(dir, { recursive: true, force: true }) })
  await bot.ready
  emu.setMethodDelay('getFile', 11_000)
  const started = Date.now()
  const update = emu.sendDocument(OWNER, OWNER, { name: 'tasks.txt', data: 'slow one\n', caption: '/import' })
  const first = await waitUntil(() => emu.webhookAttempts().find((a) => a.updateId === update.update_id && a.status !== undefined), { what: 'the first answer', timeoutMs: 15_000 })
  t.equal(first.status, 503)
  const took = Date.now() - started
  t.ok(took >= 9_500 && took < 11_000, `answered after ~10 s, before the commit (${took} ms)`)
  // The retries fetch the file again (the pipeline downloads before it looks at the ledger): fast now.
  emu.setMethodDelay('getFile', 0)
  await waitUntil(() => emu.pendingUpdates().length === 0, { what: 'Telegram holding nothing', timeoutMs: 10_000 })
  const statuses = emu.webhookAttempts().filter((a) => a.updateId === update.update_id).map((a) => a.status)
  t.equal(statuses[0], 503)
  t.equal(statuses.at(-1), 200, 'the retry answered 200 once the first commit was done')
  const rows = await bot.db('tasks').where({ chat_id: OWNER }).select('text') as Array<{ text: string }>
  t.same(rows.map((r) => r.text), ['slow one'], 'applied once')
  t.match(logs.lines.join('\n'), /webhook update not committed in time; answered 503 so Telegram retries/)
})
