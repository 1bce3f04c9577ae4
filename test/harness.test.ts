// The test harness itself: a bot a test spawned does not outlive the test process, even when that
// process is killed (tap's timeout, a mutation run) before it can stop the bot.
import { spawn } from 'node:child_process'
import path from 'node:path'
import t from 'tap'
import { PROJECT_ROOT } from '../bot/config.js'
import { isAlive } from '../ops/lib/backups.mjs'
import { waitUntil } from './support/wait.js'

t.test('harness: a bot spawned by a test that is killed with SIGKILL stops within seconds', async (t) => {
  const testFile = spawn(process.execPath, ['--import', 'tsx', path.join('test', 'fixtures', 'spawns-a-bot.ts')], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  testFile.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const pid = Number((await waitUntil(() => /^bot (\d+)$/m.exec(out), { what: "the stand-in test to print its bot's pid", timeoutMs: 30_000 }))[1])
  t.teardown(() => { if (isAlive(pid)) process.kill(pid, 'SIGKILL') })
  t.equal(isAlive(pid), true, 'the bot runs while its test does')
  testFile.kill('SIGKILL')
  await waitUntil(() => !isAlive(pid), { what: 'the orphaned bot to stop', timeoutMs: 15_000 })
  t.pass('the bot stopped after its test process was killed')
})
