// The bot's fetch for Bot API calls (bot/http-fetch.ts) against a real HTTP server on 127.0.0.1:
// what node-telegram-bot-api reads of it (status, text), one kept-alive connection for many calls,
// aborts and timeouts named as the built-in fetch names them, a dropped answer as a network failure,
// and uploads still sent whole.
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t from 'tap'
import { Bot, InputFile } from 'node-telegram-bot-api'
import { httpFetch } from '../bot/http-fetch.js'

type Seen = { method: string, url: string, type: string, body: string, socket: Socket }

async function server (answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<{ url: string, seen: Seen[], close: () => Promise<void> }> {
  const seen: Seen[] = []
  const s = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString('latin1') })
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', type: req.headers['content-type'] ?? '', body, socket: req.socket })
      answer(req, res, body)
    })
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      s.closeAllConnections()
      await new Promise((resolve) => s.close(resolve))
    },
  }
}

const ok = (result: unknown) => (_req: http.IncomingMessage, res: http.ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result }))
}

t.test('the library\'s calls: the form is sent, the answer read, one connection kept for the next calls', async (t) => {
  const api = await server(ok({ message_id: 7 }))
  t.teardown(api.close)
  const bot = new Bot('123:abc', { apiRoot: api.url, fetch: httpFetch })
  for (let i = 0; i < 3; i++) t.match(await bot.api.sendMessage({ chat_id: 5, text: `hé ${i} & co` }), { message_id: 7 })
  t.same(api.seen.map((s) => [s.method, s.url, s.type]), Array(3).fill(['POST', '/bot123:abc/sendMessage', 'application/x-www-form-urlencoded']))
  t.equal(new URLSearchParams(Buffer.from(api.seen[2]?.body ?? '', 'latin1').toString('utf8')).get('text'), 'hé 2 & co', 'the text arrives whole, in UTF-8')
  t.equal(new Set(api.seen.map((s) => s.socket)).size, 1, 'one connection, kept alive')
})

t.test('a Bot API error answer is read like any other: the library raises its description', async (t) => {
  const api = await server((_req, res) => { res.writeHead(400).end(JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request: chat not found' })) })
  t.teardown(api.close)
  const bot = new Bot('123:abc', { apiRoot: api.url, fetch: httpFetch })
  await t.rejects(bot.api.sendMessage({ chat_id: 5, text: 'x' }), { name: 'TelegramApiError', message: '400: Bad Request: chat not found' })
})

t.test('an abort and a timeout end the request with the signal\'s reason, as the built-in fetch does', async (t) => {
  const api = await server(() => { /* never answers */ })
  t.teardown(api.close)
  const stop = new AbortController()
  const polling = httpFetch(`${api.url}/bot1:a/getUpdates`, { method: 'POST', body: new URLSearchParams({ timeout: '30' }), headers: {}, signal: stop.signal })
  setTimeout(() => stop.abort(), 50)
  await t.rejects(polling, { name: 'AbortError' })
  await t.rejects(httpFetch(`${api.url}/bot1:a/getMe`, { method: 'POST', headers: {}, signal: AbortSignal.timeout(50) }), { name: 'TimeoutError' })
  const aborted = new AbortController()
  aborted.abort()
  await t.rejects(httpFetch(`${api.url}/bot1:a/getMe`, { method: 'POST', headers: {}, signal: aborted.signal }), { name: 'AbortError' }, 'aborted before it starts')
})

t.test('a connection dropped before the answer ends is a network failure (the library retries it)', async (t) => {
  let calls = 0
  const api = await server((req, res) => {
    calls += 1
    if (calls === 1) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"ok":tr')
      setTimeout(() => req.socket.destroy(), 20)
      return
    }
    ok(true)(req, res)
  })
  t.teardown(api.close)
  await t.rejects(httpFetch(`${api.url}/bot1:a/getMe`, { method: 'POST', headers: {} }), { name: 'TypeError', message: 'fetch failed' })
  const bot = new Bot('123:abc', { apiRoot: api.url, fetch: httpFetch, retryBackoffMs: 1 })
  t.equal(await bot.api.deleteMessage({ chat_id: 1, message_id: 2 }), true, 'answered on the next call')
  const refused = await server(ok(true))
  await refused.close()
  await t.rejects(httpFetch(`${refused.url}/bot1:a/getMe`, { method: 'POST', headers: {} }), { name: 'TypeError', message: 'fetch failed', cause: { code: 'ECONNREFUSED' } })
})

t.test('an upload (a multipart body) is sent whole', async (t) => {
  const api = await server(ok({ message_id: 9 }))
  t.teardown(api.close)
  const bot = new Bot('123:abc', { apiRoot: api.url, fetch: httpFetch })
  const file = new Uint8Array(200_000).fill(65)
  await bot.api.sendDocument({ chat_id: 5, document: new InputFile(file, { filename: 'tasks.txt', contentType: 'text/plain' }) })
  t.match(api.seen[0]?.type, /^multipart\/form-data; boundary=/)
  t.ok(api.seen[0]?.body.includes('A'.repeat(200_000)), 'the file\'s bytes arrive')
  t.ok(api.seen[0]?.body.includes('filename="tasks.txt"'))
})
