// Due-date phrases at their edges (bot/time/parse-due.ts): reminder leads in every spelling,
// punctuation and lead-in words around the date, which of two dates wins, "at 1" and "at 7",
// a time equal to now, and the exact rule a repeat leaves behind.
import { DateTime } from 'luxon'
import t from 'tap'
import { MAX_REMIND_BEFORE_MIN, parseDue } from '../bot/time/parse-due.js'

const BERLIN = 'Europe/Berlin'
const NOW = DateTime.fromISO('2026-11-24T22:30', { zone: BERLIN }).toMillis() // a Tuesday
const read = (text: string, now = NOW): ReturnType<typeof parseDue> => parseDue(text, { now, zone: BERLIN })
const local = (ms: number | undefined): string => ms === undefined ? 'none' : DateTime.fromMillis(ms, { zone: BERLIN }).toFormat("yyyy-MM-dd'T'HH:mm")

t.test('due dates: a reminder lead in every spelling, anywhere in the text', async (t) => {
  const cases: Array<[string, number, string]> = [
    ['dentist friday 9am remind 2 hrs before', 120, 'dentist'],
    ['dentist friday 9am remind 1 hr before', 60, 'dentist'],
    ['dentist friday 9am remind 2 hours early', 120, 'dentist'],
    ['dentist friday 9am remind 45 mins before', 45, 'dentist'],
    ['dentist friday 9am remind 1 minute before', 1, 'dentist'],
    ['dentist friday 9am remind 5 minutes earlier', 5, 'dentist'],
    ['dentist friday 9am remind 3 days earlier', 3 * 1440, 'dentist'],
    ['dentist friday 9am remind 1 day before', 1440, 'dentist'],
    ['dentist friday 9am remind me 1 week before', 7 * 1440, 'dentist'],
    ['dentist friday 9am remind 2 weeks before', 14 * 1440, 'dentist'],
    ['dentist friday 9am remind  me  2h  before', 120, 'dentist'],
    ['remind 1h before dentist friday 9am', 60, 'dentist'],
    // The punctuation that set the lead off goes with it.
    ['remind 1h before, dentist friday 9am', 60, 'dentist'],
    ['dentist, remind 1h before, friday 9am', 60, 'dentist'],
    ['dentist friday 9am; remind 1h before', 60, 'dentist'],
    ['dentist friday 9am remind 30 days before', MAX_REMIND_BEFORE_MIN, 'dentist'],
  ]
  for (const [text, minutes, rest] of cases) {
    const r = read(text)
    t.same({ text: r.text, lead: r.remindBeforeMin, due: local(r.due?.at) }, { text: rest, lead: minutes, due: '2026-11-27T09:00' }, text)
  }
  t.equal(read('dentist friday 9am remind 31 days before').remindBeforeMin, undefined, 'longer than 30 days is not a lead')
})

t.test('due dates: punctuation and lead-in words around the date are the date\'s, not the task\'s', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['pay rent tomorrow 9am!!', 'pay rent', '2026-11-25T09:00'],
    ['buy milk!! friday', 'buy milk', '2026-11-27T00:00'],
    ['tomorrow 9am: call mom', 'call mom', '2026-11-25T09:00'],
    ['tomorrow 9am -- call mom', 'call mom', '2026-11-25T09:00'],
    ['tomorrow 9am shop for', 'shop for', '2026-11-25T09:00'],
    ['- call mom friday', '- call mom', '2026-11-27T00:00'],
    ['tonight call mom', 'call mom', '2026-11-24T22:00'],
    ['tomorrow call mom friday', 'tomorrow call mom', '2026-11-27T00:00'],
    ['call mom monday', 'call mom', '2026-11-30T00:00'],
  ]
  for (const [text, rest, due] of cases) {
    const r = read(text)
    t.same({ text: r.text, due: local(r.due?.at) }, { text: rest, due }, text)
  }
})

t.test('due dates: "at 1" to "at 7" are afternoons; a time equal to now is tomorrow', async (t) => {
  t.equal(local(read('meet at 1').due?.at), '2026-11-25T13:00')
  t.equal(local(read('meet at 7').due?.at), '2026-11-25T19:00')
  t.equal(local(read('meet at 8').due?.at), '2026-11-25T08:00')
  t.equal(local(read('call at 22:30').due?.at), '2026-11-25T22:30', 'now is not ahead')
  t.equal(local(read('call at 22:31').due?.at), '2026-11-24T22:31')
})

t.test('due dates: a repeat keeps exactly the fields its unit needs; no date, no keys', async (t) => {
  t.same(read('rent every month on the 1st').repeat, { unit: 'month', every: 1, dayOfMonth: 1 })
  t.same(read('pay every month').repeat, { unit: 'month', every: 1, dayOfMonth: 24 }, 'the day of its first occurrence')
  t.same(read('review every 2 weeks').repeat, { unit: 'week', every: 2, weekday: 2 })
  t.same(read('gym every thursday').repeat, { unit: 'week', every: 1, weekday: 4 })
  t.same(read('water plants every day').repeat, { unit: 'day', every: 1 })
  t.same(Object.keys(read('buy milk')), ['text'], 'no due, repeat or lead keys at all')
  t.same(Object.keys(read('buy milk friday')), ['text', 'due'])
})
