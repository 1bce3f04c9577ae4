// OutboxDelivery (bot/updates/delivery.ts) unit by unit, against the HTTP emulator and a real
// SQLite ledger: what is sent, what is dropped for good, what stays queued, what the operator
// reads in the log, and what is left in the outbox table afterwards.
import path from 'node:path'
import { Api } from 'node-telegram-bot-api'
import t, { type Test } from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { openDatabase, type Database } from '../bot/db.js'
import { createLogger } from '../bot/logger.js'
import { OutboxDelivery } from '../bot/updates/delivery.js'
import { UpdateLedger, type Outgoing } from '../bot/updates/ledger.js'
import { tempDir } from './support/bot-harness.js'

const A = 5101
const B = 5102

type Setup = { emu: BotApiEmulator, db: Database, ledger: UpdateLedger, delivery: OutboxDelivery, logs: Array<Record<string, unknown>> }

/** The emulator with chats A and B known, a migrated database, and a delivery that logs to `logs`. */
async function setup (t: Test, chats: number[] = [A, B]): Promise<Setup> {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  for (const chat of chats) emu.sendText(chat, chat, 'hi')
  const db = openDatabase({ engine: 'sqlite', file: path.join(tempDir(), 'todo.sqlite') })
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db)
  const logs: Array<Record<string, unknown>> = []
  const logger = createLogger('info', { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } })
  const delivery = new OutboxDelivery(new Api(emu.token, { apiRoot: emu.apiRoot, maxRetries: 0 }), ledger, logger)
  return { emu, db, ledger, delivery, logs }
}

const say = (chat: number | string, text: string): Outgoing => ({ method: 'sendMessage', params: { chat_id: chat, text } })

/** Queues `out` as the replies of update `id`. */
async function queue (ledger: UpdateLedger, id: number, ...out: Outgoing[]): Promise<void> {
  await ledger.handleOnce(id, async () => out)
}

/** What is left in the outbox: update id, method and text of each row, in order. */
async function left (db: Database): Promise<Array<[number, string, unknown]>> {
  const rows = await db('outbox').orderBy('id').select('update_id', 'method', 'params') as Array<{ update_id: number, method: string, params: string }>
  return rows.map((r) => [r.update_id, r.method, (JSON.parse(r.params) as Record<string, unknown>).text])
}

/** The warnings logged, as the operator reads them: message, update id, method, error text. */
function warnings (logs: Array<Record<string, unknown>>): Array<[unknown, unknown, unknown, unknown]> {
  return logs.filter((l) => l.level === 40).map((l) => [l.msg, l.updateId, l.method, (l.err as { message?: string } | undefined)?.message])
}

t.test('delivery: sends every queued reply in order, empties the outbox and counts them', async (t) => {
  const { emu, db, ledger, delivery, logs } = await setup(t)
  await queue(ledger, 1, say(A, 'one'), say(A, 'two'))
  await queue(ledger, 2, say(B, 'three'))
  t.equal(await delivery.flush(), true, 'the outbox is empty: flush answers true')
  t.same(emu.messages(A).map((m) => m.text), ['one', 'two'])
  t.same(emu.messages(B).map((m) => m.text), ['three'])
  t.same(await left(db), [])
  t.strictSame(delivery.stats, { sent: 3, dropped: 0, failures: 0 })
  t.same(warnings(logs), [])
  t.equal(await delivery.flush(), true, 'nothing queued: true again')
  t.equal(emu.calls('sendMessage').length, 3, 'and nothing sent twice')
})

