// The running bot's services stop in reverse from one list on every path: a fault after the
// health server listens and before the first poll, a port already taken, webhook mode refused by
// Telegram, a stop before the first poll, a fatal poll error while serving, a normal stop. After
// each, nothing is left held: the instance lock is free (a second bot takes over at once), no
// file handle is open on the database, and the health (and webhook) port can be listened on.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { startBot, type RunningBot } from '../bot/app.js'
import { loadConfig, type Config } from '../bot/config.js'
import { Lifecycle } from '../bot/lifecycle.js'
import { createLogger } from '../bot/logger.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, freePort, LogSink, OWNER, tempDir } from './support/bot-harness.js'

type Setup = { emu: BotApiEmulator, env: Record<string, string>, config: Config, logs: LogSink, healthPort: number, start: (o?: { signal?: AbortSignal }) => Promise<RunningBot> }

async function setUp (t: Test, extra: Record<string, string> = {}): Promise<Setup> {
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  const healthPort = await freePort()
  const env = botEnv(emu, dir, { HEALTH_PORT: String(healthPort), ...extra })
  const config = loadConfig(env)
  const logs = new LogSink()
  t.teardown(async () => {
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return { emu, env, config, logs, healthPort, start: (o = {}) => startBot(config, { logger: createLogger('debug', logs), ...o }) }
}

/** The files this process holds open under `folder` (from /proc/self/fd). */
function openFilesUnder (folder: string): string[] {
  const open: string[] = []
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith(folder + path.sep)) open.push(path.relative(folder, target))
    } catch {
      // closed between the listing and the look
    }
  }
  return open.sort()
}

/** True when a server can listen on 127.0.0.1:`port` (it is then closed again). */
async function canListen (port: number): Promise<boolean> {
  const server = net.createServer()
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => resolve(true))
  })
  if (ok) await new Promise((resolve) => server.close(resolve))
  return ok
}

/** Asserts that a stopped bot left nothing held, then that a second bot takes over at once. */
async function assertNothingHeld (t: Test, s: Setup, ports: Record<string, number> = {}): Promise<void> {
  const folder = path.dirname(s.config.databaseFile)
  t.same(openFilesUnder(folder), [], 'no file in the database folder is still open (database and lock closed)')
  t.notOk(fs.existsSync(`${s.config.databaseFile}-wal`), 'the database was closed: its WAL was checkpointed and removed')
  for (const [name, port] of Object.entries({ health: s.healthPort, ...ports })) {
    t.ok(await canListen(port), `the ${name} port ${port} is free`)
  }
  s.emu.clearFaults()
  const mark = s.logs.lines.length
  const started = performance.now()
  const second = await s.start()
  t.teardown(() => second.stop())
  await second.ready
  const ms = performance.now() - started
  t.notOk(s.logs.lines.slice(mark).some((l) => l.includes('standby: loaded, waiting')), 'a second bot on the same database took the lock without waiting')
  t.ok(ms < 10_000, `and served (${Math.round(ms)} ms)`)
  const waiting = s.emu.waitForMessage(OWNER)
  s.emu.sendText(OWNER, OWNER, 'after the fault')
  t.equal((await waiting).rendered, 'Added:\n#1 after the fault', 'it answers')
  await second.stop()
}

t.test('lifecycle: a token rejected at the first poll (after health listens) fails the start and leaves nothing held', async (t) => {
  const s = await setUp(t)
  emuFailsFirstPoll(s.emu)
  await t.rejects(s.start(), { code: 'ETOKEN', message: 'Telegram rejected the bot token (401 Unauthorized): check TELEGRAM_BOT_TOKEN in .env, or ask @BotFather for a new one' })
  t.ok(s.logs.lines.some((l) => l.includes('took over: serving')), 'it had taken over (health listening) before the poll failed')
  await assertNothingHeld(t, s)
})

function emuFailsFirstPoll (emu: BotApiEmulator): void {
  emu.failNext('getUpdates', { status: 401, description: 'Unauthorized' })
}

t.test('lifecycle: a HEALTH_PORT already taken fails the start and leaves the lock and the database free', async (t) => {
  const s = await setUp(t)
  const taken = net.createServer()
  await new Promise<void>((resolve) => taken.listen(s.healthPort, '127.0.0.1', resolve))
  await t.rejects(s.start(), { code: 'EHEALTHPORT', message: `cannot serve health on 127.0.0.1:${s.healthPort}: listen EADDRINUSE: address already in use 127.0.0.1:${s.healthPort}. Set HEALTH_PORT to a free port` })
  await new Promise((resolve) => taken.close(resolve))
  await assertNothingHeld(t, s)
})

