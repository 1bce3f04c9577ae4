// Open mode (issue 15): ALLOWED_USER_IDS=* lets anyone in, the owner is OWNER_USER_ID; the
// per-user rate limit (counted in the database, on the bot's injected clock), the task cap,
// /privacy, /help's limits and the owner's /stats; list mode still refuses strangers.
import t from 'tap'
import { AdjustableClock } from '../bot/clock.js'
import { checkEnvironment, loadConfig } from '../bot/config.js'
import { FRIEND, OWNER, STRANGER, startHarness, type Harness } from './support/bot-harness.js'
import { waitUntil } from './support/wait.js'

const good = { TELEGRAM_BOT_TOKEN: '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc' }
// A minute's start, frozen (rate 0): the test moves it by hand.
const MINUTE = Date.UTC(2026, 11, 1, 12, 0, 0)
const OTHER = 7777

t.test('open config: the owner is resolved, and each problem is one line naming the fix', async (t) => {
  const open = loadConfig({ ...good, ALLOWED_USER_IDS: '*', OWNER_USER_ID: '7' })
  t.same([open.openToAll, open.ownerUserId, open.allowedUserIds], [true, 7, [7]], 'open: the owner alone is listed (what ops reads as the owner)')
  t.same(open.limits, { ratePerMinute: 30, maxTasksPerChat: 10_000 }, 'the limits default to 30 a minute and 10 000 tasks')
  const list = loadConfig({ ...good, ALLOWED_USER_IDS: '42, 43', OWNER_USER_ID: '42', RATE_LIMIT_PER_MINUTE: '5', MAX_TASKS_PER_CHAT: '100' })
  t.same([list.openToAll, list.ownerUserId, list.allowedUserIds, list.limits], [false, 42, [42, 43], { ratePerMinute: 5, maxTasksPerChat: 100 }])
  t.equal(loadConfig({ ...good, ALLOWED_USER_IDS: '43,42' }).ownerUserId, 43, 'without OWNER_USER_ID the first listed id is the owner')
  const cases: Array<[Record<string, string>, string]> = [
    [{ ALLOWED_USER_IDS: '*' }, 'OWNER_USER_ID is missing, and ALLOWED_USER_IDS=* (open to anyone) needs it: put your own Telegram user id in .env (ask @userinfobot)'],
    [{ ALLOWED_USER_IDS: '*', OWNER_USER_ID: 'me' }, 'OWNER_USER_ID is not a positive numeric Telegram user id: put your own user id there (ask @userinfobot)'],
    [{ ALLOWED_USER_IDS: '*', OWNER_USER_ID: '0' }, 'OWNER_USER_ID is not a positive numeric Telegram user id: put your own user id there (ask @userinfobot)'],
    [{ ALLOWED_USER_IDS: '42,43', OWNER_USER_ID: '99' }, 'OWNER_USER_ID 99 is not in ALLOWED_USER_IDS: the owner must be one of the allowed users; add it (first) to ALLOWED_USER_IDS or remove OWNER_USER_ID'],
    [{ ALLOWED_USER_IDS: '42,43', OWNER_USER_ID: '43' }, 'OWNER_USER_ID 43 is not the first id of ALLOWED_USER_IDS, and the first listed id is the owner: put 43 first in ALLOWED_USER_IDS or remove OWNER_USER_ID'],
    [{ ALLOWED_USER_IDS: '*', OWNER_USER_ID: '7', RATE_LIMIT_PER_MINUTE: '0' }, 'RATE_LIMIT_PER_MINUTE is not a number of updates per minute: use 1–10000 (default 30)'],
    [{ ALLOWED_USER_IDS: '*', OWNER_USER_ID: '7', MAX_TASKS_PER_CHAT: 'lots' }, 'MAX_TASKS_PER_CHAT is not a number of tasks: use 1–1000000 (default 10000)'],
    [{ ALLOWED_USER_IDS: '*,42' }, 'ALLOWED_USER_IDS has "*" which is not a numeric Telegram user id: use comma-separated numbers like 123456789,987654321'],
  ]
  for (const [env, expected] of cases) t.same(checkEnvironment({ ...good, ...env }).problems, [expected], JSON.stringify(env))
})