t.test('delivery: a reply Telegram refuses for good (400, 403) is dropped with a warning, and the chat goes on', async (t) => {
  const { emu, db, ledger, delivery, logs } = await setup(t)
  await queue(ledger, 7, say(A, 'refused'), say(A, 'after'))
  await queue(ledger, 8, say(9999, 'to a chat Telegram does not know'))
  emu.failNext('sendMessage', { status: 403, description: 'Forbidden: bot was blocked by the user' })
  t.equal(await delivery.flush(), true)
  t.same(emu.messages(A).map((m) => m.text), ['after'])
  t.same(await left(db), [], 'dropped rows are deleted too')
  t.strictSame(delivery.stats, { sent: 1, dropped: 2, failures: 0 })
  t.same(warnings(logs), [
    ['reply rejected by Telegram; dropped', 7, 'sendMessage', '403: Forbidden: bot was blocked by the user'],
    ['reply rejected by Telegram; dropped', 8, 'sendMessage', '400: Bad Request: chat not found'],
  ].sort((a, b) => Number(a[1]) - Number(b[1])))
})

for (const [name, fault, error] of [
  ['500', { status: 500 }, '500: Internal Server Error'],
  ['429 (after the client gave up)', { status: 429, retryAfter: 1 }, '429: Too Many Requests: retry after 1'],
  ['a dropped connection', { drop: true }, undefined],
] as const) {
  t.test(`delivery: a reply that failed for a passing reason (${name}) stays queued with the rest of its chat; other chats go on`, async (t) => {
    const { emu, db, ledger, delivery, logs } = await setup(t)
    await queue(ledger, 1, say(A, 'first'), say(A, 'second'))
    emu.failNext('sendMessage', fault)
    t.equal(await delivery.flush(), false, 'not everything went: flush answers false')
    await queue(ledger, 2, say(B, 'other chat'))
    t.equal(await delivery.flush(), true, 'the next flush delivers what waited')
    t.same(emu.messages(A).map((m) => m.text), ['first', 'second'], 'in order, once')
    t.same(emu.messages(B).map((m) => m.text), ['other chat'])
    t.same(await left(db), [])
    t.strictSame(delivery.stats, { sent: 3, dropped: 0, failures: 1 })
    const warned = warnings(logs)
    t.equal(warned.length, 1)
    t.same(warned[0]?.slice(0, 3), ['reply not delivered yet; will retry', 1, 'sendMessage'])
    if (error !== undefined) t.equal(warned[0]?.[3], error)
  })
}

t.test('delivery: a failed reply holds back its own chat only, in the same flush', async (t) => {
  const { emu, db, ledger, delivery } = await setup(t)
  emu.setMethodDelay('sendMessage', 150)
  await queue(ledger, 1, say(A, 'a1'), say(A, 'a2'))
  await queue(ledger, 2, say(B, 'b1'), say(B, 'b2'))
  emu.failNext('sendMessage', { status: 500 })
  t.equal(await delivery.flush(), false)
  t.same(emu.messages(A).map((m) => m.text), [], 'chat A\'s first reply failed, its second waits behind it')
  t.same(emu.messages(B).map((m) => m.text), ['b1', 'b2'], 'chat B was not held back')
  t.same(await left(db), [[1, 'sendMessage', 'a1'], [1, 'sendMessage', 'a2']], 'exactly A\'s two replies are left')
})

