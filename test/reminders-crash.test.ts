// At most once across kill -9: the bot process is killed right after Telegram accepted a
// reminder but before the bot heard back. After a restart the reminder is not sent again, and
// the database says its outcome was unknown. Real bot processes, real SQLite and PostgreSQL, the emulator.
import fs from 'node:fs'
import t, { type Test } from 'tap'
import { startBot } from '../bot/app.js'
import { AdjustableClock } from '../bot/clock.js'
import { loadConfig } from '../bot/config.js'
import { createLogger } from '../bot/logger.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, freePort, LogSink, OWNER, spawnBot, tempDir, waitForLog } from './support/bot-harness.js'
import { reminderLoopLooked } from './support/wait.js'
import { forEachEngine, type EngineCase } from './support/engines.js'

/** Waits until the bot's reminder loop has looked at the database at least once. */
async function reminderLoopRan (port: number): Promise<void> {
  await reminderLoopLooked(async () => await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as { reminders: { lastTickAt: string | null } | null })
}

/** An emulator, a data folder, and a task added `hoursAgo` (by a set clock, in-process) whose
 * reminder is now overdue; no bot running. */
async function overdueReminder (t: Test, e: EngineCase, text: string, hoursAgo: number): Promise<{ emu: BotApiEmulator, env: Record<string, string>, port: number }> {
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  t.teardown(async () => {
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const port = await freePort()
  const env = botEnv(emu, dir, { HEALTH_PORT: String(port), DEFAULT_TIMEZONE: 'UTC', ...e.env })
  const earlier = await startBot(loadConfig(env), { logger: createLogger('warn', new LogSink()), clock: new AdjustableClock(Date.now() - hoursAgo * 3600_000, 0) })
  await earlier.ready
  const added = emu.waitForMessage(OWNER)
  emu.sendText(OWNER, OWNER, text)
  t.match((await added).rendered, /^Added:\n#1 .* — due /)
  await earlier.stop()
  return { emu, env, port }
}

forEachEngine(t, 'reminders: kill -9 right after a reminder was sent: not sent twice', async (t, e) => {
  // Two hours ago the user asked to be reminded in an hour: due an hour ago.
  const { emu, env, port } = await overdueReminder(t, e, 'pay rent in 1 hour', 2)

  const reminders = (): number => emu.messages(OWNER).filter((m) => m.rendered.startsWith('⏰')).length
  emu.holdAnswers('sendMessage', 10_000)
  const first = spawnBot(env)
  await emu.waitFor(() => reminders() === 1, 15_000)
  first.kill('SIGKILL')
  await exited(first)
  emu.holdAnswers('sendMessage', 0)

  const second = spawnBot(env)
  t.teardown(async () => {
    second.kill('SIGINT')
    await exited(second)
  })
  await waitForLog(second, /"msg":"ready"/)
  await waitForLog(second, /not sent again \(at most once\)/)
  await reminderLoopRan(port)
  t.equal(reminders(), 1, 'the reminder went out once')
  const db = e.open(env.DATABASE_FILE)
  t.teardown(() => db.destroy())
  t.same(await db('reminders').select('status'), [{ status: 'unknown' }], 'recorded as sent-or-not, never retried')
  t.same(await db('tasks').select('remind_at'), [{ remind_at: null }])
})

forEachEngine(t, 'reminders: a reminder due while the process was down is sent once after start, marked late', async (t, e) => {
  const { emu, env, port } = await overdueReminder(t, e, 'call the bank in 2 hours', 3)

  const bot = spawnBot(env)
  const reminder = await emu.waitFor(() => emu.messages(OWNER).find((m) => m.rendered.startsWith('⏰')), 15_000)
  // Due an hour ago by the real clock: yesterday's date is shown when that hour was before midnight.
  t.match(reminder.rendered, /^⏰ #1 call the bank\nwas due (?:[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} )?\d\d:\d\d \(reminder delayed: I was offline at \d\d:\d\d\)$/)
  bot.kill('SIGINT')
  t.match(await exited(bot), { code: 0 })
  const again = spawnBot(env)
  await waitForLog(again, /"msg":"ready"/)
  await reminderLoopRan(port)
  again.kill('SIGINT')
  await exited(again)
  t.equal(emu.messages(OWNER).filter((m) => m.rendered.startsWith('⏰')).length, 1)
})
