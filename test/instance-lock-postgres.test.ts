// One bot per database on PostgreSQL: a session advisory lock. A second bot on the same database
// is refused naming the holder (even from another data folder, as another machine would be); the
// lock goes with the holder's session, also on kill -9, and a standby takes it over at once.
import t from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, OWNER, spawnBot, tempDir, waitForLog } from './support/bot-harness.js'
import { forEachEngine } from './support/engines.js'

forEachEngine(t, 'instance lock on PostgreSQL: a second bot is refused, kill -9 frees the lock, a standby takes over', async (t, e) => {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  const shownUrl = (e.env.DATABASE_URL ?? '').replace(/:[^:@/]*@/, ':xxxxx@')
  // Separate data folders: nothing local is shared, only the database (as for two machines).
  const first = spawnBot(botEnv(emu, tempDir(), e.env))
  await waitForLog(first, /"msg":"ready"/)

  const second = spawnBot(botEnv(emu, tempDir(), e.env))
  t.equal((await exited(second)).code, 1)
  t.match(second.output(), `mister_todo: cannot start: another Mister_Todo bot (process ${first.pid ?? 0} on this machine) is already running on ${shownUrl}: stop it first (npm stop), or use another DATABASE_URL\n`)

  // A standby waits for the lock; kill -9 of the holder ends its session, and the lock with it.
  const standby = spawnBot(botEnv(emu, tempDir(), { ...e.env, HANDOVER_WAIT_S: '30' }))
  t.teardown(async () => { standby.kill('SIGINT'); await exited(standby) })
  await waitForLog(standby, /standby: loaded, waiting for the running bot to hand over/)
  t.match(standby.output(), `"holder":${first.pid ?? 0}`, 'the standby names the holder')
  first.kill('SIGKILL')
  await exited(first)
  await waitForLog(standby, /"msg":"ready"/)
  const reply = emu.waitForMessage(OWNER)
  emu.sendText(OWNER, OWNER, 'after the take-over')
  t.equal((await reply).rendered, 'Added:\n#1 after the take-over')
}, ['postgres'])
