// Webhook mode against the real bot (in-process, real HTTP on 127.0.0.1) and the emulator
// delivering like Telegram: every request judged before anything is stored, an update applied
// exactly once and answered 200 only after commit, one chat's updates in order, and switching
// between polling and webhooks losing and doubling nothing. On SQLite and on PostgreSQL.
import http from 'node:http'
import fs from 'node:fs'
import t, { type Test } from 'tap'
import { startBot, type RunningBot } from '../bot/app.js'
import { loadConfig } from '../bot/config.js'
import { createLogger } from '../bot/logger.js'
import { BotApiEmulator, type Update } from '../dev/emulator/bot-api-emulator.js'
import { CHAT_LOCK_SPACE } from '../bot/updates/ledger.js'
import { botEnv, freePort, FRIEND, LogSink, OWNER, tempDir } from './support/bot-harness.js'
import { forEachEngine, type EngineCase } from './support/engines.js'
import { waitUntil } from './support/wait.js'

const SECRET = 'webhook-test-secret_0123456789abcdefXYZ'
const PATH = '/telegram'

type WebhookBot = { emu: BotApiEmulator, bot: RunningBot, logs: LogSink, port: number, env: Record<string, string>, start: (extra?: Record<string, string>) => Promise<RunningBot> }

async function setUp (t: Test, e: EngineCase, extra: Record<string, string> = {}): Promise<WebhookBot> {
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 50, maxMs: 400 } })
  const dir = tempDir()
  const port = await freePort()
  const env = botEnv(emu, dir, { ...e.env, TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}${PATH}`, WEBHOOK_LISTEN: `127.0.0.1:${port}`, TELEGRAM_WEBHOOK_SECRET: SECRET, ...extra })
  const logs = new LogSink()
  const w: WebhookBot = {
    emu,
    logs,
    port,
    env,
    bot: undefined as unknown as RunningBot,
    start: async (more = {}) => {
      const env2 = { ...env, ...more }
      for (const [k, v] of Object.entries(more)) if (v === '') Reflect.deleteProperty(env2, k)
      w.bot = await startBot(loadConfig(env2), { logger: createLogger('debug', logs) })
      await w.bot.ready
      return w.bot
    },
  }
  await w.start()
  t.teardown(async () => {
    await w.bot.stop()
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return w
}

type Answer = { status: number, text: string }

/** One raw request to the bot's webhook server (its own connection). */
function request (port: number, body: string | Buffer, o: { headers?: Record<string, string>, path?: string, method?: string, chunked?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...o.headers }
    if (o.chunked !== true) headers['content-length'] = String(Buffer.byteLength(body))
    const req = http.request({ host: '127.0.0.1', port, path: o.path ?? PATH, method: o.method ?? 'POST', headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      res.on('error', reject)
    })
    // A server that refuses early closes while we still write: the answer is what counts.
    req.on('error', (err) => { if (!req.writableFinished) return; reject(err) })
    if (o.chunked === true) {
      const buf = Buffer.from(body)
      for (let i = 0; i < buf.length; i += 64 * 1024) req.write(buf.subarray(i, i + 64 * 1024))
    } else {
      req.write(body)
    }
    req.end()
  })
}

const post = (port: number, update: unknown, secret = SECRET): Promise<Answer> =>
  request(port, JSON.stringify(update), { headers: { 'x-telegram-bot-api-secret-token': secret } })

async function stored (bot: RunningBot): Promise<{ tasks: number, handled: number, outbox: number, chats: number }> {
  const count = async (table: string): Promise<number> => Number((await bot.db(table).count({ n: '*' }).first() as { n: number | string }).n)
  return { tasks: await count('tasks'), handled: await count('handled_updates'), outbox: await count('outbox'), chats: await count('chats') }
}

async function taskRows (bot: RunningBot, chat: number): Promise<Array<{ number: number, text: string }>> {
  const rows = await bot.db('tasks').where({ chat_id: chat }).orderBy('number').select('number', 'text') as Array<{ number: number | string, text: string }>
  return rows.map((r) => ({ number: Number(r.number), text: r.text }))
}

/** A text message update for a chat the emulator knows, with an id the emulator never gave. */
function handMade (template: Update, updateId: number, text: string): Update {
  const message = structuredClone((template as { message: Record<string, unknown> }).message)
  message.text = text
  message.message_id = updateId
  return { update_id: updateId, message } as Update
}

forEachEngine(t, 'webhook: each bad request is refused and nothing is stored', async (t, e) => {
  const w = await setUp(t, e)
  const before = await stored(w.bot)
  const update = { update_id: 424242, message: { message_id: 1, date: 1, chat: { id: OWNER, type: 'private' }, from: { id: OWNER, is_bot: false, first_name: 'O' }, text: 'should never be stored' } }
  const body = JSON.stringify(update)
  const secretHeader = { 'x-telegram-bot-api-secret-token': SECRET }
  t.same(await request(w.port, body), { status: 401, text: 'unauthorized\n' }, 'no secret: 401')
  t.same(await request(w.port, body, { headers: { 'x-telegram-bot-api-secret-token': `${SECRET.slice(0, -1)}x` } }), { status: 401, text: 'unauthorized\n' }, 'wrong secret: 401')
  t.same(await request(w.port, body, { headers: secretHeader, path: '/telegram/other' }), { status: 404, text: 'not found\n' }, 'wrong path: 404')
  t.same(await request(w.port, body, { headers: secretHeader, path: '/' }), { status: 404, text: 'not found\n' }, 'root: 404')
  t.same(await request(w.port, '', { headers: secretHeader, method: 'GET' }), { status: 405, text: 'method not allowed: POST only\n' }, 'GET: 405')
  const big = JSON.stringify({ ...update, message: { ...update.message, text: 'x'.repeat(1024 * 1024) } })
  t.same(await request(w.port, big, { headers: secretHeader }), { status: 413, text: 'payload too large: the limit is 1 MB\n' }, 'over 1 MB, declared: 413')
  t.same(await request(w.port, big + ' '.repeat(1024 * 1024), { headers: secretHeader, chunked: true }), { status: 413, text: 'payload too large: the limit is 1 MB\n' }, 'over 1 MB, chunked: 413 without reading it all')
  t.same(await request(w.port, '{"update_id": 5, "message":', { headers: secretHeader }), { status: 400, text: 'bad request: the body is not JSON\n' }, 'broken JSON: 400')
  t.same(await request(w.port, '[1,2]', { headers: secretHeader }), { status: 400, text: 'bad request: the body is not a Telegram update (a JSON object)\n' }, 'an array: 400')
  t.same(await request(w.port, '{"message":{}}', { headers: secretHeader }), { status: 400, text: 'bad request: the body is not a Telegram update (no update_id)\n' }, 'no update_id: 400')
  t.same(await stored(w.bot), before, 'no task, no handled id, no reply, no chat stored')
  const refusals = w.logs.lines.filter((l) => l.includes('webhook request refused (401)'))
  t.equal(refusals.length, 2, 'one warn line per refused request')
  t.match(JSON.parse(refusals[0] ?? '{}'), { level: 40, header: 'missing' })
  t.match(JSON.parse(refusals[1] ?? '{}'), { level: 40, header: 'wrong' })
  t.notOk(w.logs.lines.some((l) => l.includes(SECRET) || l.includes(SECRET.slice(0, -1))), 'the secret (or the wrong guess) is never logged')
  t.notOk(w.logs.lines.some((l) => l.includes('should never be stored')), 'the refused text is never logged')
  t.same(w.emu.messages(OWNER), [], 'nothing was sent to the chat')
})

forEachEngine(t, 'webhook: setWebhook carries the secret and max_connections; health names the mode', async (t, e) => {
  const w = await setUp(t, e, { WEBHOOK_MAX_CONNECTIONS: '7' })
  const calls = w.emu.calls('setWebhook')
  t.equal(calls.length, 1)
  t.same(calls[0]?.params, { url: `http://127.0.0.1:${w.port}${PATH}`, secret_token: SECRET, allowed_updates: ['message', 'edited_message', 'callback_query', 'my_chat_member'], max_connections: 7, drop_pending_updates: false })
  t.same(w.emu.calls('deleteWebhook'), [], 'webhook mode never deletes the webhook')
  t.same(w.emu.calls('getUpdates'), [], 'webhook mode never polls')
  t.notOk(w.logs.lines.some((l) => l.includes(SECRET)), 'the secret is not logged')
  const res = await fetch(`http://127.0.0.1:${w.bot.healthPort}/healthz`)
  t.equal(res.status, 200)
  const h = await res.json() as Record<string, unknown>
  t.match(h, { status: 'ok', mode: 'webhook', webhook: { listen: `127.0.0.1:${w.port}`, url: `http://127.0.0.1:${w.port}${PATH}`, telegram: { url: `http://127.0.0.1:${w.port}${PATH}`, pendingUpdateCount: 0, lastErrorMessage: null } } })
  const waiting = w.emu.waitForMessage(OWNER)
  w.emu.sendText(OWNER, OWNER, '/health')
  const reply = await waiting
  t.match(reply.rendered, `Mode: webhook on 127.0.0.1:${w.port}; Telegram: 0 pending, no delivery error`)
  t.equal(w.emu.calls('getWebhookInfo').length, 1, 'getWebhookInfo is read at start (then every minute), not per health request')
})

