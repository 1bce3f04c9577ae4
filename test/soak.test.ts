// Soak: a seeded stream of commands and button presses from three chats while the bot is killed
// with SIGKILL (and, second, restarted and reloaded by a real PM2) at random moments. Afterwards
// every command was answered and the database equals the model: each command took effect once.
// `npm test` runs a small stream; `npm run soak` (SOAK=full) the 2 000 commands and 20
// disruptions each. SOAK_SEED=<n> replays a run.
import fs from 'node:fs'
import t, { type Test } from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, freePort, FRIEND, OWNER, spawnBot, tempDir, waitForLog } from './support/bot-harness.js'
import { createCodeSandbox } from './support/code-sandbox.js'
import { Pm2Sandbox } from './support/pm2-sandbox.js'
import { readDatabase, streamCommands, waitUntilAnswered, type SoakChat, type SoakRun } from './support/soak-driver.js'

const FULL = process.env.SOAK === 'full'
const SIZE = FULL ? { commands: 2000, disruptions: 20 } : { commands: 300, disruptions: 5 }
const CHATS: SoakChat[] = [{ id: OWNER, users: [OWNER] }, { id: FRIEND, users: [FRIEND] }, { id: -1009001, users: [OWNER, FRIEND] }]
const seed = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31))

async function verify (t: Test, emu: BotApiEmulator, run: SoakRun, dbFile: string, stop: () => Promise<void>): Promise<void> {
  const missing = await waitUntilAnswered(emu, run, FULL ? 120_000 : 40_000)
  t.same(missing.slice(0, 5), [], 'every command answered, every button press answered')
  await stop()
  const db = await readDatabase(dbFile)
  for (const chat of CHATS) {
    const model = run.models.get(chat.id)?.tasks ?? []
    t.same(db.tasks.get(chat.id) ?? [], model, `chat ${chat.id}: tasks equal the model (${model.length} tasks)`)
    t.same((db.tasks.get(chat.id) ?? []).map((task) => task.number), model.map((_, i) => i + 1), `chat ${chat.id}: numbers 1..n without gaps`)
    t.equal(db.nextNumbers.get(chat.id) ?? 1, model.length + 1, `chat ${chat.id}: next number follows the last`)
  }
  t.equal(db.lastUpdateId, run.lastUpdateId, 'the ledger ends at the last update sent')
  t.equal(db.outbox, 0, 'no reply left in the outbox')
  t.comment(`seed ${seed}: ${JSON.stringify(run.counts)}`)
}

t.test(`soak: kill -9 at ${SIZE.disruptions} random moments during ${SIZE.commands} commands (seed ${seed})`, async (t) => {
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  const env = botEnv(emu, dir, { LOG_LEVEL: 'info' })
  t.teardown(async () => {
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  let bot = spawnBot(env)
  t.teardown(() => { bot.kill('SIGKILL') })
  await waitForLog(bot, /"msg":"ready"/)
  const started = Date.now()
  const run = await streamCommands({
    emu,
    chats: CHATS,
    seed,
    ...SIZE,
    disrupt: async (_k, random) => {
      await waitForLog(bot, /"msg":"ready"/)
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 60)))
      bot.kill('SIGKILL')
      await exited(bot)
      bot = spawnBot(env)
    },
  })
  await verify(t, emu, run, env.DATABASE_FILE ?? '', async () => {
    await waitForLog(bot, /"msg":"ready"/)
    bot.kill('SIGINT')
    t.equal((await exited(bot)).code, 0, 'graceful exit at the end')
  })
  t.comment(`kill -9 soak: ${Date.now() - started} ms`)
})

t.test(`soak: PM2 restart and reload at ${SIZE.disruptions} random moments during ${SIZE.commands} commands (seed ${seed})`, async (t) => {
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  const env = botEnv(emu, dir, { LOG_LEVEL: 'info', HEALTH_PORT: String(await freePort()) })
  const pm2 = new Pm2Sandbox(createCodeSandbox(), env)
  t.teardown(async () => {
    await pm2.kill()
    await emu.stop()
    for (const d of [dir, pm2.cwd]) fs.rmSync(d, { recursive: true, force: true })
  })
  await pm2.pm2('start', 'ecosystem.config.js')
  const started = Date.now()
  const pids = new Set<number>()
  const run = await streamCommands({
    emu,
    chats: CHATS,
    seed: seed + 1,
    ...SIZE,
    disrupt: async (k, random) => {
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 60)))
      pids.add((await pm2.app())?.pid ?? 0)
      await pm2.pm2(k % 2 === 0 ? 'restart' : 'reload', 'ecosystem.config.js')
    },
  })
  await verify(t, emu, run, env.DATABASE_FILE ?? '', async () => {
    const app = await pm2.app()
    t.equal(app?.status, 'online')
    t.equal(app?.restarts, SIZE.disruptions, 'one PM2 restart per disruption, no crash restarts')
    t.notOk(pids.has(app?.pid ?? 0), 'a new process after each restart')
    await pm2.pm2('stop', 'ecosystem.config.js')
  })
  t.comment(`PM2 soak: ${Date.now() - started} ms`)
})