t.test('delivery: "message is not modified" counts as sent, and the row is forgotten', async (t) => {
  const { emu, db, ledger, delivery, logs } = await setup(t)
  await queue(ledger, 1, say(A, 'same'))
  t.equal(await delivery.flush(), true)
  const sent = emu.messages(A).at(-1)
  await queue(ledger, 2, { method: 'editMessageText', params: { chat_id: A, message_id: sent?.message_id, text: 'same' } })
  t.equal(await delivery.flush(), true)
  t.equal(emu.calls('editMessageText')[0]?.description, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message')
  t.same(await left(db), [])
  t.strictSame(delivery.stats, { sent: 2, dropped: 0, failures: 0 })
  t.same(warnings(logs), [])
})

t.test('delivery: an unknown method is dropped with a warning that names it', async (t) => {
  const { emu, db, ledger, delivery, logs } = await setup(t)
  await queue(ledger, 3, { method: 'sendCarrierPigeon', params: { chat_id: A } }, say(A, 'after'))
  t.equal(await delivery.flush(), true)
  t.same(emu.messages(A).map((m) => m.text), ['after'])
  t.same(await left(db), [])
  t.strictSame(delivery.stats, { sent: 1, dropped: 1, failures: 0 })
  t.same(warnings(logs), [['reply rejected by Telegram; dropped', 3, 'sendCarrierPigeon', 'unknown outbox method sendCarrierPigeon']])
})

t.test('delivery: every method of the outbox reaches Telegram with its parameters', async (t) => {
  const { emu, ledger, delivery } = await setup(t)
  await queue(ledger, 1, say(A, 'to edit'), say(A, 'to delete'))
  t.equal(await delivery.flush(), true)
  const [edit, remove] = emu.messages(A)
  const keyboard = { inline_keyboard: [[{ text: 'ok', callback_data: 'x' }]] }
  const press = emu.pressButton(A, A, edit?.message_id ?? 0, 'x')
  await queue(ledger, 2,
    { method: 'editMessageText', params: { chat_id: A, message_id: edit?.message_id, text: 'edited' } },
    { method: 'editMessageReplyMarkup', params: { chat_id: A, message_id: edit?.message_id, reply_markup: keyboard } },
    { method: 'deleteMessage', params: { chat_id: A, message_id: remove?.message_id } },
    { method: 'answerCallbackQuery', params: { callback_query_id: (press.callback_query as { id: string }).id, text: 'noted' } })
  t.equal(await delivery.flush(), true)
  const now = emu.messages(A).find((m) => m.message_id === edit?.message_id)
  t.equal(now?.text, 'edited')
  t.same(now?.reply_markup, keyboard)
  t.equal(emu.messages(A).find((m) => m.message_id === remove?.message_id)?.deleted ?? true, true, 'the message was deleted')
  t.same(emu.callbackAnswers().map((a) => a.text), ['noted'])
  t.strictSame(delivery.stats, { sent: 6, dropped: 0, failures: 0 })
})

t.test('delivery: a queued upload is sent with its bytes, its name and type, or "file" and octet-stream', async (t) => {
  const { emu, db, ledger, delivery, logs } = await setup(t)
  await queue(ledger, 1,
    { method: 'sendDocument', params: { chat_id: A, document: { filename: 'tasks.json', content_type: 'application/json' }, caption: 'export' }, file: Buffer.from('{"tasks":[]}') },
    { method: 'sendDocument', params: { chat_id: A }, file: Buffer.from('raw bytes') })
  t.equal(await delivery.flush(), true)
  const docs = emu.messages(A).filter((m) => m.document !== undefined)
  t.same(docs.map((m) => [m.document?.file_name, m.document?.mime_type, m.text]), [['tasks.json', 'application/json', 'export'], ['file', 'application/octet-stream', '']])
  t.same(docs.map((m) => emu.fileBytes(m.document?.file_id ?? '')?.toString()), ['{"tasks":[]}', 'raw bytes'])
  t.same(await left(db), [])
  t.same(warnings(logs), [])
})

t.test('delivery: a sendDocument row without its file is dropped and says so', async (t) => {
  const { emu, db, ledger, delivery, logs } = await setup(t)
  await queue(ledger, 4, { method: 'sendDocument', params: { chat_id: A, document: { filename: 'x.json' } } })
  t.equal(await delivery.flush(), false, 'not a Telegram refusal: it stays for a retry')
  t.same(warnings(logs), [['reply not delivered yet; will retry', 4, 'sendDocument', 'sendDocument without its file in the outbox row']])
  t.equal(emu.calls('sendDocument').length, 0)
  t.same(await left(db), [[4, 'sendDocument', undefined]])
})

t.test('delivery: more than a page of replies (100) goes out in one flush, page after page', async (t) => {
  const { emu, db, ledger, delivery } = await setup(t)
  const texts = Array.from({ length: 230 }, (_, i) => `r${i}`)
  for (let i = 0; i < texts.length; i += 10) await queue(ledger, i, ...texts.slice(i, i + 10).map((x) => say(A, x)))
  t.equal(await delivery.flush(), true)
  t.same(emu.messages(A).map((m) => m.text), texts)
  t.same(await left(db), [])
  t.equal(delivery.stats.sent, 230)
})

t.test('delivery: exactly a page of replies: the second page is asked for and found empty', async (t) => {
  const { emu, db, ledger, delivery } = await setup(t)
  for (let i = 0; i < 100; i++) await queue(ledger, i, say(A, `r${i}`))
  t.equal(await delivery.flush(), true)
  t.equal(emu.messages(A).length, 100)
  t.same(await left(db), [])
})

t.test('delivery: a flush during a flush waits for it and drains again, so replies queued meanwhile go out', async (t) => {
  const { emu, db, ledger, delivery } = await setup(t)
  emu.setMethodDelay('sendMessage', 200)
  await queue(ledger, 1, say(A, 'first'))
  const first = delivery.flush()
  await emu.waitFor(() => emu.calls('sendMessage').length > 0)
  await queue(ledger, 2, say(A, 'queued meanwhile'))
  const second = delivery.flush()
  t.equal(await first, true)
  t.equal(await second, true)
  t.same(emu.messages(A).map((m) => m.text), ['first', 'queued meanwhile'])
  t.equal(emu.calls('sendMessage').length, 2, 'each once')
  t.same(await left(db), [])
})

t.test('delivery: up to 8 chats are in flight at once, never more; replies without a chat share one lane', async (t) => {
  const chats = Array.from({ length: 10 }, (_, i) => 6000 + i)
  const { emu, ledger, delivery } = await setup(t, chats)
  emu.setMethodDelay('sendMessage', 400)
  for (const chat of chats) await queue(ledger, chat, say(chat, `to ${chat}`))
  const started = Date.now()
  t.equal(await delivery.flush(), true)
  const calls = emu.calls('sendMessage')
  const firstAt = Math.min(...calls.map((c) => c.at))
  t.equal(calls.filter((c) => c.at - firstAt < 200).length, 8, 'eight chats at once')
  t.equal(calls.length, 10)
  t.ok(Date.now() - started < 2000, 'not one after another (10 × 400 ms)')
})

t.test('delivery: a chat given by its @name is a lane of its own: two such chats are in flight together, apart from the replies without a chat', async (t) => {
  const { emu, ledger, delivery } = await setup(t)
  emu.setMethodDelay('sendMessage', 300)
  emu.setMethodDelay('answerCallbackQuery', 300)
  const press = emu.pressButton(A, A, 1, 'x')
  await queue(ledger, 1, say('@first_channel', 'one'), say('@second_channel', 'two'), { method: 'answerCallbackQuery', params: { callback_query_id: (press.callback_query as { id: string }).id } })
  await delivery.flush()
  const at = [...emu.calls('sendMessage'), ...emu.calls('answerCallbackQuery')].map((c) => c.at)
  t.equal(at.length, 3)
  t.ok(Math.max(...at) - Math.min(...at) < 200, `all three in flight together (${Math.max(...at) - Math.min(...at)} ms apart)`)
})

t.test('delivery: idle() waits for the drain in hand (a stop waits for it), and its delete takes a turn', async (t) => {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  emu.sendText(A, A, 'hi')
  const db = openDatabase({ engine: 'sqlite', file: path.join(tempDir(), 'todo.sqlite') })
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const ledger = new UpdateLedger(db)
  const turns: string[] = []
  const delivery = new OutboxDelivery(new Api(emu.token, { apiRoot: emu.apiRoot, maxRetries: 0 }), ledger, createLogger('info', { write: () => {} }), async (write) => {
    turns.push('turn')
    return await write()
  })
  t.equal(await delivery.idle(), undefined, 'nothing running: idle at once')
  await queue(ledger, 1, say(A, 'slow'))
  emu.setMethodDelay('sendMessage', 400)
  const flushed = delivery.flush()
  await delivery.idle()
  t.same(emu.messages(A).map((m) => m.text), ['slow'], 'the reply was delivered when idle() resolved')
  t.same(await left(db), [], 'and its row deleted')
  t.equal(await flushed, true)
  t.same(turns, ['turn'], 'the delete took one turn')
})
