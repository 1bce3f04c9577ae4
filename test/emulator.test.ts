// The Bot API emulator behaves like Telegram where the bot's correctness depends on it: offsets,
// long polls, 409, validation errors with Telegram's exact text, and injected faults.
import t from 'tap'
import { Api, TelegramApiError } from 'node-telegram-bot-api'
import { BotApiEmulator, type Update } from '../dev/emulator/bot-api-emulator.js'

type Answer = { status: number, body: { ok: boolean, result?: unknown, error_code?: number, description?: string, parameters?: { retry_after?: number } } }

const USER = 42

/** An emulator that stops when the test ends. */
async function start (t: { teardown: (fn: () => unknown) => void }): Promise<BotApiEmulator> {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  return emu
}

/** One Bot API request over real HTTP, JSON-encoded. */
async function call (emu: BotApiEmulator, method: string, params: Record<string, unknown> = {}, token = emu.token): Promise<Answer> {
  const res = await fetch(`${emu.apiRoot}/bot${token}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  })
  return { status: res.status, body: await res.json() as Answer['body'] }
}

const ids = (answer: Answer): number[] => (answer.body.result as Update[]).map((u) => u.update_id)

function badRequest (description: string): Answer {
  return { status: 400, body: { ok: false, error_code: 400, description } }
}

t.test('emulator: getMe answers as the bot, a wrong token gets 401 and an unknown method 404', async (t) => {
  const emu = await start(t)
  t.same(await call(emu, 'getMe'), {
    status: 200,
    body: { ok: true, result: { id: 123456, is_bot: true, first_name: 'Mister Todo', username: 'mister_todo_bot', can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false } },
  })
  t.same(await call(emu, 'getMe', {}, '123456:wrong'), { status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } })
  t.same(await call(emu, 'sendTelepathy'), { status: 404, body: { ok: false, error_code: 404, description: 'Not Found' } })
  t.same(emu.calls().map((c) => c.status), [200, 401, 404])
})

t.test('emulator: getUpdates confirms offsets like Telegram', async (t) => {
  const emu = await start(t)
  const first = emu.sendText(USER, USER, '/start')
  const second = emu.sendText(USER, USER, 'buy milk')
  t.ok(first.update_id >= 100000, 'update ids do not start at 0 or 1')
  t.equal(second.update_id, first.update_id + 1)
  t.same(first.message?.entities, [{ type: 'bot_command', offset: 0, length: 6 }])

  t.same(ids(await call(emu, 'getUpdates')), [first.update_id, second.update_id])
  t.same(ids(await call(emu, 'getUpdates')), [first.update_id, second.update_id], 'redelivered until confirmed')
  t.same(ids(await call(emu, 'getUpdates', { offset: second.update_id })), [second.update_id])
  t.equal(emu.confirmedOffset, second.update_id)
  t.same(emu.pendingUpdates().map((u) => u.update_id), [second.update_id], 'the confirmed one is forgotten')
  t.same(ids(await call(emu, 'getUpdates', { offset: second.update_id + 1 })), [])
  t.same(emu.pendingUpdates(), [])

  const third = emu.sendText(USER, USER, 'a')
  const fourth = emu.sendText(USER, USER, 'b')
  t.same(ids(await call(emu, 'getUpdates', { offset: -1 })), [fourth.update_id], 'a negative offset counts from the end')
  t.same(emu.pendingUpdates().map((u) => u.update_id), [fourth.update_id], `${third.update_id} is forgotten`)
})

t.test('emulator: getUpdates returns at most limit updates, oldest first', async (t) => {
  const emu = await start(t)
  const sent = [1, 2, 3, 4, 5].map((n) => emu.sendText(USER, USER, `task ${n}`).update_id)
  t.same(ids(await call(emu, 'getUpdates', { limit: 2 })), sent.slice(0, 2))
  t.same(ids(await call(emu, 'getUpdates', { offset: sent[2], limit: 2 })), sent.slice(2, 4))
  t.equal(ids(await call(emu, 'getUpdates', { limit: 500 })).length, 3, 'limit is capped at 100, not refused')
})

t.test('emulator: a long poll wakes on a new update and times out with []', async (t) => {
  const emu = await start(t)
  const started = Date.now()
  const waiting = call(emu, 'getUpdates', { timeout: 1 })
  await emu.waitFor(() => emu.activePollers() === 1)
  const update = emu.sendText(USER, USER, 'hello')
  t.same(ids(await waiting), [update.update_id])
  t.ok(Date.now() - started < 900, 'answered before the timeout')

  const idle = Date.now()
  const empty = await call(emu, 'getUpdates', { offset: update.update_id + 1, timeout: 1 })
  t.same(empty, { status: 200, body: { ok: true, result: [] } })
  t.ok(Date.now() - idle >= 950, 'held for the whole timeout')
  t.equal(emu.activePollers(), 0)
})

t.test('emulator: a newer getUpdates ends the held one with 409, like Telegram', async (t) => {
  const emu = await start(t)
  const older = call(emu, 'getUpdates', { timeout: 1 })
  await emu.waitFor(() => emu.activePollers() === 1)
  const newer = call(emu, 'getUpdates', { timeout: 1 })
  t.same(await older, {
    status: 409,
    body: { ok: false, error_code: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' },
  })
  const update = emu.sendText(USER, USER, 'for the newer poller')
  t.same(ids(await newer), [update.update_id])
})

t.test('emulator: a poller that gives up does not take the next update', async (t) => {
  const emu = await start(t)
  const controller = new AbortController()
  const abandoned = fetch(`${emu.apiRoot}/bot${emu.token}/getUpdates`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"timeout":5}', signal: controller.signal,
  })
  await emu.waitFor(() => emu.activePollers() === 1)
  controller.abort()
  await t.rejects(abandoned)
  await emu.waitFor(() => emu.activePollers() === 0)
  const update = emu.sendText(USER, USER, 'still here')
  t.same(ids(await call(emu, 'getUpdates')), [update.update_id])
})

t.test('emulator: sendMessage refuses what Telegram refuses, with its exact descriptions', async (t) => {
  const emu = await start(t)
  emu.sendText(USER, USER, '/start')
  const send = (params: Record<string, unknown>): Promise<Answer> => call(emu, 'sendMessage', { chat_id: USER, ...params })
  const keyboard = (data: string): unknown => ({ inline_keyboard: [[{ text: 'Done', callback_data: data }]] })

  t.equal((await send({ text: 'x'.repeat(4096) })).status, 200, '4096 characters fit')
  t.same(await send({ text: 'x'.repeat(4097) }), badRequest('Bad Request: message is too long'))
  t.equal((await send({ text: `<b>${'&amp;'.repeat(4096)}</b>`, parse_mode: 'HTML' })).status, 200, 'HTML is counted after parsing')
  t.same(await send({ text: '' }), badRequest('Bad Request: message text is empty'))
  t.same(await send({ text: '<b> </b>', parse_mode: 'HTML' }), badRequest('Bad Request: message text is empty'))
  t.same(await call(emu, 'sendMessage', { chat_id: 7, text: 'hi' }), badRequest('Bad Request: chat not found'))

  t.equal((await send({ text: 'ok', reply_markup: keyboard('d'.repeat(64)) })).status, 200, '64 bytes fit')
  t.same(await send({ text: 'no', reply_markup: keyboard('d'.repeat(65)) }), badRequest('Bad Request: BUTTON_DATA_INVALID'))
  t.same(await send({ text: 'no', reply_markup: keyboard('é'.repeat(33)) }), badRequest('Bad Request: BUTTON_DATA_INVALID'), 'counted in UTF-8 bytes')

  const html = async (text: string): Promise<string | undefined> => (await send({ text, parse_mode: 'HTML' })).body.description
  t.equal(await html('a <br> b'), 'Bad Request: can\'t parse entities: Unsupported start tag "br" at byte offset 2')
  t.equal(await html('1 < 2'), 'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2')
  t.equal(await html('<b>bold'), 'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"')
  t.equal(await html('<b>x</i>'), 'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 4, expected "</b>", found "</i>"')
  t.equal(await html('é</b>'), 'Bad Request: can\'t parse entities: Unexpected end tag at byte offset 2')
  const fine = await send({ text: '<b>Milk</b> &lt;2&gt; &amp; <a href="https://x.y">eggs</a>', parse_mode: 'HTML' })
  t.match(fine.body.result, { text: 'Milk <2> & eggs', entities: [{ type: 'bold', offset: 0, length: 4 }, { type: 'text_link', offset: 11, length: 4, url: 'https://x.y' }] })
})

t.test('emulator: edits apply, and an edit that changes nothing is refused', async (t) => {
  const emu = await start(t)
  emu.sendText(USER, USER, '/list')
  const markup = { inline_keyboard: [[{ text: 'Done', callback_data: 'done:1' }]] }
  const sent = await call(emu, 'sendMessage', { chat_id: USER, text: '<b>1.</b> milk', parse_mode: 'HTML', reply_markup: markup })
  const messageId = (sent.body.result as { message_id: number }).message_id
  t.equal(messageId, 2, 'message ids are per chat and count the user\'s messages too')
  const edit = { chat_id: USER, message_id: messageId, reply_markup: markup }
  const notModified = badRequest('Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message')

  t.same(await call(emu, 'editMessageText', { ...edit, text: '<strong>1.</strong> milk', parse_mode: 'HTML' }), notModified, 'same text and entities')
  t.same(await call(emu, 'editMessageReplyMarkup', edit), notModified)
  t.equal((await call(emu, 'editMessageText', { ...edit, text: '1. milk' })).status, 200, 'dropping the bold is a change')
  t.match(emu.messages(USER), [{ message_id: 2, text: '1. milk', rendered: '1. milk', reply_markup: markup, edited: true, deleted: false }])
  t.equal((await call(emu, 'editMessageText', { chat_id: USER, message_id: messageId, text: '1. milk' })).status, 200, 'no reply_markup removes the keyboard')
  t.equal(emu.messages(USER)[0]?.reply_markup, undefined)
  t.same(await call(emu, 'editMessageText', { chat_id: USER, message_id: 99, text: 'x' }), badRequest('Bad Request: message to edit not found'))

  t.same(await call(emu, 'deleteMessage', { chat_id: USER, message_id: messageId }), { status: 200, body: { ok: true, result: true } })
  t.same(await call(emu, 'deleteMessage', { chat_id: USER, message_id: messageId }), badRequest('Bad Request: message to delete not found'))
  t.equal(emu.messages(USER)[0]?.deleted, true)
})

t.test('emulator: a button press carries the message as it is now, and is answered once', async (t) => {
  const emu = await start(t)
  emu.sendText(USER, USER, '/list')
  const markup = { inline_keyboard: [[{ text: 'Done', callback_data: 'done:1' }]] }
  await call(emu, 'sendMessage', { chat_id: USER, text: 'milk', reply_markup: markup })
  await call(emu, 'editMessageText', { chat_id: USER, message_id: 2, text: 'milk ✓', reply_markup: markup })
  const press = emu.pressButton(USER, USER, 2, 'done:1').callback_query
  t.match(press, { from: { id: USER }, data: 'done:1', message: { message_id: 2, text: 'milk ✓', reply_markup: markup } })
  t.type(press?.chat_instance, 'string')
  t.same(emu.pressButton(USER, USER, 77, 'x').callback_query?.message, { message_id: 77, chat: { id: USER, type: 'private', first_name: 'User 42' }, date: 0 })

  const id = press?.id ?? ''
  t.same(emu.unansweredCallbacks().length, 2)
  t.same(await call(emu, 'answerCallbackQuery', { callback_query_id: id, text: 'Done' }), { status: 200, body: { ok: true, result: true } })
  t.same(await call(emu, 'answerCallbackQuery', { callback_query_id: id }), badRequest('Bad Request: query is too old and response timeout expired or query ID is invalid'))
  t.same(emu.callbackAnswers(), [{ callback_query_id: id, text: 'Done' }])
  t.equal(emu.unansweredCallbacks().length, 1)
})

t.test('emulator: reads JSON, urlencoded and multipart bodies, and refuses bad JSON and huge bodies', async (t) => {
  const emu = await start(t)
  emu.sendText(USER, USER, '/start')
  const post = async (body: FormData | URLSearchParams | string | Uint8Array, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(`${emu.apiRoot}/bot${emu.token}/sendMessage`, { method: 'POST', body, headers })
    return { status: res.status, body: await res.json() as Answer['body'] }
  }
  const form = new FormData()
  form.set('chat_id', String(USER))
  form.set('text', 'from a form ✓')
  form.set('photo', new Blob(['bytes']), 'photo.jpg')
  t.equal((await post(form)).status, 200)
  t.equal((await post(new URLSearchParams({ chat_id: String(USER), text: '[1] urlencoded' }))).status, 200)
  t.same(emu.messages(USER).map((m) => m.text), ['from a form ✓', '[1] urlencoded'])
  t.same(emu.calls('sendMessage')[0]?.params.photo, { file: 'photo.jpg', size: 5 })

  t.same(await post('{"chat_id":', { 'content-type': 'application/json' }), badRequest("Bad Request: can't parse JSON encoded request"))
  const huge = await post(new Uint8Array(50 * 1024 * 1024 + 1), { 'content-type': 'application/octet-stream' })
  t.same(huge, { status: 413, body: { ok: false, error_code: 413, description: 'Request Entity Too Large' } })
})

t.test('emulator: setMyCommands checks command names and getMyCommands returns them', async (t) => {
  const emu = await start(t)
  const commands = [{ command: 'add', description: 'Add a task' }, { command: 'list', description: 'Show tasks' }]
  t.same(await call(emu, 'setMyCommands', { commands: [{ command: 'Add', description: 'x' }] }), badRequest('Bad Request: BOT_COMMAND_INVALID'))
  t.equal((await call(emu, 'setMyCommands', { commands })).status, 200)
  t.same((await call(emu, 'getMyCommands')).body.result, commands)
})

t.test('emulator: the real client works against it, urlencoded bodies and 429 retries included', async (t) => {
  const emu = await start(t)
  const api = new Api(emu.token, { apiRoot: emu.apiRoot })
  const update = emu.sendText({ id: USER, first_name: 'Ann' }, USER, '/add milk')
  const updates = await api.getUpdates({ timeout: 1 })
  t.same(updates.map((u) => u.update_id), [update.update_id])

  emu.failNext('sendMessage', { status: 429, retryAfter: 1 })
  const started = Date.now()
  const waitingForReply = emu.waitForMessage(USER, (m) => m.text.startsWith('Added'))
  const sent = await api.sendMessage({ chat_id: USER, text: 'Added: <b>milk</b>', parse_mode: 'HTML', reply_markup: { inline_keyboard: [[{ text: 'Done', callback_data: 'done:1' }]] } })
  t.ok(Date.now() - started >= 1000, 'the client waited retry_after seconds')
  t.same(emu.calls('sendMessage').map((c) => c.status), [429, 200])
  t.equal(emu.calls('sendMessage')[0]?.description, 'Too Many Requests: retry after 1')
  t.same(emu.calls('sendMessage')[1]?.params.chat_id, USER, 'urlencoded params are typed like Telegram types them')
  t.equal(sent.text, 'Added: milk')
  t.match(await waitingForReply, { message_id: sent.message_id, rendered: 'Added: milk', parse_mode: 'HTML' })

  await api.getUpdates({ offset: update.update_id + 1, timeout: 0 })
  t.equal(emu.confirmedOffset, update.update_id + 1)
  const err = await api.editMessageText({ chat_id: USER, message_id: sent.message_id, text: 'Added: <b>milk</b>', parse_mode: 'HTML', reply_markup: { inline_keyboard: [[{ text: 'Done', callback_data: 'done:1' }]] } }).catch((e: unknown) => e)
  t.ok(err instanceof TelegramApiError && err.errorCode === 400 && err.description.startsWith('Bad Request: message is not modified'))
})

t.test('emulator: faults replace answers, and a faulted getUpdates confirms nothing', async (t) => {
  const emu = await start(t)
  const update = emu.sendText(USER, USER, 'hi')
  emu.failNext('getUpdates', { status: 502 })
  t.same(await call(emu, 'getUpdates', { offset: update.update_id + 1 }), { status: 502, body: { ok: false, error_code: 502, description: 'Bad Gateway' } })
  t.equal(emu.confirmedOffset, 0)
  t.equal(emu.pendingUpdates().length, 1)

  emu.failNext('*', { drop: true })
  await t.rejects(call(emu, 'getMe'), 'a dropped socket is a network error')
  emu.failNext('getMe', { hangMs: 100 })
  const hangStarted = Date.now()
  await t.rejects(call(emu, 'getMe'))
  t.ok(Date.now() - hangStarted >= 90, 'hung before dropping')
  t.same(emu.calls('getMe').map((c) => c.status), [0, 0])

  emu.failFor('getMe', { status: 403, description: 'Forbidden: bot was blocked by the user' }, 10_000)
  t.equal((await call(emu, 'getMe')).status, 403)
  t.equal((await call(emu, 'getMe')).status, 403)
  emu.clearFaults()
  t.equal((await call(emu, 'getMe')).status, 200)

  emu.setMethodDelay('getMe', 100)
  const slowStarted = Date.now()
  t.equal((await call(emu, 'getMe')).status, 200)
  t.ok(Date.now() - slowStarted >= 90, 'the delay was applied')
})

t.test('emulator: waitForMessage says what it waited for when it times out', async (t) => {
  const emu = await start(t)
  emu.sendText(USER, USER, '/start')
  await t.rejects(emu.waitForMessage(USER, undefined, 50), {
    message: 'waitForMessage: a new bot message in chat 42 (new messages: none) did not happen within 50 ms; last API calls: none besides getUpdates',
  })
})

t.test('emulator: stop ends a held long poll', async (t) => {
  const emu = await BotApiEmulator.start()
  const held = call(emu, 'getUpdates', { timeout: 5 })
  await emu.waitFor(() => emu.activePollers() === 1)
  await emu.stop()
  await t.rejects(held)
  t.equal(emu.activePollers(), 0)
})
