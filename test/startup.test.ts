// Start-up against an unfriendly Bot API: 409 from an old poller, a failing setMyCommands, a
// token Telegram rejects, and replies that could not be delivered before a restart.
import fs from 'node:fs'
import t from 'tap'
import { startBot } from '../bot/app.js'
import { loadConfig } from '../bot/config.js'
import { createLogger } from '../bot/logger.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, LogSink, OWNER, tempDir } from './support/bot-harness.js'

async function setup (t: { teardown: (fn: () => unknown) => void }): Promise<{ emu: BotApiEmulator, env: Record<string, string>, logs: LogSink, start: () => ReturnType<typeof startBot> }> {
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  const env = botEnv(emu, dir)
  const logs = new LogSink()
  t.teardown(async () => { await emu.stop(); fs.rmSync(dir, { recursive: true, force: true }) })
  return { emu, env, logs, start: () => startBot(loadConfig(env), { logger: createLogger('debug', logs) }) }
}

t.test('startup: 409 from an old poller is retried, then the bot serves', async (t) => {
  const { emu, logs, start } = await setup(t)
  emu.failNext('getUpdates', { status: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' }, 2)
  const bot = await start()
  t.teardown(() => bot.stop())
  await bot.ready
  t.ok(logs.lines.some((l) => l.includes('getUpdates conflict')), 'the conflict is logged as a warning')
  const waiting = emu.waitForMessage(OWNER)
  emu.sendText(OWNER, OWNER, 'after conflict')
  t.equal((await waiting).rendered, 'Added:\n#1 after conflict')
})

t.test('startup: a failing setMyCommands is a warning, not a failure', async (t) => {
  const { emu, logs, start } = await setup(t)
  emu.failNext('setMyCommands', { status: 400, description: 'Bad Request: BOT_COMMAND_INVALID' })
  const bot = await start()
  t.teardown(() => bot.stop())
  await bot.ready
  t.ok(logs.lines.some((l) => l.includes('setMyCommands failed')))
})

t.test('startup: a token Telegram rejects stops start-up with the fix, never the token', async (t) => {
  const { emu, env, logs } = await setup(t)
  const bad = { ...env, TELEGRAM_BOT_TOKEN: '999999:WRONG-token-abcdefghijklmnopqrstuv' }
  await t.rejects(startBot(loadConfig(bad), { logger: createLogger('debug', logs) }), { code: 'ETOKEN', message: /check TELEGRAM_BOT_TOKEN in \.env/ })
  t.notOk(logs.lines.some((l) => l.includes(emu.token) || l.includes('WRONG-token')))
})

t.test('startup: replies that were not delivered before a stop are sent after restart', async (t) => {
  const { emu, start } = await setup(t)
  let bot = await start()
  await bot.ready
  emu.failFor('sendMessage', { status: 502 }, 2500)
  emu.sendText(OWNER, OWNER, 'during outage')
  await emu.waitFor(() => emu.calls('sendMessage').filter((c) => c.status === 502).length >= 3)
  await bot.stop()
  emu.clearFaults()
  bot = await start()
  t.teardown(() => bot.stop())
  const reply = await emu.waitFor(() => emu.messages(OWNER).find((m) => m.rendered.includes('during outage')))
  t.equal(reply.rendered, 'Added:\n#1 during outage')
  t.equal(emu.messages(OWNER).length, 1, 'answered once, applied once')
})
