// Reminders end to end: the real bot and the emulator, a real SQLite file, and a clock the test
// sets (frozen between jumps), so nothing here sleeps to wait for a due time. Each test builds
// on the clock and the tasks the previous one left.
import { DateTime } from 'luxon'
import t from 'tap'
import { AdjustableClock } from '../bot/clock.js'
import type { BotMessage } from '../dev/emulator/bot-api-emulator.js'
import { FRIEND, OWNER, startHarness } from './support/bot-harness.js'
import { reminderLoopLooked, waitUntil } from './support/wait.js'

const ZONE = 'Europe/Berlin'
const berlin = (local: string): number => DateTime.fromISO(local, { zone: ZONE }).toMillis()
const clock = new AdjustableClock(berlin('2026-11-24T22:30'), 0)
const h = await startHarness({ DEFAULT_TIMEZONE: ZONE }, { clock })
t.teardown(() => h.close())

// Reminder messages in the order they were sent, seen before any button edited them.
const seenReminders = new Map<number, number[]>()
function reminders (chat = OWNER): BotMessage[] {
  const ids = seenReminders.get(chat) ?? []
  for (const m of h.emu.messages(chat)) if (m.rendered.startsWith('⏰') && !ids.includes(m.message_id)) ids.push(m.message_id)
  seenReminders.set(chat, ids)
  return ids.map((id) => h.emu.messages(chat).find((m) => m.message_id === id)).filter((m) => m !== undefined)
}
const current = (m: BotMessage | undefined, chat = OWNER): string | undefined => h.emu.messages(chat).find((x) => x.message_id === m?.message_id)?.rendered

/** Jumps the clock and waits until the reminder loop has looked at the new time. */
async function jumpTo (local: string): Promise<void> {
  clock.set(berlin(local))
  await reminderLoopLooked(() => h.bot.health(), new Date(clock.now()).toISOString())
}

function buttonData (m: BotMessage | undefined, label: RegExp): string {
  const button = m?.reply_markup?.inline_keyboard.flat().find((b) => label.test(b.text))
  if (button?.callback_data === undefined) throw new Error(`no button ${label} on ${m?.rendered}`)
  return button.callback_data
}

async function press (m: BotMessage | undefined, label: RegExp, chat = OWNER): Promise<void> {
  const before = h.emu.callbackAnswers().length
  h.emu.pressButton(chat, chat, m?.message_id ?? 0, buttonData(m, label))
  await h.emu.waitFor(() => h.emu.callbackAnswers().length > before)
  await outboxEmpty()
}

async function outboxEmpty (): Promise<void> {
  await waitUntil(async () => (await h.bot.health()).metrics.outboxBacklog === 0, { what: 'the queued replies to be delivered', everyMs: 10 })
}

t.test('reminders: a due task is reminded at its time, once, with Done and Snooze buttons', async (t) => {
  t.equal((await h.say('pay rent tomorrow 9am')).rendered, 'Added:\n#1 pay rent — due Wed 25 Nov 09:00')
  await jumpTo('2026-11-25T08:59')
  t.same(reminders(), [], 'not before its time')
  t.equal((await h.bot.health()).reminders?.nextDueAt, new Date(berlin('2026-11-25T09:00')).toISOString(), 'health shows the next one')
  await jumpTo('2026-11-25T09:00')
  const [reminder] = await h.emu.waitFor(() => reminders().length === 1 && reminders())
  t.equal(reminder?.rendered, '⏰ #1 pay rent\ndue 09:00')
  t.same(reminder?.reply_markup?.inline_keyboard.flat().map((b) => b.text), ['✅ Done', '💤 10 min', '💤 1 hour', '🌅 Tomorrow'])
  await jumpTo('2026-11-25T09:30')
  t.equal(reminders().length, 1, 'not sent again')
  const rows = await h.bot.db('reminders').select('status', 'message_id')
  t.same(rows, [{ status: 'sent', message_id: reminder?.message_id }], 'recorded with the sent message id')
  const health = await h.bot.health()
  t.equal(health.reminders?.lastSentAt, new Date(berlin('2026-11-25T09:00')).toISOString())
  t.equal(health.reminders?.backlog, 0)
  t.match((await h.say('/health')).rendered, /Reminders: running, next none, last sent 2026-11-25 08:00 UTC, backlog 0/)
})