/** Sends without waiting for a reply and resolves once the bot has recorded the update as handled. */
async function sendHandled (h: Harness, user: number, text: string): Promise<void> {
  const update = h.emu.sendText(user, user, text)
  await waitUntil(async () => (await h.bot.db('handled_updates').where({ update_id: update.update_id }).first()) !== undefined, { what: `update ${update.update_id} handled` })
}

t.test('open mode: anyone in, the rate limit, the task cap, /help, /privacy, owner-only commands', async (t) => {
  const clock = new AdjustableClock(MINUTE, 0)
  const h = await startHarness({ ALLOWED_USER_IDS: '*', OWNER_USER_ID: String(OWNER), MAX_TASKS_PER_CHAT: '40', BACKUP_SCHEDULE: 'off', DRILL_SCHEDULE: 'off' }, { clock })
  t.teardown(() => h.close())

  t.test('open: a stranger is let in', async (t) => {
    t.equal((await h.say('hello there', STRANGER)).rendered, 'Added:\n#1 hello there')
  })

  t.test('rate limit: the 31st update in a minute gets "Slow down" once, later ones nothing; it holds across a restart; next minute is fine', async (t) => {
    // The first update of this minute was "hello there" above.
    for (let i = 2; i <= 29; i++) t.equal((await h.say(`t${i}`, STRANGER)).rendered, `Added:\n#${i} t${i}`)
    await h.restart()
    t.equal((await h.say('t30', STRANGER)).rendered, 'Added:\n#30 t30', 'the 30th is answered, after a restart')
    const before = h.emu.messages(STRANGER).length
    t.equal((await h.say('t31', STRANGER)).rendered, 'Slow down: you sent more than 30 messages this minute, so I am ignoring the rest of them. Send again in 60 s.')
    await sendHandled(h, STRANGER, 't32')
    await sendHandled(h, STRANGER, '/list')
    t.equal(h.emu.messages(STRANGER).length, before + 1, 'one "Slow down", nothing for the rest')
    t.same((await h.bot.db('tasks').where({ chat_id: STRANGER }).count({ n: '*' }))[0], { n: 30 }, 'none of the dropped ones was applied')
    t.same(await h.bot.db('rate_limits').select('user_id', 'minute', 'count'), [{ user_id: STRANGER, minute: MINUTE / 60_000, count: 33 }])
    clock.set(MINUTE + 60_000)
    t.equal((await h.say('t33', STRANGER)).rendered, 'Added:\n#31 t33', 'a new minute is fine')
    t.same(await h.bot.db('rate_limits').select('user_id', 'minute', 'count'), [{ user_id: STRANGER, minute: MINUTE / 60_000 + 1, count: 1 }], 'the old minute is gone')
  })

  t.test('rate limit: the owner is never limited', async (t) => {
    for (let i = 1; i <= 35; i++) t.equal((await h.say(`o${i}`)).rendered, `Added:\n#${i} o${i}`)
    t.same(await h.bot.db('rate_limits').where({ user_id: OWNER }).select('count'), [], 'not even counted')
  })

  t.test('task cap: adding beyond MAX_TASKS_PER_CHAT answers why and stores nothing', async (t) => {
    t.equal((await h.say('o36\no37\no38\no39\no40\no41')).rendered, 'That would make 41 tasks in this chat, and 40 is the most it may hold: add fewer, or delete some first (/clear removes the completed ones). Nothing was added.')
    t.equal((await h.say('o36\no37\no38\no39\no40')).rendered, 'Added 5 tasks:\n#36 o36\n#37 o37\n#38 o38\n#39 o39\n#40 o40')
    t.equal((await h.say('/add one more')).rendered, 'This chat already has 40 tasks, the most it may hold: delete some (/clear removes the completed ones) and send it again. Nothing was added.')
    t.same((await h.bot.db('tasks').where({ chat_id: OWNER }).count({ n: '*' }))[0], { n: 40 })
    t.same((await h.bot.db('chats').where({ id: OWNER }).first('next_number')), { next_number: 41 }, 'no number was used up by the refused adds')
  })

  t.test('help: /help shows the limits in force', async (t) => {
    t.match((await h.say('/help', OTHER)).rendered, /\nLimits: 30 messages a minute per person, 40 tasks per chat, 1,000 characters per task\.$/)
  })

  t.test('privacy: /privacy says what is stored, for how long, and how to delete it', async (t) => {
    t.equal((await h.say('/privacy', OTHER)).rendered, [
      'What I store about this chat',
      '• Your tasks: their text, numbers, due dates, repeats and reminders, and when they were added and done. Deleted tasks are kept until /forget (so Undo works).',
      '• The chat\'s settings: /tz, /digest, /remind.',
      '• Replies waiting to be sent, until they are delivered.',
      '• The ids of the updates Telegram sent me (not their content), for 24 hours, so none is applied twice; and how many messages you sent in the current minute (for the rate limit).',
      '• Logs: update ids, user ids and errors, never your task text at the normal log level. They are rotated by size and the oldest is dropped after 5 files.',
      '',
      'Backups',
      'No scheduled backups are made here. Backups made by updates of the bot or by hand: until 10 newer ones exist.',
      '',
      'Deleting it',
      '/forget deletes everything stored about this chat at once (after a confirm button). Backups made before that are not changed: they age out as above.',
    ].join('\n'))
  })

  t.test('owner only: /stats and /health answer the owner, anyone else gets the unknown-command answer', async (t) => {
    t.equal((await h.say('/stats', OTHER)).rendered, "I don't know /stats. Send /help to see what I can do.")
    t.equal((await h.say('/health', OTHER)).rendered, "I don't know /health. Send /help to see what I can do.")
    t.match((await h.say('/health')).rendered, /^✅ Healthy/)
    t.match((await h.say('/stats')).rendered, /^Stats\nUsers: 2 \(private chats\)\nChats: 2\nTasks: 71 open, 0 done\n/)
  })
})