forEachEngine(t, 'webhook: a duplicate delivery is answered 200 and applied once', async (t, e) => {
  const w = await setUp(t, e)
  const waiting = w.emu.waitForMessage(OWNER)
  const update = w.emu.sendText(OWNER, OWNER, 'buy milk')
  const first = await waiting
  t.equal(first.rendered.endsWith(' buy milk'), true)
  // The reply reaches the emulator just before the drain deletes its outbox row.
  const before = await waitUntil(async () => { const s = await stored(w.bot); return s.outbox === 0 && s }, { what: 'the delivered reply to leave the outbox' })
  t.same(await post(w.port, update), { status: 200, text: 'ok\n' }, 'a redelivery after commit: 200')
  const again = await Promise.all([post(w.port, update), post(w.port, update), post(w.port, update)])
  t.same(again.map((a) => a.status), [200, 200, 200], 'concurrent redeliveries: 200 each')
  t.same(await stored(w.bot), before, 'nothing changed')
  t.same(await taskRows(w.bot, OWNER), [{ number: 1, text: 'buy milk' }])
  await new Promise((r) => setTimeout(r, 100))
  t.equal(w.emu.messages(OWNER).length, 1, 'answered once')
  t.equal(w.bot.metrics.duplicates, 4)
})

forEachEngine(t, 'webhook: 50 updates of one chat POSTed at once are applied one at a time, each once', async (t, e) => {
  const w = await setUp(t, e)
  const waiting = w.emu.waitForMessage(OWNER)
  const template = w.emu.sendText(OWNER, OWNER, '/start')
  await waiting
  const base = template.update_id + 1000
  const updates = Array.from({ length: 50 }, (_, i) => handMade(template, base + i, `item ${i + 1}`))
  const answers = await Promise.all(updates.map((u) => post(w.port, u)))
  t.same(answers.map((a) => a.status), updates.map(() => 200), 'every request answered 200')
  const rows = await taskRows(w.bot, OWNER)
  t.same(rows.map((r) => r.number), Array.from({ length: 50 }, (_, i) => i + 1), 'numbers 1..50: no gap, no repeat')
  t.same(rows.map((r) => r.text).sort(), updates.map((_, i) => `item ${i + 1}`).sort(), 'every text once')
  await waitUntil(() => w.emu.messages(OWNER).length >= 51, { what: '50 replies' })
  await new Promise((r) => setTimeout(r, 100))
  const replies = w.emu.messages(OWNER).slice(1).map((m) => m.rendered)
  t.equal(replies.length, 50, 'answered once each')
  for (const row of rows) t.equal(replies.filter((r) => r.includes(`#${row.number} ${row.text}`)).length, 1, `#${row.number} answered once`)
  t.equal((await stored(w.bot)).outbox, 0, 'outbox drained')
})

