// createPipeline (bot/updates/pipeline.ts) unit by unit: the real dispatch, turn and repositories
// on a migrated SQLite file, the real ledger, and the HTTP emulator for the one call the pipeline
// makes itself (a refusal). What is stored, what is queued for the user, what is counted and logged.
import path from 'node:path'
import { Api } from 'node-telegram-bot-api'
import type * as T from 'node-telegram-bot-api/types'
import t, { type Test } from 'tap'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { refusalText } from '../bot/access.js'
import { ChatSettingsRepository } from '../bot/chats/settings.js'
import { commandList, createDispatch, type Dispatch } from '../bot/commands/index.js'
import { openDatabase, type Database } from '../bot/db.js'
import { createLogger } from '../bot/logger.js'
import { Metrics } from '../bot/metrics.js'
import { openGate } from '../bot/open/rate-limit.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import { Turn } from '../bot/turn.js'
import { UpdateLedger } from '../bot/updates/ledger.js'
import { createPipeline, SORRY } from '../bot/updates/pipeline.js'
import { tempDir } from './support/bot-harness.js'

const OWNER = 2001
const STRANGER = 2999
const NOW = Date.UTC(2026, 11, 2, 12, 0, 0)

type Setup = { emu: BotApiEmulator, db: Database, metrics: Metrics, logs: Array<Record<string, unknown>>, handle: (u: T.Update) => Promise<void> }

/** The pipeline as bot/app.ts wires it; `dispatch` wraps the real one (to make an update fail). */
async function setup (t: Test, options: { wrap?: (real: Dispatch) => Dispatch, openToAll?: boolean, ratePerMinute?: number } = {}): Promise<Setup> {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  const db = openDatabase({ engine: 'sqlite', file: path.join(tempDir(), 'todo.sqlite') })
  t.teardown(() => db.destroy())
  await db.migrate.latest()
  const now = (): number => NOW
  const logs: Array<Record<string, unknown>> = []
  const logger = createLogger('debug', { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } })
  const metrics = new Metrics()
  const real = createDispatch('mister_todo_bot', commandList())
  const handle = createPipeline({
    api: new Api(emu.token, { apiRoot: emu.apiRoot, maxRetries: 0 }),
    ledger: new UpdateLedger(db, now),
    dispatch: options.wrap?.(real) ?? real,
    allowedUserIds: [OWNER],
    metrics,
    logger,
    newTurn: (trx, chatId, updateId, settings) => new Turn({ tasks: new TaskRepository(trx, now), chats: new ChatSettingsRepository(trx, now), settings, chatId, updateId, now: now(), defaultZone: 'UTC' }),
    ...(options.openToAll === undefined ? {} : { open: openGate({ openToAll: options.openToAll, ownerUserId: OWNER, limits: { ratePerMinute: options.ratePerMinute ?? 30, maxTasksPerChat: 1000 } }, now) }),
  })
  return { emu, db, metrics, logs, handle }
}

let nextId = 1000
const user = (id: number): T.User => ({ id, is_bot: false, first_name: `u${id}` })
const chat = (id: number): T.Chat => ({ id, type: 'private', first_name: `u${id}` } as T.Chat)
const message = (from: number, text: string, chatId = from): T.Update => ({ update_id: nextId++, message: { message_id: nextId, date: 1, from: user(from), chat: chat(chatId), text } } as T.Update)
const press = (from: number, data: string, chatId = from): T.Update => ({ update_id: nextId++, callback_query: { id: `cb${nextId}`, from: user(from), chat_instance: 'x', data, message: { message_id: 1, date: 1, chat: chat(chatId) } } } as T.Update)

/** The outbox as the user will get it: method and text (or callback id). */
async function outbox (db: Database): Promise<unknown[][]> {
  const rows = await db('outbox').orderBy('id').select('update_id', 'method', 'params') as Array<{ update_id: number, method: string, params: string }>
  return rows.map((r) => { const p = JSON.parse(r.params) as Record<string, unknown>; return [r.update_id, r.method, p.chat_id ?? p.callback_query_id, p.text ?? null] })
}
const handled = async (db: Database): Promise<number[]> => (await db('handled_updates').orderBy('update_id').pluck('update_id')).map(Number)
const tasks = async (db: Database): Promise<Array<[number, string]>> => (await db('tasks').orderBy('id').select('chat_id', 'text') as Array<{ chat_id: number, text: string }>).map((r) => [Number(r.chat_id), r.text])
const counts = (m: Metrics): number[] => [m.updates, m.duplicates, m.refused, m.errors]
const logged = (logs: Array<Record<string, unknown>>, level: number): unknown[][] => logs.filter((l) => l.level === level).map((l) => [l.msg, l.updateId, l.userId])