t.test('list mode: strangers are still refused; /stats counts users, chats, tasks and updates for the owner alone', async (t) => {
  const clock = new AdjustableClock(MINUTE, 0)
  const h = await startHarness({ BACKUP_SCHEDULE: 'off', DRILL_SCHEDULE: 'off' }, { clock })
  t.teardown(() => h.close())
  t.equal((await h.say('let me in', STRANGER)).rendered, `Sorry, this is a private to-do bot. (Your Telegram user id is ${STRANGER}; the owner can add it to ALLOWED_USER_IDS.)`)
  t.equal((await h.say('a\nb')).rendered, 'Added 2 tasks:\n#1 a\n#2 b')
  t.match((await h.say('/done 1')).rendered, /^✅ Done: #1 a/)
  t.equal((await h.say('c', FRIEND)).rendered, 'Added:\n#1 c')
  t.equal((await h.say('/stats', FRIEND)).rendered, "I don't know /stats. Send /help to see what I can do.")
  t.match((await h.say('/health', FRIEND)).rendered, /^✅ Healthy/, 'in list mode the listed users keep /health')
  t.equal((await h.say('/help', FRIEND)).rendered.split('\n').at(-1), 'Limits: 1,000 characters per task.', 'no per-user limits in list mode')
  // Updates so far: refused, add, done, add, /stats, /health, /help, and this /stats: 8, all this minute.
  t.equal((await h.say('/stats')).rendered, 'Stats\nUsers: 2 (private chats)\nChats: 2\nTasks: 2 open, 1 done\nUpdates: 8 in the last minute, 8 in the last hour\nInstances: 1 (polling)')
  clock.set(MINUTE + 5 * 60_000)
  t.equal((await h.say('/stats')).rendered, 'Stats\nUsers: 2 (private chats)\nChats: 2\nTasks: 2 open, 1 done\nUpdates: 1 in the last minute, 9 in the last hour\nInstances: 1 (polling)')
  t.same(await h.bot.db('rate_limits').select('user_id'), [], 'listed users are not counted')
})
