// Each update takes effect exactly once: the bot process is killed with SIGKILL at random moments
// during a stream of commands and restarted; afterwards every task exists once and every command
// got its answer. On SQLite and on PostgreSQL.
import t from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, OWNER, FRIEND, spawnBot, tempDir, waitForLog } from './support/bot-harness.js'
import { forEachEngine } from './support/engines.js'

forEachEngine(t, 'exactly once: kill -9 mid-stream neither drops nor repeats a command', async (t, e) => {
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  const env = botEnv(emu, dir, e.env)
  t.teardown(() => emu.stop())
  const chats = [OWNER, FRIEND]
  const sent = new Map<number, string[]>(chats.map((c) => [c, []]))
  const total = 120
  let bot = spawnBot(env)
  await waitForLog(bot, /"msg":"ready"/)
  let kills = 0
  for (let i = 0; i < total; i++) {
    const chat = chats[i % chats.length] ?? OWNER
    const text = `task ${i}`
    sent.get(chat)?.push(text)
    emu.sendText(chat, chat, text)
    if (i % 20 === 10) {
      await new Promise((r) => setTimeout(r, Math.random() * 40))
      bot.kill('SIGKILL')
      await exited(bot)
      kills++
      bot = spawnBot(env)
      await waitForLog(bot, /"msg":"ready"/)
    } else if (i % 3 === 0) {
      await new Promise((r) => setTimeout(r, 2))
    }
  }
  await emu.waitFor(() => emu.pendingUpdates().length === 0 && emu.confirmedOffset > 0, 20_000)
  // every command is answered (a reply may come twice after a kill; the effect never does)
  for (const chat of chats) {
    await emu.waitFor(() => (sent.get(chat) ?? []).every((text) => emu.messages(chat).some((m) => m.rendered.endsWith(` ${text}`))), 10_000)
  }
  bot.kill('SIGINT')
  t.equal((await exited(bot)).code, 0, 'graceful exit after SIGINT')
  t.equal(kills, 6)

  const db = e.open(env.DATABASE_FILE)
  t.teardown(() => db.destroy())
  for (const chat of chats) {
    const rows = await db('tasks').where({ chat_id: chat }).orderBy('number').select('number', 'text') as Array<{ number: number, text: string }>
    t.same(rows.map((r) => r.text), sent.get(chat), `chat ${chat}: every task once, in order`)
    t.same(rows.map((r) => r.number), rows.map((_, i) => i + 1), `chat ${chat}: numbers 1..n without gaps`)
  }
})