forEachEngine(t, 'webhook: updates of several chats POSTed at once share transactions (group commit), each applied once', async (t, e) => {
  const w = await setUp(t, e)
  // Eight chats: the owner's own and seven groups the owner writes in.
  const chats = [OWNER, ...Array.from({ length: 7 }, (_, i) => -1009100 - i)]
  const templates: Update[] = []
  for (const chat of chats) {
    const waiting = w.emu.waitForMessage(chat)
    templates.push(w.emu.sendText(OWNER, chat, '/start'))
    await waiting
  }
  const groupsBefore = w.logs.lines.filter((l) => l.includes('"webhook group committed"')).length
  const updates = Array.from({ length: 80 }, (_, i) => handMade(templates[i % 8] as Update, (templates[0]?.update_id ?? 0) + 5000 + i, `item ${i + 1}`))
  const answers = await Promise.all(updates.map((u) => post(w.port, u)))
  t.same(answers.map((a) => a.status), updates.map(() => 200), 'every request answered 200')
  const groups = w.logs.lines.filter((l) => l.includes('"webhook group committed"')).slice(groupsBefore).map((l) => JSON.parse(l) as { updates: number, busy: number })
  t.equal(groups.reduce((n, g) => n + g.updates, 0), 80, 'every update in one group')
  // SQLite applies an update before the next request is even read (it does not wait on a server):
  // there are no requests in hand to group. PostgreSQL's round trips leave them time to gather.
  if (e.engine === 'postgres') t.ok(groups.some((g) => g.updates > 1), `groups of several chats (${groups.length} groups for 80 updates)`)
  for (const chat of chats) t.same((await taskRows(w.bot, chat)).map((r) => r.number), Array.from({ length: 10 }, (_, i) => i + 1), `chat ${chat}: numbers 1..10`)
  await waitUntil(() => chats.reduce((n, c) => n + w.emu.messages(c).length, 0) >= 88, { what: '80 replies' })
})

