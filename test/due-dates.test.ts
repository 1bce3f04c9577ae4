// Reading due dates the way people write them, on the chat's wall clock, across time zones and
// daylight-saving changes; repeats and reminder times keep the local time of day.
import { DateTime } from 'luxon'
import t from 'tap'
import { MORNING_HOUR, reminderTime, snoozeUntil } from '../bot/reminders/schedule.js'
import { parseDue } from '../bot/time/parse-due.js'
import { describeRepeat, nextAfter, nextOccurrence, type RepeatRule } from '../bot/time/repeat.js'
import { canonicalZone } from '../bot/time/zone.js'

const BERLIN = 'Europe/Berlin'
const NEW_YORK = 'America/New_York'
const TOKYO = 'Asia/Tokyo'
const UTC = 'UTC'

const at = (local: string, zone: string): number => DateTime.fromISO(local, { zone }).toMillis()
const show = (ms: number, zone: string): string => DateTime.fromMillis(ms, { zone }).toFormat('yyyy-MM-dd HH:mm ZZ')

// [zone, now (local), what the user wrote, task text left, due (local, with offset) or a date, repeat]
type Row = [string, string, string, string, string | null, string?]
const TABLE: Row[] = [
  // Plain phrasings, Berlin on Tue 24 Nov 2026, 22:30
  [BERLIN, '2026-11-24T22:30', 'pay rent tomorrow 9am', 'pay rent', '2026-11-25 09:00 +01:00'],
  [BERLIN, '2026-11-24T22:30', 'call mom friday', 'call mom', '2026-11-27'],
  [BERLIN, '2026-11-24T22:30', 'dentist 3 dec 14:30', 'dentist', '2026-12-03 14:30 +01:00'],
  [BERLIN, '2026-11-24T22:30', 'standup every weekday 9:00', 'standup', '2026-11-25 09:00 +01:00', 'every weekday'],
  [BERLIN, '2026-11-24T22:30', 'in 2 hours check the oven', 'check the oven', '2026-11-25 00:30 +01:00'],
  [BERLIN, '2026-11-24T22:30', 'check the oven in 30 minutes', 'check the oven', '2026-11-24 23:00 +01:00'],
  [BERLIN, '2026-11-24T22:30', 'meet anna at 5', 'meet anna', '2026-11-25 17:00 +01:00'],
  [BERLIN, '2026-11-24T22:30', 'meet anna at 5am', 'meet anna', '2026-11-25 05:00 +01:00'],
  [BERLIN, '2026-11-24T22:30', 'report due by next monday', 'report due', '2026-11-30'],
  [BERLIN, '2026-11-24T22:30', 'tomorrow 18:00 pick up parcel', 'pick up parcel', '2026-11-25 18:00 +01:00'],
  [BERLIN, '2026-11-24T22:30', 'taxes on 31 january', 'taxes', '2027-01-31'],
  [BERLIN, '2026-11-24T22:30', 'book flights on dec 20 at 10am', 'book flights', '2026-12-20 10:00 +01:00'],
  [BERLIN, '2026-11-24T22:30', 'water plants every day', 'water plants', '2026-11-24', 'every day'],
  [BERLIN, '2026-11-24T22:30', 'rent every month on the 1st', 'rent', '2026-12-01', 'every month on the 1st'],
  [BERLIN, '2026-11-24T22:30', 'review every 2 weeks', 'review', '2026-11-24', 'every 2 weeks on Tuesday'],
  [BERLIN, '2026-11-24T22:30', 'gym every monday 7pm', 'gym', '2026-11-30 19:00 +01:00', 'every Monday'],
  [BERLIN, '2026-11-24T22:30', 'bins every other week on thursday', 'bins', '2026-11-26', 'every 2 weeks on Thursday'],
  [BERLIN, '2026-11-24T22:30', 'backup daily 23:00', 'backup', '2026-11-24 23:00 +01:00', 'every day'],
  [BERLIN, '2026-11-24T22:30', 'birthday card yearly on 2 jan', 'birthday card', '2027-01-02', 'every year'],
  [BERLIN, '2026-11-24T22:30', 'dentist 3 dec 14:30 remind 30m before', 'dentist', '2026-12-03 14:30 +01:00'],
  // Not dates: left alone
  [BERLIN, '2026-11-24T22:30', 'buy milk', 'buy milk', null],
  [BERLIN, '2026-11-24T22:30', 'watch 24 hours movie', 'watch 24 hours movie', null],
  [BERLIN, '2026-11-24T22:30', 'read chapter 5', 'read chapter 5', null],
  [BERLIN, '2026-11-24T22:30', 'buy 2 cans of paint', 'buy 2 cans of paint', null],
  [BERLIN, '2026-11-24T22:30', "'; DROP TABLE tasks; --", "'; DROP TABLE tasks; --", null],
  [BERLIN, '2026-11-24T22:30', 'every', 'every', null],
  [BERLIN, '2026-11-24T22:30', 'night shift notes', 'night shift notes', null],
  [BERLIN, '2026-11-24T22:30', 'morning run tomorrow 7am', 'morning run', '2026-11-25 07:00 +01:00'],
  // Other zones: the same words mean their own local time
  [NEW_YORK, '2026-11-24T16:30', 'pay rent tomorrow 9am', 'pay rent', '2026-11-25 09:00 -05:00'],
  [NEW_YORK, '2026-11-24T16:30', 'call mom tonight', 'call mom', '2026-11-24 22:00 -05:00'],
  [NEW_YORK, '2026-11-24T16:30', 'standup every weekday 9:00', 'standup', '2026-11-25 09:00 -05:00', 'every weekday'],
  [TOKYO, '2026-11-25T06:30', 'pay rent tomorrow 9am', 'pay rent', '2026-11-26 09:00 +09:00'],
  [TOKYO, '2026-11-25T06:30', 'stretch at 7:00', 'stretch', '2026-11-25 07:00 +09:00'],
  [UTC, '2026-11-24T21:30', 'deploy friday 10:00', 'deploy', '2026-11-27 10:00 +00:00'],
  // A weekday rule on a Friday evening: the next one is Monday
  [BERLIN, '2026-11-27T18:00', 'standup every weekday 9:00', 'standup', '2026-11-30 09:00 +01:00', 'every weekday'],
  // DST, Europe/Berlin: clocks go forward on Sun 28 Mar 2027, back on Sun 31 Oct 2027
  [BERLIN, '2027-03-27T10:00', 'call tomorrow 9am', 'call', '2027-03-28 09:00 +02:00'],
  [BERLIN, '2027-03-27T10:00', 'night job tomorrow 2:30am', 'night job', '2027-03-28 03:30 +02:00'],
  [BERLIN, '2027-03-27T10:00', 'in 24 hours check', 'check', '2027-03-28 11:00 +02:00'],
  [BERLIN, '2027-10-30T10:00', 'call tomorrow 9am', 'call', '2027-10-31 09:00 +01:00'],
  [BERLIN, '2027-10-30T10:00', 'night job tomorrow 2:30am', 'night job', '2027-10-31 02:30 +02:00'],
  // DST, America/New_York: forward on Sun 14 Mar 2027, back on Sun 7 Nov 2027
  [NEW_YORK, '2027-03-13T20:00', 'call tomorrow 9am', 'call', '2027-03-14 09:00 -04:00'],
  [NEW_YORK, '2027-03-13T20:00', 'night job tomorrow 2:30am', 'night job', '2027-03-14 03:30 -04:00'],
  [NEW_YORK, '2027-11-06T20:00', 'call tomorrow 9am', 'call', '2027-11-07 09:00 -05:00'],
  [NEW_YORK, '2027-11-06T20:00', 'night job tomorrow 1:30am', 'night job', '2027-11-07 01:30 -04:00'],
]

