// Preloaded into a bot that a test spawns (spawnBot): the bot stops when the test process is gone,
// even when that process was killed (tap's timeout, a mutation run) before it could stop the bot.
// Its stdin is a pipe from the test; the test's death closes it. Test-only: production bots are
// PM2's, and never get this file.
import { spawn } from 'node:child_process'

const GRACE_S = 5

process.stdin.on('end', () => {
  // The bot's own SIGTERM handling: finish the update in hand, release the lock, close the database.
  process.kill(process.pid, 'SIGTERM')
  // A bot that has not stopped in GRACE_S is killed, by another process: a bot stuck on its own
  // thread (an older bot's log flush to the dead stdout spun forever) would never run a timer.
  spawn('sh', ['-c', `sleep ${GRACE_S}; kill -9 ${process.pid} 2>/dev/null`], { detached: true, stdio: 'ignore' }).unref()
})
process.stdin.resume()
// Listening must not keep a bot alive that has stopped by itself.
process.stdin.unref()