forEachEngine(t, 'webhook: Telegram delivers one chat in order and chats side by side', async (t, e) => {
  const w = await setUp(t, e)
  for (let i = 1; i <= 20; i++) {
    w.emu.sendText(OWNER, OWNER, `own ${i}`)
    w.emu.sendText(FRIEND, FRIEND, `friend ${i}`)
  }
  await waitUntil(() => w.emu.messages(OWNER).length >= 20 && w.emu.messages(FRIEND).length >= 20, { what: '40 replies' })
  t.same(await taskRows(w.bot, OWNER), Array.from({ length: 20 }, (_, i) => ({ number: i + 1, text: `own ${i + 1}` })), 'the owner\'s tasks in delivery order')
  t.same(await taskRows(w.bot, FRIEND), Array.from({ length: 20 }, (_, i) => ({ number: i + 1, text: `friend ${i + 1}` })), 'the friend\'s tasks in delivery order')
  t.same(w.emu.pendingUpdates(), [], 'Telegram holds nothing')
  t.ok(w.emu.webhookAttempts().every((a) => a.status === 200), 'every delivery answered 200 at the first try')
})

forEachEngine(t, 'webhook: polling → webhook → polling keeps every pending update, none doubled', async (t, e) => {
  const w = await setUp(t, e)
  // Start over in polling mode: the harness above set a webhook; this bot deletes it first.
  await w.bot.stop()
  const noHook = { TELEGRAM_WEBHOOK_URL: '', WEBHOOK_LISTEN: '', TELEGRAM_WEBHOOK_SECRET: '' }
  await w.start(noHook)
  t.equal(w.emu.webhookSettings(), null, 'polling deleted the webhook')
  t.same(w.emu.calls('deleteWebhook').map((c) => c.params), [{ drop_pending_updates: false }], 'pending updates kept')
  const waiting = w.emu.waitForMessage(OWNER)
  w.emu.sendText(OWNER, OWNER, 'polled one')
  await waiting
  const h1 = await (await fetch(`http://127.0.0.1:${w.bot.healthPort}/healthz`)).json() as Record<string, unknown>
  t.match(h1, { mode: 'polling', webhook: null })

  // stopped: two updates wait at Telegram; then webhook mode takes them
  await w.bot.stop()
  w.emu.sendText(OWNER, OWNER, 'waited for the webhook 1')
  w.emu.sendText(FRIEND, FRIEND, 'waited for the webhook 2')
  await w.start()
  await waitUntil(() => w.emu.messages(OWNER).length === 2 && w.emu.messages(FRIEND).length === 1, { what: 'the two waiting updates answered' })

  // Out of order, as webhook mode can leave it: an update with a newer id is handled, while an
  // older one is still held by Telegram (the bot went down before it could be delivered).
  const template = w.emu.sendText(FRIEND, FRIEND, 'webhook three')
  await waitUntil(() => w.emu.messages(FRIEND).length === 2, { what: 'webhook three answered' })
  t.same(await post(w.port, handMade(template, template.update_id + 1000, 'handled early')), { status: 200, text: 'ok\n' })
  await w.bot.stop()
  w.emu.sendText(OWNER, OWNER, 'held while down 1')
  w.emu.sendText(OWNER, OWNER, 'held while down 2')
  await waitUntil(() => w.emu.webhookAttempts().some((a) => a.error === 'Connection refused'), { what: 'a refused delivery' })
  t.equal(w.emu.pendingUpdates().length, 2, 'Telegram keeps both while nobody listens')

  // back to polling: the webhook goes, the held updates come by getUpdates (a failing one retried)
  w.emu.failNext('getUpdates', { status: 502 }, 3)  // the library retries twice itself
  await w.start(noHook)
  t.ok(w.logs.lines.some((l) => l.includes('getUpdates failed while catching up after webhook mode; retrying')), 'the catch-up rode out a failure')
  t.ok(w.logs.lines.some((l) => l.includes('"count":2') && l.includes('caught up updates Telegram still held from webhook mode')), 'two held updates caught up')
  await waitUntil(() => w.emu.messages(OWNER).length === 4, { what: 'the held updates answered' })
  await new Promise((r) => setTimeout(r, 300))
  t.same(w.emu.pendingUpdates(), [], 'nothing left at Telegram')
  t.same((await taskRows(w.bot, OWNER)).map((r) => `${r.number} ${r.text}`), ['1 polled one', '2 waited for the webhook 1', '3 held while down 1', '4 held while down 2'])
  t.same((await taskRows(w.bot, FRIEND)).map((r) => `${r.number} ${r.text}`), ['1 waited for the webhook 2', '2 webhook three', '3 handled early'])
  t.equal(w.emu.messages(OWNER).length, 4, 'each answered once')
  t.equal(w.emu.messages(FRIEND).length, 3, 'each answered once')
})

