// The emulator's webhook side, against a plain HTTP listener standing in for a bot: what
// setWebhook records, getUpdates refused while a webhook is set, delivery with the secret header,
// one request at a time per chat in order, at most max_connections at once, retries until a 2xx,
// and getWebhookInfo's pending count and last error.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { freePort } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

type Seen = { updateId: number, chat: number, secret: string | undefined }

/** A webhook target: answers `status(seen)` after `delayMs`, recording what came and how many at once. */
async function listener (status: (s: Seen, n: number) => number, delayMs = 0): Promise<{ url: string, seen: Seen[], maxAtOnce: () => number, maxPerChat: () => number, close: () => Promise<void> }> {
  const seen: Seen[] = []
  let now = 0
  let max = 0
  const perChat = new Map<number, number>()
  let maxChat = 0
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      const u = JSON.parse(body) as { update_id: number, message: { chat: { id: number } } }
      const s: Seen = { updateId: u.update_id, chat: u.message.chat.id, secret: req.headers['x-telegram-bot-api-secret-token'] as string | undefined }
      seen.push(s)
      now++
      max = Math.max(max, now)
      perChat.set(s.chat, (perChat.get(s.chat) ?? 0) + 1)
      maxChat = Math.max(maxChat, perChat.get(s.chat) ?? 0)
      setTimeout(() => {
        now--
        perChat.set(s.chat, (perChat.get(s.chat) ?? 1) - 1)
        res.writeHead(status(s, seen.filter((x) => x.updateId === s.updateId).length)).end()
      }, delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/hook`, seen, maxAtOnce: () => max, maxPerChat: () => maxChat, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }) }
}

async function api (emu: BotApiEmulator, method: string, params: Record<string, unknown> = {}): Promise<{ ok: boolean, result?: unknown, error_code?: number, description?: string }> {
  const res = await fetch(`${emu.apiRoot}/bot${emu.token}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) })
  return await res.json() as { ok: boolean, result?: unknown }
}

t.test('webhook emulator: setWebhook is recorded; getUpdates is refused while it is set; deleteWebhook keeps what is pending', async (t) => {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  t.same(await api(emu, 'setWebhook', { url: 'http://bot.example.org/hook' }), { ok: false, error_code: 400, description: 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook' })
  t.same(await api(emu, 'setWebhook', { url: 'https://bot.example.org/hook', secret_token: 'no spaces allowed' }), { ok: false, error_code: 400, description: 'Bad Request: secret token contains unallowed characters' })
  const closed = `http://127.0.0.1:${await freePort()}/hook`
  t.same(await api(emu, 'setWebhook', { url: closed, secret_token: 'abc_DEF-123', max_connections: 3, allowed_updates: ['message'] }), { ok: true, result: true })
  t.same(emu.webhookSettings(), { url: closed, secretToken: 'abc_DEF-123', maxConnections: 3, allowedUpdates: ['message'] })
  t.same(await api(emu, 'getUpdates'), { ok: false, error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" })
  emu.sendText(1, 1, 'one')
  // An attempt is recorded when it starts; the refusal comes a moment later.
  await waitUntil(() => emu.webhookAttempts().some((a) => a.error !== undefined), { what: 'a refused delivery attempt' })
  const info = await api(emu, 'getWebhookInfo')
  t.match(info.result, { url: closed, pending_update_count: 1, max_connections: 3, last_error_message: 'Connection refused' })
  t.same(await api(emu, 'deleteWebhook'), { ok: true, result: true })
  t.match(await api(emu, 'getWebhookInfo'), { result: { url: '', pending_update_count: 1 } })
  t.notOk('last_error_message' in ((await api(emu, 'getWebhookInfo')).result as object))
  const polled = await api(emu, 'getUpdates')
  t.match(polled, { ok: true, result: [{ message: { text: 'one' } }] }, 'the pending update comes by getUpdates')
})

t.test('webhook emulator: one chat in order, chats side by side, never more than max_connections, retried until 2xx', async (t) => {
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 20, maxMs: 100 } })
  t.teardown(() => emu.stop())
  // Every update's first delivery fails (500); the second is answered 200.
  const target = await listener((_s, n) => n === 1 ? 500 : 200, 30)
  t.teardown(() => target.close())
  t.same(await api(emu, 'setWebhook', { url: target.url, secret_token: 'the_secret', max_connections: 3 }), { ok: true, result: true })
  const sent: Array<{ id: number, chat: number }> = []
  for (let i = 0; i < 5; i++) {
    for (const chat of [11, 12, 13, 14, 15]) sent.push({ id: emu.sendText(chat, chat, `m${i}`).update_id, chat })
  }
  await waitUntil(() => emu.pendingUpdates().length === 0, { what: 'everything delivered' })
  t.ok(target.seen.every((s) => s.secret === 'the_secret'), 'every POST carries the secret')
  t.equal(target.maxPerChat(), 1, 'one request per chat at a time')
  t.ok(target.maxAtOnce() <= 3 && target.maxAtOnce() > 1, `at most max_connections at once, chats side by side (${target.maxAtOnce()})`)
  for (const chat of [11, 12, 13, 14, 15]) {
    const order = target.seen.filter((s) => s.chat === chat).map((s) => s.updateId)
    const ids = sent.filter((s) => s.chat === chat).map((s) => s.id)
    t.same(order, ids.flatMap((id) => [id, id]), `chat ${chat}: each update tried, failed, retried, then the next`)
  }
  const info = await api(emu, 'getWebhookInfo')
  t.match(info.result, { pending_update_count: 0, last_error_message: 'Wrong response from the webhook: 500 Internal Server Error' })
})

t.test('webhook emulator: a POST not answered within the timeout fails as "Read timeout expired" and is tried again', async (t) => {
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 20, maxMs: 100, timeoutMs: 150 } })
  t.teardown(() => emu.stop())
  // The first request is answered only after 1 s, long past the timeout; the retry at once.
  let requests = 0
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => { if (++requests === 1) setTimeout(() => res.writeHead(200).end(), 1000).unref(); else res.writeHead(200).end() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  t.same(await api(emu, 'setWebhook', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` }), { ok: true, result: true })
  const { update_id: id } = emu.sendText(21, 21, 'slow')
  await waitUntil(() => emu.pendingUpdates().length === 0, { what: 'the update delivered on its retry' })
  t.match(emu.webhookAttempts(), [{ updateId: id, error: 'Read timeout expired' }, { updateId: id, status: 200 }])
  t.match((await api(emu, 'getWebhookInfo')).result, { pending_update_count: 0, last_error_message: 'Read timeout expired' })
})