t.test(`due dates: a table of ${TABLE.length} phrasings`, async (t) => {
  t.ok(TABLE.length >= 40)
  for (const [zone, now, input, text, due, repeat] of TABLE) {
    const parsed = parseDue(input, { now: at(now, zone), zone })
    const got = parsed.due === undefined ? null : parsed.due.hasTime ? show(parsed.due.at, zone) : DateTime.fromMillis(parsed.due.at, { zone }).toISODate()
    t.same({ text: parsed.text, due: got, repeat: parsed.repeat === undefined ? undefined : describeRepeat(parsed.repeat) }, { text, due, repeat }, `${zone} ${now}: ${input}`)
  }
})

t.test('due dates: a reminder lead is read off the text', async (t) => {
  t.equal(parseDue('dentist 3 dec 14:30 remind 30m before', { now: at('2026-11-24T22:30', BERLIN), zone: BERLIN }).remindBeforeMin, 30)
  t.equal(parseDue('flight friday 7:00 remind me 2 hours before', { now: at('2026-11-24T22:30', BERLIN), zone: BERLIN }).remindBeforeMin, 120)
  t.equal(parseDue('buy milk', { now: at('2026-11-24T22:30', BERLIN), zone: BERLIN }).remindBeforeMin, undefined)
})

t.test('due dates: repeats keep the local time across daylight-saving changes', async (t) => {
  const daily: RepeatRule = { unit: 'day', every: 1 }
  const before = DateTime.fromISO('2027-03-27T09:00', { zone: BERLIN })
  const after = nextOccurrence(daily, before)
  t.equal(after.toFormat('yyyy-MM-dd HH:mm ZZ'), '2027-03-28 09:00 +02:00')
  t.equal(after.toMillis() - before.toMillis(), 23 * 3600_000, 'the UTC gap is 23 h; the wall clock stays 09:00')
  const ny = nextOccurrence(daily, DateTime.fromISO('2027-11-06T09:00', { zone: NEW_YORK }))
  t.equal(ny.toFormat('yyyy-MM-dd HH:mm ZZ'), '2027-11-07 09:00 -05:00')
  const weekly = nextOccurrence({ unit: 'week', every: 1, weekday: 5 }, DateTime.fromISO('2027-10-29T08:00', { zone: BERLIN }))
  t.equal(weekly.toFormat('yyyy-MM-dd HH:mm ZZ'), '2027-11-05 08:00 +01:00')
})

