// Whether a process is still there, as ops asks it of a lock holder or of the process serving.json
// names: an exited process its parent has not reaped yet (a zombie) is gone.
import { spawn } from 'node:child_process'
import t from 'tap'
import { isAlive } from '../ops/lib/backups.mjs'

t.test('alive: a running process is alive, an exited one and a zombie are not', async (t) => {
  t.ok(isAlive(process.pid))
  // `sleep 0` exits at once; its parent is then `sleep 5` (exec'd), which never reaps it.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => parent.kill('SIGKILL'))
  const zombie = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(Number.isInteger(zombie) && zombie > 0, `the zombie's pid ${zombie}`)
  t.notOk(isAlive(zombie), 'a zombie is not alive')
  t.ok(isAlive(parent.pid ?? 0), 'its parent is')
  parent.kill('SIGKILL')
  await new Promise((resolve) => parent.once('exit', resolve))
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.notOk(isAlive(parent.pid ?? 0), 'an exited, reaped process is not alive')
})