forEachEngine(t, 'webhook: another chat does not wait for an /import\'s download', async (t, e) => {
  const w = await setUp(t, e)
  // An /import's file is fetched inside the request: holding getFile makes the owner's update slow.
  w.emu.setMethodDelay('getFile', 1500)
  w.emu.sendDocument(OWNER, OWNER, { name: 'tasks.txt', data: 'slow import\n', caption: '/import' })
  await waitUntil(() => w.emu.calls('getFile').length > 0, { what: 'the owner\'s update in hand' })
  const friend = w.emu.waitForMessage(FRIEND)
  w.emu.sendText(FRIEND, FRIEND, 'quick one')
  await friend
  // The file is fetched before the update joins a transaction (a group's, or SQLite's one writer's).
  t.same(w.emu.messages(OWNER), [], 'the friend was answered while the owner\'s file was still coming')
  await waitUntil(() => w.emu.messages(OWNER).length > 0, { what: 'the owner answered' })
  t.same((await taskRows(w.bot, OWNER)).map((r) => r.text), ['slow import'])
  t.same((await taskRows(w.bot, FRIEND)).map((r) => r.text), ['quick one'])
})

forEachEngine(t, 'webhook: a reply on its way to a slow Bot API does not hold up the next update', async (t, e) => {
  const w = await setUp(t, e)
  // Each sendMessage takes 1.5 s to answer; on SQLite the drain used to hold the write gate meanwhile.
  w.emu.setMethodDelay('sendMessage', 1500)
  w.emu.sendText(OWNER, OWNER, 'slow reply')
  await waitUntil(() => w.emu.calls('sendMessage').length > 0, { what: 'the owner\'s reply on its way' })
  w.emu.sendText(FRIEND, FRIEND, 'not held up')
  await waitUntil(async () => (await taskRows(w.bot, FRIEND)).length === 1, { what: 'the friend\'s task stored', timeoutMs: 10_000 })
  t.same(w.emu.messages(OWNER), [], 'stored while the owner\'s reply was still on its way')
  await waitUntil(() => w.emu.messages(OWNER).length === 1 && w.emu.messages(FRIEND).length === 1, { what: 'both replies', timeoutMs: 15_000 })
  t.equal(w.emu.calls('sendMessage').length, 2, 'each reply sent once')
})

// Group commit (bot/webhook/group-commit.ts) with several instances: a chat another instance holds
// is left out of this instance's group and applied alone once free; the group goes on meanwhile.
forEachEngine(t, 'webhook: a chat another instance holds does not hold up the other chats, and is applied once free', async (t, e) => {
  const w = await setUp(t, e)
  const other = e.open()
  t.teardown(() => other.destroy())
  const holder = await other.client.acquireConnection() as { query: (sql: string) => Promise<unknown> }
  t.teardown(() => other.client.releaseConnection(holder))
  await holder.query(`select pg_advisory_lock(${CHAT_LOCK_SPACE}, hashtext('${OWNER}'))`)
  w.emu.sendText(OWNER, OWNER, 'held one')
  await waitUntil(() => w.emu.webhookAttempts().length > 0, { what: 'the owner\'s update delivered' })
  await new Promise((resolve) => setTimeout(resolve, 100))
  const friend = w.emu.waitForMessage(FRIEND)
  w.emu.sendText(FRIEND, FRIEND, 'free one')
  await friend
  t.same(w.emu.messages(OWNER), [], 'the friend was answered while the owner\'s chat was held')
  await holder.query('select pg_advisory_unlock_all()')
  await waitUntil(() => w.emu.messages(OWNER).length > 0, { what: 'the owner answered' })
  t.equal(w.emu.messages(OWNER).length, 1)
  t.match(w.emu.messages(OWNER)[0]?.text, /^Added:\s+<b>#1<\/b> held one$/, 'applied once, not a failure')
  t.same((await taskRows(w.bot, OWNER)).map((r) => r.text), ['held one'])
  t.same((await taskRows(w.bot, FRIEND)).map((r) => r.text), ['free one'])
}, ['postgres'])