t.test('due dates: repeats on weekdays skip the weekend, months clamp to short months, missed ones are skipped', async (t) => {
  const fri = DateTime.fromISO('2026-11-27T09:00', { zone: BERLIN })
  t.equal(nextOccurrence({ unit: 'weekday', every: 1 }, fri).toISODate(), '2026-11-30')
  const jan31 = DateTime.fromISO('2027-01-31T10:00', { zone: BERLIN })
  t.equal(nextOccurrence({ unit: 'month', every: 1, dayOfMonth: 31 }, jan31).toISODate(), '2027-02-28')
  t.equal(nextOccurrence({ unit: 'month', every: 1, dayOfMonth: 31 }, DateTime.fromISO('2027-02-28T10:00', { zone: BERLIN })).toISODate(), '2027-03-31')
  const now = DateTime.fromISO('2026-12-10T12:00', { zone: BERLIN })
  t.equal(nextAfter({ unit: 'day', every: 1 }, DateTime.fromISO('2026-12-01T09:00', { zone: BERLIN }), now, false).toFormat('yyyy-MM-dd HH:mm'), '2026-12-11 09:00', 'a daily task done late comes back tomorrow, not nine times')
  t.equal(nextAfter({ unit: 'day', every: 1 }, DateTime.fromISO('2026-12-10T00:00', { zone: BERLIN }), now, true).toISODate(), '2026-12-11', 'a whole-day task done on its day comes back the next day')
  t.equal(nextAfter({ unit: 'week', every: 2, weekday: 3 }, DateTime.fromISO('2026-12-09T09:00', { zone: BERLIN }), now, false).toISODate(), '2026-12-23')
})

t.test('due dates: reminder times — lead, whole days in the morning, passed ones not scheduled, snoozes', async (t) => {
  const now = at('2026-11-24T22:30', BERLIN)
  const due = at('2026-11-25T09:00', BERLIN)
  t.equal(reminderTime({ dueAt: due, dueHasTime: true, remindBeforeMin: null }, 0, BERLIN, now), due)
  t.equal(reminderTime({ dueAt: due, dueHasTime: true, remindBeforeMin: 30 }, 0, BERLIN, now), at('2026-11-25T08:30', BERLIN))
  t.equal(reminderTime({ dueAt: due, dueHasTime: true, remindBeforeMin: null }, 60, BERLIN, now), at('2026-11-25T08:00', BERLIN), 'the chat default applies')
  t.equal(reminderTime({ dueAt: at('2026-11-27T00:00', BERLIN), dueHasTime: false, remindBeforeMin: null }, 0, BERLIN, now), at(`2026-11-27T0${MORNING_HOUR}:00`, BERLIN))
  t.equal(reminderTime({ dueAt: at('2026-11-24T21:00', BERLIN), dueHasTime: true, remindBeforeMin: null }, 0, BERLIN, now), null, 'already past')
  t.equal(reminderTime({ dueAt: at('2026-11-24T22:40', BERLIN), dueHasTime: true, remindBeforeMin: 30 }, 0, BERLIN, now), now, 'the lead has passed, the time has not: now')
  t.equal(snoozeUntil(10, BERLIN, now), now + 600_000)
  t.equal(show(snoozeUntil('morning', NEW_YORK, at('2026-11-24T22:30', NEW_YORK)), NEW_YORK), '2026-11-25 09:00 -05:00')
})

t.test('due dates: time zones are IANA names, checked and spelled canonically', async (t) => {
  t.equal(canonicalZone('europe/berlin'), 'Europe/Berlin')
  t.equal(canonicalZone('America/New_York'), 'America/New_York')
  t.equal(canonicalZone('UTC'), 'UTC')
  for (const bad of ['Mars/Base', '', 'Europe/Berlin; rm -rf /', 'x'.repeat(100), '../../etc/passwd']) t.equal(canonicalZone(bad), undefined, bad)
})
