// The webhook server's per-chat line: one chat's jobs one at a time in the order queued, other
// chats alongside, and a failing job does not stop the ones behind it.
import t from 'tap'
import { KeyedQueue } from '../bot/webhook/chat-queue.js'

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('webhook queue: one key in order, one at a time; other keys in parallel', async (t) => {
  const q = new KeyedQueue()
  const log: string[] = []
  let running = 0
  let most = 0
  const job = (name: string, ms: number) => async (): Promise<string> => {
    running++
    most = Math.max(most, running)
    log.push(`start ${name}`)
    await pause(ms)
    log.push(`end ${name}`)
    running--
    return name
  }
  const results = await Promise.all([q.run('a', job('a1', 30)), q.run('a', job('a2', 1)), q.run('b', job('b1', 5)), q.run('a', job('a3', 1))])
  t.same(results, ['a1', 'a2', 'b1', 'a3'])
  const a = log.filter((l) => l.includes(' a'))
  t.same(a, ['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3'], 'key a: in order, never overlapping')
  t.ok(log.indexOf('end b1') < log.indexOf('end a1'), 'key b did not wait for key a')
  t.equal(most, 2, 'two keys ran at once')
  t.equal(q.size, 0, 'empty lines are forgotten')
})

t.test('webhook queue: a failed job rejects its caller only; the next one runs', async (t) => {
  const q = new KeyedQueue()
  const first = q.run('a', async () => { throw new Error('boom') })
  const second = q.run('a', async () => 'fine')
  await t.rejects(first, { message: 'boom' })
  t.equal(await second, 'fine')
})