t.test('lifecycle: webhook mode refused by Telegram fails the start and frees the webhook port too', async (t) => {
  const webhookPort = await freePort()
  const s = await setUp(t, { TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${webhookPort}/telegram`, WEBHOOK_LISTEN: `127.0.0.1:${webhookPort}`, TELEGRAM_WEBHOOK_SECRET: 'lifecycle-test-secret_0123456789abcdef' })
  s.emu.failNext('setWebhook', { status: 400, description: 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook' })
  await t.rejects(s.start(), { code: 'EWEBHOOK', message: `Telegram refused setWebhook for http://127.0.0.1:${webhookPort}/telegram (400 Bad Request: bad webhook: An HTTPS URL must be provided for webhook): check TELEGRAM_WEBHOOK_URL is the public https address your proxy serves, or unset it to poll` })
  await assertNothingHeld(t, s, { webhook: webhookPort })
})

t.test('lifecycle: a stop (the abort signal) after the take-over and before the first poll ends the start cleanly', async (t) => {
  const s = await setUp(t)
  s.emu.failNext('getUpdates', { hangMs: 10_000 })
  const controller = new AbortController()
  const starting = s.start({ signal: controller.signal })
  await s.emu.waitFor(() => s.emu.calls('getUpdates').length > 0)
  controller.abort()
  await t.rejects(starting, { code: 'EABORTED', message: 'stopped before the first poll' })
  t.ok(s.logs.lines.some((l) => l.includes('polling ended for the stop')), 'polling ended as a stop')
  await assertNothingHeld(t, s)
})

t.test('lifecycle: a fatal poll error while serving stops every service', async (t) => {
  const s = await setUp(t)
  const bot = await s.start()
  await bot.ready
  s.emu.failNext('getUpdates', { status: 401, description: 'Unauthorized' })
  await t.rejects(bot.done, { code: 'ETOKEN' })
  await assertNothingHeld(t, s)
})

t.test('lifecycle: a normal stop leaves nothing held', async (t) => {
  const s = await setUp(t)
  const bot = await s.start()
  await bot.ready
  await bot.stop()
  await bot.done
  await assertNothingHeld(t, s)
})

t.test('lifecycle: services stop newest first; a stop that fails is logged and the rest still stop', async (t) => {
  const logs = new LogSink()
  const life = new Lifecycle(createLogger('debug', logs))
  const stopped: string[] = []
  await life.start('lock', () => 'L', (v) => { stopped.push(`lock ${v}`) })
  await life.start('database', () => 'D', async () => { await new Promise((resolve) => setTimeout(resolve, 20)); stopped.push('database') })
  await life.start('health', () => 'H', () => { throw new Error('close failed') })
  await t.rejects(life.start('poller', () => { throw new Error('cannot poll') }, () => { stopped.push('poller') }), { message: 'cannot poll' })
  await life.start('reminders', () => undefined, () => { stopped.push('reminders') })
  t.same(life.names(), ['lock', 'database', 'health', 'reminders'], 'a start that threw left nothing to stop')
  await Promise.all([life.stop(), life.stop()])
  t.same(stopped, ['reminders', 'database', 'lock L'], 'newest first, each awaited, once, past the one that failed')
  const failed = logs.lines.map((l) => JSON.parse(l) as { msg: string, service?: string, level: number }).find((l) => l.level === 50)
  t.equal(failed?.msg, 'stopping health failed; stopping the rest anyway')
  t.equal(failed?.service, 'health')
  await t.rejects(life.start('late', () => 'x', () => {}), { code: 'EABORTED', message: 'not starting late: the bot is stopping' })
})

t.test('lifecycle: a stop asked for while a service starts waits for it, then stops it with the rest', async (t) => {
  const life = new Lifecycle(createLogger('silent'))
  const events: string[] = []
  await life.start('lock', () => undefined, () => { events.push('lock released') })
  const migrating = life.start('database', async () => {
    await new Promise((resolve) => setTimeout(resolve, 50))
    events.push('database opened')
  }, () => { events.push('database closed') })
  const stopping = life.stop()
  await t.rejects(migrating, { code: 'EABORTED' })
  await stopping
  t.same(events, ['database opened', 'database closed', 'lock released'], 'the lock is let go of only after the database that started under it is closed')
})
