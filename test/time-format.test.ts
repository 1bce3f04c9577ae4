// How times are shown and compared on the chat's wall clock (bot/time/format.ts): the year only
// when it is not this one, overdue by the minute or, for a whole-day task, by the day.
import { DateTime } from 'luxon'
import t from 'tap'
import { formatClock, formatDay, formatDue, isOverdue, isSameDay } from '../bot/time/format.js'
import { localDate } from '../bot/time/zone.js'

const BERLIN = 'Europe/Berlin'
const TOKYO = 'Asia/Tokyo'
const at = (local: string, zone = BERLIN): number => DateTime.fromISO(local, { zone }).toMillis()
const view = { zone: BERLIN, now: at('2026-11-24T22:30') }

t.test('time format: day and time on the chat\'s wall clock, the year only when it is another', async (t) => {
  t.equal(formatDay(at('2026-11-25T09:00'), view), 'Wed 25 Nov')
  t.equal(formatDay(at('2027-01-02T09:00'), view), 'Sat 2 Jan 2027')
  t.equal(formatDay(at('2025-12-31T23:00'), view), 'Wed 31 Dec 2025')
  t.equal(formatClock(at('2026-11-25T09:05'), BERLIN), '09:05')
  t.equal(formatClock(at('2026-11-25T09:05'), TOKYO), '17:05', 'the same instant in Tokyo')
  t.equal(formatDue({ at: at('2026-11-25T09:00'), hasTime: true }, view), 'Wed 25 Nov 09:00')
  t.equal(formatDue({ at: at('2026-11-25T00:00'), hasTime: false }, view), 'Wed 25 Nov')
  t.equal(formatDue({ at: at('2026-11-25T09:00'), hasTime: true }, { zone: TOKYO, now: view.now }), 'Wed 25 Nov 17:00')
  t.equal(localDate(at('2026-11-24T23:30'), BERLIN), '2026-11-24')
  t.equal(localDate(at('2026-11-24T23:30'), TOKYO), '2026-11-25')
})

t.test('time format: overdue by the minute, a whole-day task only once its day is over', async (t) => {
  t.equal(isOverdue({ at: view.now - 60_000, hasTime: true }, view), true, 'a minute ago')
  t.equal(isOverdue({ at: view.now, hasTime: true }, view), false, 'right now is not overdue yet')
  t.equal(isOverdue({ at: view.now + 60_000, hasTime: true }, view), false)
  t.equal(isOverdue({ at: at('2026-11-24T00:00'), hasTime: false }, view), false, 'today, 22:30: the day is not over')
  t.equal(isOverdue({ at: at('2026-11-23T00:00'), hasTime: false }, view), true, 'yesterday')
  t.equal(isOverdue({ at: at('2026-11-24T00:00'), hasTime: false }, { zone: BERLIN, now: at('2026-11-24T23:59:59.999') }), false, 'the last millisecond of the day')
  t.equal(isOverdue({ at: at('2026-11-24T00:00'), hasTime: false }, { zone: BERLIN, now: at('2026-11-25T00:00') }), true, 'the first of the next')
})

t.test('time format: the same day is the chat\'s day, not UTC\'s', async (t) => {
  t.equal(isSameDay(at('2026-11-24T00:30'), view), true)
  t.equal(isSameDay(at('2026-11-25T00:30'), view), false)
  t.equal(isSameDay(at('2026-11-24T00:30'), { zone: TOKYO, now: view.now }), false, 'in Tokyo it is already the 25th')
  t.equal(isSameDay(at('2026-11-25T08:00'), { zone: TOKYO, now: view.now }), true)
})
