// When reminders, snoozes and digests fall (bot/reminders/schedule.ts), read directly on the
// chat's wall clock; due-dates.test.ts has the common cases, the reminder tests the loop.
import { DateTime } from 'luxon'
import t from 'tap'
import { digestDay, reminderTime, snoozeUntil } from '../bot/reminders/schedule.js'

const BERLIN = 'Europe/Berlin'
const at = (local: string, zone = BERLIN): number => DateTime.fromISO(local, { zone }).toMillis()

t.test('reminder schedule: the edges of now — a time that is now has passed', async (t) => {
  const now = at('2026-11-25T10:00')
  t.equal(reminderTime({ dueAt: null, dueHasTime: false, remindBeforeMin: 30 }, 60, BERLIN, now), null, 'no due date, no reminder')
  t.equal(reminderTime({ dueAt: now + 1, dueHasTime: true, remindBeforeMin: null }, 0, BERLIN, now), now + 1, 'a millisecond ahead: then')
  t.equal(reminderTime({ dueAt: now, dueHasTime: true, remindBeforeMin: null }, 0, BERLIN, now), null, 'due this very moment: shown as due, not reminded')
  t.equal(reminderTime({ dueAt: now + 30 * 60_000, dueHasTime: true, remindBeforeMin: 30 }, 0, BERLIN, now), now, 'the lead falls on now, the time itself is ahead: now')
  t.equal(reminderTime({ dueAt: now + 30 * 60_000 + 1, dueHasTime: true, remindBeforeMin: 30 }, 0, BERLIN, now), now + 1, 'the lead a millisecond ahead: then')
})

t.test('reminder schedule: the lead is the task\'s own, else the chat\'s, in minutes', async (t) => {
  const now = at('2026-11-25T10:00')
  const due = at('2026-11-25T12:00')
  t.equal(reminderTime({ dueAt: due, dueHasTime: true, remindBeforeMin: 0 }, 60, BERLIN, now), due, 'a task lead of 0 wins over the chat\'s hour')
  t.equal(reminderTime({ dueAt: due, dueHasTime: true, remindBeforeMin: 90 }, 0, BERLIN, now), at('2026-11-25T10:30'))
  t.equal(reminderTime({ dueAt: at('2026-11-26T00:00'), dueHasTime: false, remindBeforeMin: null }, 60, BERLIN, now), at('2026-11-26T08:00'), 'a whole day: an hour before 09:00')
  t.equal(reminderTime({ dueAt: due, dueHasTime: true, remindBeforeMin: 150 }, 0, BERLIN, now), now, 'the lead has passed, the time has not: now')
  t.equal(reminderTime({ dueAt: at('2026-11-25T09:30'), dueHasTime: false, remindBeforeMin: null }, 0, BERLIN, at('2026-11-25T09:15')), null, 'a whole day whose morning has passed is not reminded')
})

t.test('reminder schedule: snoozes — 10 minutes, an hour, tomorrow at 09:00 on the chat\'s clock', async (t) => {
  const now = at('2026-11-25T23:30')
  t.equal(snoozeUntil(10, BERLIN, now), now + 10 * 60_000)
  t.equal(snoozeUntil(60, BERLIN, now), now + 3_600_000)
  t.equal(snoozeUntil('morning', BERLIN, now), at('2026-11-26T09:00'))
  t.equal(snoozeUntil('morning', BERLIN, at('2026-11-26T00:30')), at('2026-11-27T09:00'), 'after midnight: the next morning, not this one')
  t.equal(snoozeUntil('morning', 'Asia/Tokyo', at('2026-11-25T20:00', 'UTC')), at('2026-11-27T09:00', 'Asia/Tokyo'), 'in the chat\'s zone (Tokyo is already on the 26th)')
})

t.test('reminder schedule: the digest falls at its hour on the chat\'s local date, due from that minute on', async (t) => {
  const before = digestDay('8:00', BERLIN, at('2026-11-25T07:59'))
  t.strictSame(before, { localDate: '2026-11-25', at: at('2026-11-25T08:00'), due: false, nextAt: at('2026-11-25T08:00') })
  const onTime = digestDay('8:00', BERLIN, at('2026-11-25T08:00'))
  t.strictSame(onTime, { localDate: '2026-11-25', at: at('2026-11-25T08:00'), due: true, nextAt: at('2026-11-26T08:00') })
  t.strictSame(digestDay('18:30', BERLIN, at('2026-11-25T23:30', 'UTC')), { localDate: '2026-11-26', at: at('2026-11-26T18:30'), due: false, nextAt: at('2026-11-26T18:30') }, 'past midnight in Berlin: the 26th')
  t.strictSame(digestDay('7', BERLIN, at('2026-11-25T12:00')), { localDate: '2026-11-25', at: at('2026-11-25T07:00'), due: true, nextAt: at('2026-11-26T07:00') }, 'an hour alone is on the hour')
})