t.test('pipeline: an allowed user\'s message is applied once, its reply queued; the same update again changes nothing', async (t) => {
  const { db, metrics, logs, handle } = await setup(t)
  const u = message(OWNER, 'buy milk')
  const before = performance.now()
  await handle(u)
  const wall = performance.now() - before
  t.same(await tasks(db), [[OWNER, 'buy milk']])
  t.same(await outbox(db), [[u.update_id, 'sendMessage', OWNER, 'Added:\n<b>#1</b> buy milk']])
  t.same(counts(metrics), [1, 0, 0, 0])
  const recorded = metrics.percentile(100) ?? -1
  t.ok(recorded > 0 && recorded <= wall + 0.01, `the handling time recorded (${recorded} ms) is the call's (${wall} ms) at most`)
  await handle(u)
  t.same(await tasks(db), [[OWNER, 'buy milk']])
  t.equal((await outbox(db)).length, 1)
  t.same(counts(metrics), [2, 1, 0, 0], 'counted as an update and a duplicate')
  const debug = logs.filter((l) => l.msg === 'update handled')
  t.same(debug.map((l) => [l.updateId, typeof l.ms]), [[u.update_id, 'number'], [u.update_id, 'number']])
  const ms = debug[0]?.ms as number
  t.ok(ms > 0 && ms <= wall + 0.01, `the first handling took ${ms} ms, within the ${wall} ms the call took`)
  t.equal(Number(ms.toFixed(2)), ms, 'rounded to hundredths')
  t.same(logged(logs, 30), [])
})

t.test('pipeline: an edited message is answered in its chat', async (t) => {
  const { db, handle } = await setup(t)
  const u = { update_id: nextId++, edited_message: { message_id: 5, date: 1, edit_date: 2, from: user(OWNER), chat: chat(OWNER), text: 'x' } } as T.Update
  await handle(u)
  t.same(await outbox(db), [[u.update_id, 'sendMessage', OWNER, 'Editing a message does not change its task: use /edit 3 new text.']])
})

t.test('pipeline: a stranger gets one refusal, nothing about them is stored but the update id, and it is not counted as an update', async (t) => {
  const { emu, db, metrics, logs, handle } = await setup(t)
  emu.sendText(STRANGER, STRANGER, 'hi')
  const u = message(STRANGER, 'let me in')
  await handle(u)
  await handle(u)
  t.same(emu.messages(STRANGER).map((m) => m.text), [refusalText(STRANGER)], 'refused once, not again on redelivery')
  t.same(await handled(db), [u.update_id])
  t.same(await tasks(db), [])
  t.same(await outbox(db), [])
  t.same(counts(metrics), [0, 0, 1, 0])
  t.same(logged(logs, 30), [['refused: user not on the allow-list', u.update_id, STRANGER]])
})

t.test('pipeline: a stranger\'s button press is answered with the short refusal', async (t) => {
  const { emu, db, handle } = await setup(t)
  const u = emu.pressButton(STRANGER, STRANGER, 1, 'd:1') as T.Update
  await handle(u)
  t.same(emu.callbackAnswers().map((a) => [a.callback_query_id, a.text]), [[(u as { callback_query: { id: string } }).callback_query.id, 'Sorry, this is a private to-do bot.']])
  t.same(await handled(db), [u.update_id])
})

t.test('pipeline: a refusal Telegram does not take is logged, and the update still counts as handled', async (t) => {
  const { emu, db, metrics, logs, handle } = await setup(t)
  emu.sendText(STRANGER, STRANGER, 'hi')
  emu.failNext('sendMessage', { status: 500 })
  const u = message(STRANGER, 'let me in')
  await handle(u)
  t.same(await handled(db), [u.update_id])
  t.same(counts(metrics), [0, 0, 1, 0])
  t.same(logged(logs, 40), [['refusal not delivered', u.update_id, undefined]])
  t.equal((logs.find((l) => l.level === 40)?.err as { message?: string } | undefined)?.message, '500: Internal Server Error')
})

t.test('pipeline: an update without a sender or a chat is recorded and nothing else', async (t) => {
  const { emu, db, metrics, logs, handle } = await setup(t)
  const channelPost = { update_id: nextId++, channel_post: { message_id: 1, date: 1, chat: { id: -100, type: 'channel' }, text: 'x' } } as unknown as T.Update
  const member = { update_id: nextId++, my_chat_member: { chat: chat(OWNER), from: user(OWNER), date: 1, old_chat_member: {}, new_chat_member: {} } } as unknown as T.Update
  const inaccessible = { update_id: nextId++, callback_query: { id: 'q', from: user(OWNER), chat_instance: 'x', data: 'd:1' } } as T.Update
  for (const u of [channelPost, member, inaccessible]) await handle(u)
  t.same(await handled(db), [channelPost.update_id, member.update_id, inaccessible.update_id])
  t.same(await outbox(db), [])
  t.same(emu.calls().length, 0, 'nothing sent')
  t.same(counts(metrics), [0, 0, 0, 0])
  t.same(logged(logs, 30), [])
})

