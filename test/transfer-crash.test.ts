// An import is one update: applied once, even across kill -9, or not at all. A real bot process
// is killed with SIGKILL while it downloads the file, after it committed the import but before
// the reply went out, and at moments in between; after a restart every chat holds the file's
// 10,000 tasks exactly once.
import fs from 'node:fs'
import t, { type Test } from 'tap'
import { openDatabase } from '../bot/db.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, OWNER, spawnBot, tempDir, waitForLog } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

const TASKS = 10_000
const FILE = Array.from({ length: TASKS }, (_, i) => `2026-11-20 task ${i + 1} due:2026-12-01`).join('\n') + '\n'
const IMPORTED = /^📥 Imported 10,000 tasks from todo\.txt \(10,000 open, 0 done\):/

type Bot = ReturnType<typeof spawnBot>

async function setUp (t: Test): Promise<{ emu: BotApiEmulator, env: Record<string, string>, start: () => Promise<Bot>, rows: (chat: number) => Promise<Array<{ number: number, text: string }>> }> {
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  const env = botEnv(emu, dir, { LOG_LEVEL: 'info' })
  let bot: Bot | undefined
  t.teardown(async () => {
    if (bot !== undefined && bot.exitCode === null && bot.signalCode === null) {
      bot.kill('SIGINT')
      await exited(bot)
    }
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const start = async (): Promise<Bot> => {
    bot = spawnBot(env)
    await waitForLog(bot, /"msg":"ready"/)
    return bot
  }
  const rows = async (chat: number): Promise<Array<{ number: number, text: string }>> => {
    if (!fs.existsSync(env.DATABASE_FILE ?? '')) return []
    const db = openDatabase(env.DATABASE_FILE ?? '', { readonly: true })
    try {
      return await db('tasks').where({ chat_id: chat }).orderBy('number').select('number', 'text')
    } finally {
      await db.destroy()
    }
  }
  return { emu, env, start, rows }
}

async function kill (t: Test, bot: Bot): Promise<void> {
  bot.kill('SIGKILL')
  t.equal((await exited(bot)).signal, 'SIGKILL')
}

function once (t: Test, rows: Array<{ number: number, text: string }>, label: string): void {
  t.equal(rows.length, TASKS, `${label}: ${TASKS.toLocaleString('en-US')} tasks, not ${rows.length}`)
  t.ok(rows.every((r, i) => r.number === i + 1 && r.text === `task ${i + 1}`), `${label}: each task once, numbered 1..${TASKS}`)
}

t.test('import crash: kill -9 while the file downloads, then the import happens once after restart', async (t) => {
  const { emu, start, rows } = await setUp(t)
  const chat = -8001
  const first = await start()
  emu.setMethodDelay('file', 10_000)
  emu.sendDocument(OWNER, chat, { name: 'todo.txt', data: FILE, caption: '/import' })
  await emu.waitFor(() => emu.calls('file').length === 1, 15_000)
  await kill(t, first)
  t.same(await rows(chat), [], 'nothing stored while the file was being read')
  emu.setMethodDelay('file', 0)
  await start()
  // The redelivered import may be answered before start() has returned: look at the chat, not for a new message.
  const reply = await emu.waitFor(() => emu.messages(chat).find((m) => IMPORTED.test(m.rendered)), 30_000)
  t.match(reply.rendered, IMPORTED)
  once(t, await rows(chat), 'after the restart')
  t.equal(emu.calls('file').length, 2, 'the file was fetched again for the redelivered update')
})

t.test('import crash: kill -9 after the commit, before the reply and before Telegram heard the update was done: not imported twice, the reply still arrives', async (t) => {
  const { emu, start, rows } = await setUp(t)
  const chat = -8002
  const first = await start()
  // The reply hangs, so the bot never asks for the next updates: Telegram will send this one again.
  emu.setMethodDelay('sendMessage', 60_000)
  const update = emu.sendDocument(OWNER, chat, { name: 'todo.txt', data: FILE, caption: '/import' })
  await waitUntil(async () => (await rows(chat)).length === TASKS, { what: 'the import to commit', timeoutMs: 30_000, everyMs: 50 })
  await emu.waitFor(() => emu.calls('sendMessage').length > 0, 10_000)
  await kill(t, first)
  emu.setMethodDelay('sendMessage', 0)
  t.same(emu.messages(chat).filter((m) => IMPORTED.test(m.rendered)), [], 'no reply yet')
  t.equal(emu.pendingUpdates().length, 1, 'Telegram still holds the import, to send it again')
  await start()
  // The outbox is delivered on start, so the reply may be there before ready is logged; the
  // redelivered update is done with once the bot asks for the ones after it.
  await emu.waitFor(() => emu.messages(chat).some((m) => IMPORTED.test(m.rendered)), 30_000)
  await emu.waitFor(() => emu.confirmedOffset > update.update_id, 30_000)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(emu.messages(chat).filter((m) => IMPORTED.test(m.rendered)).length, 1, 'one reply')
  once(t, await rows(chat), 'after the restart')
})

t.test('import crash: kill -9 at moments during the import: each chat holds the file once', async (t) => {
  const { emu, start, rows } = await setUp(t)
  let bot = await start()
  // How long one import takes in this process, from the document sent to the reply: the kills
  // below land across that span (before the download, in it, in the transaction, after it).
  const started = Date.now()
  emu.sendDocument(OWNER, -8099, { name: 'todo.txt', data: FILE, caption: '/import' })
  await emu.waitFor(() => emu.messages(-8099).some((m) => IMPORTED.test(m.rendered)), 30_000)
  const span = Date.now() - started
  const delays = [0.05, 0.2, 0.4, 0.6, 0.75, 0.9, 1.2].map((f) => Math.round(f * span))
  const outcomes: string[] = []
  for (const [i, delay] of delays.entries()) {
    const chat = -8100 - i
    emu.sendDocument(OWNER, chat, { name: 'todo.txt', data: FILE, caption: '/import' })
    await new Promise((resolve) => setTimeout(resolve, delay))
    await kill(t, bot)
    const stored = (await rows(chat)).length
    t.ok(stored === 0 || stored === TASKS, `killed after ${delay} ms: ${stored === 0 ? 'not applied yet' : 'applied'}, never half`)
    outcomes.push(`${delay} ms: ${stored === 0 ? 'not yet' : 'applied'}`)
    bot = await start()
    await emu.waitFor(() => emu.messages(chat).some((m) => IMPORTED.test(m.rendered)), 30_000)
    once(t, await rows(chat), `killed after ${delay} ms`)
  }
  await new Promise((resolve) => setTimeout(resolve, 300))
  for (const [i] of delays.entries()) once(t, await rows(-8100 - i), `chat ${-8100 - i} at the end`)
  t.comment(`one import took ${span} ms; kills at ${outcomes.join(', ')}`)
})
