// A bot whose output nobody reads any more (PM2's daemon was killed; the bot lives on, orphaned):
// it keeps answering, and a plain `kill` still stops it, as the README tells the operator.
import { spawn } from 'node:child_process'
import path from 'node:path'
import t from 'tap'
import { PROJECT_ROOT } from '../bot/config.js'
import { isAlive } from '../ops/lib/backups.mjs'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, OWNER, tempDir } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

t.test('lifecycle: a bot whose output reader is killed keeps answering, and stops on SIGTERM', async (t) => {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  const env = botEnv(emu, tempDir(), { LOG_LEVEL: 'info' })
  const daemon = spawn(process.execPath, ['--import', 'tsx', path.join('test', 'fixtures', 'pipes-a-bot.ts')], { cwd: PROJECT_ROOT, env: { ...process.env, BOT_ENV: JSON.stringify(env) }, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  daemon.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const pid = Number((await waitUntil(() => /^bot (\d+)$/m.exec(out), { what: 'the stand-in daemon to print its bot\'s pid', timeoutMs: 30_000 }))[1])
  t.teardown(() => { if (isAlive(pid)) process.kill(pid, 'SIGKILL') })
  daemon.kill('SIGKILL')
  await waitUntil(() => daemon.exitCode !== null || daemon.signalCode !== null, { what: 'the daemon to die' })
  const answer = emu.waitForMessage(OWNER)
  emu.sendText(OWNER, OWNER, 'water the plants')
  t.match((await answer).rendered, /water the plants/, 'still answering with nobody reading its log')
  process.kill(pid, 'SIGTERM')
  await waitUntil(() => !isAlive(pid), { what: 'the orphaned bot to stop on SIGTERM', timeoutMs: 10_000 })
  t.pass('stopped')
})