t.test('pipeline: a button press the command does not answer is answered by the pipeline, once', async (t) => {
  // A button whose command only replies ('talk') or does nothing at all (anything else).
  const silent: (real: Dispatch) => Dispatch = (real) => async (turn, update, trx) => {
    if (!('callback_query' in update)) await real(turn, update, trx)
    else if (update.callback_query.data === 'talk') turn.reply('said')
  }
  const { db, handle } = await setup(t, { wrap: silent })
  const u = press(OWNER, 'whatever')
  await handle(u)
  const id = (u as { callback_query: { id: string } }).callback_query.id
  t.same(await outbox(db), [[u.update_id, 'answerCallbackQuery', id, null]])
  const talk = press(OWNER, 'talk')
  await handle(talk)
  const talkId = (talk as { callback_query: { id: string } }).callback_query.id
  t.same((await outbox(db)).slice(1), [[talk.update_id, 'sendMessage', OWNER, 'said'], [talk.update_id, 'answerCallbackQuery', talkId, null]], 'a reply is not an answer: the button is answered after it')
  const answered = await setup(t)
  const v = press(OWNER, 'd:1')
  await answered.handle(v)
  const rows = await outbox(answered.db)
  t.equal(rows.filter((r) => r[1] === 'answerCallbackQuery').length, 1, 'a command that answers is not answered twice')
})

t.test('pipeline: a bad command is answered with its explanation (escaped), stored as handled, and nothing of it kept', async (t) => {
  const { db, metrics, logs, handle } = await setup(t)
  const u = message(OWNER, '/done <x>')
  await handle(u)
  t.same(await outbox(db), [[u.update_id, 'sendMessage', OWNER, '“&lt;x&gt;” is not a task number. Give task numbers like 3, 3 5 8 or 3-6.']])
  t.equal(JSON.parse((await db('outbox').first('params') as { params: string }).params).parse_mode, 'HTML')
  t.same(await handled(db), [u.update_id])
  t.same(counts(metrics), [1, 0, 0, 0], 'not an error')
  t.same(logged(logs, 50), [])
})

t.test('pipeline: a failure inside a command rolls back its changes and answers SORRY; a button is answered first', async (t) => {
  const failing: (real: Dispatch) => Dispatch = (real) => async (turn, update, trx) => {
    await real(turn, update, trx)
    if ('callback_query' in update || ('message' in update && update.message.text === 'boom')) throw new Error('disk on fire')
  }
  const { db, metrics, logs, handle } = await setup(t, { wrap: failing })
  const u = message(OWNER, 'boom')
  await handle(u)
  t.same(await tasks(db), [], 'the task the command added was rolled back')
  t.same(await outbox(db), [[u.update_id, 'sendMessage', OWNER, SORRY]])
  t.same(counts(metrics), [1, 0, 0, 1])
  const errors = logs.filter((l) => l.level === 50)
  t.same(errors.map((l) => [l.msg, l.updateId, (l.err as { message: string }).message]), [['update failed', u.update_id, 'disk on fire']])
  t.notMatch(JSON.stringify(logs), 'boom', 'the task text is not logged')
  const p = press(OWNER, 'd:1')
  await handle(p)
  const id = (p as { callback_query: { id: string } }).callback_query.id
  t.same((await outbox(db)).slice(1), [[p.update_id, 'answerCallbackQuery', id, null], [p.update_id, 'sendMessage', OWNER, SORRY]])
  await handle(u)
  t.same(counts(metrics), [3, 1, 0, 2], 'the failed update, redelivered, is a duplicate')
  t.equal(SORRY, 'Sorry, something went wrong on my side and that was not saved. Please try again in a moment.')
})

t.test('pipeline: open mode lets a stranger in, and counts them against the rate limit', async (t) => {
  const { emu, db, metrics, handle } = await setup(t, { openToAll: true, ratePerMinute: 1 })
  const first = message(STRANGER, 'one')
  const second = message(STRANGER, 'two')
  const third = message(STRANGER, 'three')
  for (const u of [first, second, third]) await handle(u)
  t.same(await tasks(db), [[STRANGER, 'one']])
  const rows = await outbox(db)
  t.same(rows.map((r) => r.slice(0, 3)), [[first.update_id, 'sendMessage', STRANGER], [second.update_id, 'sendMessage', STRANGER]])
  t.match(String(rows[1]?.[3]), /^Slow down: you sent more than 1 messages this minute/)
  t.same(await handled(db), [first.update_id, second.update_id, third.update_id])
  t.same(emu.calls().length, 0, 'no refusal')
  t.same(counts(metrics), [3, 0, 0, 0])
})

t.test('pipeline: open mode off (a list) still refuses a stranger', async (t) => {
  const { db, metrics, handle } = await setup(t, { openToAll: false })
  await handle(message(STRANGER, 'x'))
  t.same(await tasks(db), [])
  t.same(counts(metrics), [0, 0, 1, 0])
})