t.test('reminders: snooze 10 minutes, then done from the reminder', async (t) => {
  const first = reminders()[0]
  await press(first, /10 min/)
  t.match(current(first), /^💤 #1 pay rent\nI'll remind you again Wed 25 Nov 09:40\./)
  await jumpTo('2026-11-25T09:39')
  t.equal(reminders().length, 1)
  await jumpTo('2026-11-25T09:40')
  const snoozed = await h.emu.waitFor(() => reminders().length === 2 && reminders()[1])
  t.match(snoozed.rendered, /^⏰ #1 pay rent\n/)
  await press(snoozed, /Done/)
  t.equal(current(snoozed), '✅ Done: #1 pay rent')
  t.equal((await h.say('/list')).rendered, 'Nothing to do 🎉 Send me a message to add a task.')
  await jumpTo('2026-11-25T11:00')
  t.equal(reminders().length, 2)
})

t.test('reminders: a reminder due while the bot was stopped is sent after start, once, marked late', async (t) => {
  t.match((await h.say('call the bank at 14:00')).rendered, /#2 call the bank — due Wed 25 Nov 14:00/)
  await h.bot.stop()
  clock.set(berlin('2026-11-25T15:30'))
  await h.restart()
  const late = await h.emu.waitFor(() => reminders().length === 3 && reminders()[2])
  t.equal(late.rendered, '⏰ #2 call the bank\nwas due 14:00 (reminder delayed: I was offline at 14:00)')
  await h.restart()
  await jumpTo('2026-11-25T15:31')
  t.equal(reminders().length, 3, 'a restart does not send it again')
  await press(late, /Done/)
})

t.test('reminders: repeating tasks: done creates the next occurrence, which reminds on its day', async (t) => {
  await jumpTo('2026-11-27T08:00')
  t.equal((await h.say('standup every weekday 9:00')).rendered, 'Added:\n#3 standup — due Fri 27 Nov 09:00 🔁 every weekday')
  await jumpTo('2026-11-27T09:00')
  const friday = await h.emu.waitFor(() => reminders().length === 4 && reminders()[3])
  t.equal(friday.rendered, '⏰ #3 standup\ndue 09:00\n🔁 every weekday')
  await press(friday, /Done/)
  t.equal(current(friday), '✅ Done: #3 standup\n🔁 Next: #4 standup — due Mon 30 Nov 09:00 🔁 every weekday')
  await jumpTo('2026-11-28T09:00')
  t.equal(reminders().length, 4, 'no standup on Saturday')
  await jumpTo('2026-11-30T09:00')
  const monday = await h.emu.waitFor(() => reminders().length === 5 && reminders()[4])
  t.match(monday.rendered, /^⏰ #4 standup\n/)
  t.match((await h.say('/done 4')).rendered, /✅ Done: #4 standup\n🔁 Next: #5 standup — due Tue 1 Dec 09:00 🔁 every weekday/)
  await h.say('/del 5')
})

t.test('reminders: snooze until tomorrow morning and for an hour', async (t) => {
  await jumpTo('2026-11-30T17:00')
  await h.say('water plants at 18:00')
  await jumpTo('2026-11-30T18:00')
  const first = await h.emu.waitFor(() => reminders().length === 6 && reminders()[5])
  await press(first, /Tomorrow/)
  t.match(h.emu.callbackAnswers().at(-1)?.text, /💤 Until Tue 1 Dec 09:00/)
  await jumpTo('2026-12-01T09:00')
  const second = await h.emu.waitFor(() => reminders().length === 7 && reminders()[6])
  await press(second, /1 hour/)
  await jumpTo('2026-12-01T10:00')
  const third = await h.emu.waitFor(() => reminders().length === 8 && reminders()[7])
  t.match(third.rendered, /^⏰ #6 water plants\nwas due Mon 30 Nov 18:00/)
  await press(third, /Done/)
})

t.test('reminders: a chat in another time zone is reminded at its own local time', async (t) => {
  t.match((await h.say('/tz america/new_york', FRIEND)).rendered, /^🌍 Time zone set to America\/New_York \(it is 04:00 there now\)\.$/)
  t.equal((await h.say('call dad 9am', FRIEND)).rendered, 'Added:\n#1 call dad — due Tue 1 Dec 09:00')
  await jumpTo('2026-12-01T14:59')
  t.equal(reminders(FRIEND).length, 0)
  await jumpTo('2026-12-01T15:00')
  const r = await h.emu.waitFor(() => reminders(FRIEND)[0])
  t.equal(r.rendered, '⏰ #1 call dad\ndue 09:00')
  t.equal(reminders().length, 8, 'the owner got nothing of it')
  await press(r, /Done/, FRIEND)
})

t.test('reminders: /due, /today, /tz and /remind: set, change, clear, and clear errors', async (t) => {
  await jumpTo('2026-12-01T16:00')
  await h.say('buy stamps')
  t.equal((await h.say('/due 7 friday 10:00')).rendered, '📅 #7 buy stamps — due Fri 4 Dec 10:00\n⏰ I\'ll remind you Fri 4 Dec 10:00.')
  t.equal((await h.say('/due 7 none')).rendered, '📅 #7 buy stamps — no due date.')
  t.match((await h.say('/due 7 banana')).rendered, /^I could not read “banana” as a date\. Example: \/due 3 tomorrow 9am/)
  t.equal((await h.say('/due 99 friday')).rendered, 'There is no task #99.')
  t.match((await h.say('/due')).rendered, /^Which task, and when\?/)
  t.match((await h.say('/tz Mars/Base')).rendered, /^“Mars\/Base” is not a time zone I know\. Use an IANA name like Europe\/Berlin/)
  t.match((await h.say('/tz')).rendered, /^Your time zone is Europe\/Berlin \(it is 16:00 there now\)/)
  await h.say('renew passport yesterday')
  await h.say('post letter today')
  await h.say('dentist 3 dec 14:30')
  t.equal((await h.say('/today')).rendered, 'Today, Tue 1 Dec (2 due or overdue)\n\n#8 renew passport — ⚠️ overdue, was due Mon 30 Nov\n#9 post letter — due Tue 1 Dec')
  t.equal((await h.say('/list')).rendered.split('\n').slice(2).join('\n'), '#8 renew passport — ⚠️ overdue, was due Mon 30 Nov\n#9 post letter — due Tue 1 Dec\n#10 dentist — due Thu 3 Dec 14:30\n#7 buy stamps', '/list: due first, soonest first, then the rest')
  t.equal((await h.say('/remind 1h')).rendered, '⏰ I\'ll remind you 1 h before of each due task.')
  t.match((await h.say('/due 10 3 dec 14:30')).rendered, /⏰ I'll remind you Thu 3 Dec 13:30\./)
  t.match((await h.say('/remind soon')).rendered, /^“soon” is not a duration/)
  t.equal((await h.say('/remind off')).rendered, '⏰ I\'ll remind you at the due time of each due task.')
  t.equal((await h.say('/edit 10 dentist dr. weber')).rendered, '✏️ #10 now says: dentist dr. weber — due Thu 3 Dec 14:30', 'an edit without a date keeps the due date')
  t.equal((await h.say('/edit 10 dentist dr. weber friday 11:00')).rendered, '✏️ #10 now says: dentist dr. weber — due Fri 4 Dec 11:00', 'an edit with a date moves it')
  await h.say('review every monday 10:00')
  t.equal((await h.say('/due 11 wednesday 10:00')).rendered, '📅 #11 review — due Wed 2 Dec 10:00 🔁 every Monday\n⏰ I\'ll remind you Wed 2 Dec 10:00.', 'a new date for a repeating task keeps its rule')
  await h.say('/del 7-11')
})

t.test('reminders: the morning digest comes once a day at the chosen hour, also across a restart', async (t) => {
  t.match((await h.say('/digest 25:00')).rendered, /^“25:00” is not a time of day/)
  t.match((await h.say('/digest 8:00')).rendered, /Every day at 08:00 \(Europe\/Berlin\)/)
  await h.say('file taxes tomorrow')
  const digests = (): BotMessage[] => h.emu.messages(OWNER).filter((m) => m.rendered.startsWith('☀️ Good morning'))
  await jumpTo('2026-12-02T07:59')
  t.equal(digests().length, 0, 'turned on after 08:00: the first one is tomorrow')
  await jumpTo('2026-12-02T08:00')
  const d = await h.emu.waitFor(() => digests()[0])
  t.match(d.rendered, /^☀️ Good morning! Due today \(Wed 2 Dec\) and overdue:\n\n#12 file taxes — due Wed 2 Dec/)
  await h.restart()
  await jumpTo('2026-12-02T09:00')
  t.equal(digests().length, 1, 'once a day')
  t.equal((await h.say('/digest off')).rendered, 'Morning digest off.')
  await jumpTo('2026-12-03T08:00')
  t.equal(digests().length, 1)
  await h.say('/del 12')
})

t.test('reminders: sending keeps Telegram\'s limits: one per second per chat, and a 429 waits and retries', async (t) => {
  await jumpTo('2026-12-03T10:00')
  await h.say('one at 11:00\ntwo at 11:00\nthree at 11:00')
  h.emu.failNext('sendMessage', { status: 429, retryAfter: 1 })
  const before = reminders().length
  const sentBefore = h.emu.calls('sendMessage').length
  await jumpTo('2026-12-03T11:00')
  const three = await h.emu.waitFor(() => reminders().length === before + 3 && reminders().slice(before), 15_000)
  t.same(three.map((m) => m.rendered.split('\n')[0]), ['⏰ #13 one', '⏰ #14 two', '⏰ #15 three'])
  const calls = h.emu.calls('sendMessage').slice(sentBefore)
  t.equal(calls.filter((c) => c.status === 429).length, 1, 'Telegram said 429 once')
  const accepted = calls.filter((c) => c.status === 200).map((c) => c.at)
  t.equal(accepted.length, 3, 'three reminders accepted')
  for (let i = 1; i < accepted.length; i++) t.ok((accepted[i] ?? 0) - (accepted[i - 1] ?? 0) >= 950, `reminder ${i + 1} came at least a second after the one before`)
  await jumpTo('2026-12-03T12:00')
  t.equal(reminders().length, before + 3, 'none twice')
  t.same(await h.bot.db('reminders').where({ status: 'sending' }).select('id'), [])
})
