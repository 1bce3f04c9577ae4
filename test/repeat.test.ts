// Repeat rules and zones read directly (bot/time/repeat.ts, zone.ts): every phrasing's rule and its
// words, the bounds that refuse a rule, ordinals, and the next occurrence on the wall clock,
// including the exact edges of "passed".
import { DateTime } from 'luxon'
import t from 'tap'
import { alignToRule, describeRepeat, extractRepeat, MAX_EVERY, nextAfter, nextOccurrence } from '../bot/time/repeat.js'
import { canonicalZone } from '../bot/time/zone.js'

const BERLIN = 'Europe/Berlin'
const at = (local: string): DateTime => DateTime.fromISO(local, { zone: BERLIN })
const iso = (d: DateTime): string => d.toFormat("yyyy-MM-dd'T'HH:mm")

t.test('repeat: phrasings, their rules and how they read back', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['gym Every MONDAY', 'every Monday', 'gym'],
    ['call every wednesday', 'every Wednesday', 'call'],
    ['shop every Fri', 'every Friday', 'shop'],
    ['clean every saturday', 'every Saturday', 'clean'],
    ['rest every sunday', 'every Sunday', 'rest'],
    ['call every tues', 'every Tuesday', 'call'],
    ['bins every thurs', 'every Thursday', 'bins'],
    ['review every 3 weeks', 'every 3 weeks', 'review'],
    ['water  every day  plants', 'every day', 'water plants'],
    ['pay every month on the 11th', 'every month on the 11th', 'pay'],
    ['pay every month on the 12th', 'every month on the 12th', 'pay'],
    ['pay every month on the 13th', 'every month on the 13th', 'pay'],
    ['pay every month on the 21st', 'every month on the 21st', 'pay'],
    ['pay every month on the 22nd', 'every month on the 22nd', 'pay'],
    ['pay every month on the 23rd', 'every month on the 23rd', 'pay'],
    ['pay every month on the 31st', 'every month on the 31st', 'pay'],
    ['pay every 2 months on the 2nd', 'every 2 months on the 2nd', 'pay'],
    [`log every ${MAX_EVERY} days`, `every ${MAX_EVERY} days`, 'log'],
    ['standup every weekday', 'every weekday', 'standup'],
    ['report Weekly', 'every week', 'report'],
    ['taxes annually', 'every year', 'taxes'],
  ]
  for (const [text, rule, rest] of cases) {
    const m = extractRepeat(text)
    t.same(m === undefined ? undefined : { rule: describeRepeat(m.rule), rest: m.rest }, { rule, rest }, text)
  }
  t.equal(describeRepeat({ unit: 'week', every: 2 }), 'every 2 weeks', 'a week rule without a weekday')
  t.equal(describeRepeat({ unit: 'month', every: 1, dayOfMonth: 111 }), 'every month on the 111th')
})

t.test('repeat: rules that cannot be are not rules', async (t) => {
  for (const text of ['log every 0 days', `log every ${MAX_EVERY + 1} days`, 'meet every week on the 3rd', 'pay every month on the 0th', 'pay every month on the 32nd', 'everyday', 'every']) {
    t.equal(extractRepeat(text), undefined, text)
  }
})

t.test('repeat: a month rule lands on its day, keeping the time of day; short months clamp', async (t) => {
  const rule = { unit: 'month' as const, every: 1, dayOfMonth: 15 }
  t.equal(iso(alignToRule(rule, at('2026-11-15T00:00'))), '2026-11-15T00:00', 'the day itself, at midnight')
  t.equal(iso(alignToRule(rule, at('2026-11-10T09:30'))), '2026-11-15T09:30')
  t.equal(iso(alignToRule({ ...rule, dayOfMonth: 5 }, at('2026-11-20T09:30'))), '2026-12-05T09:30', 'past this month: next month, same time')
  t.equal(iso(alignToRule({ ...rule, dayOfMonth: 31 }, at('2027-02-10T08:00'))), '2027-02-28T08:00', 'clamped to February')
  t.equal(iso(nextOccurrence({ unit: 'month', every: 1, dayOfMonth: 31 }, at('2027-01-31T09:30'))), '2027-02-28T09:30')
  t.equal(iso(nextOccurrence({ unit: 'month', every: 2 }, at('2026-11-30T18:45'))), '2027-01-30T18:45')
  t.equal(iso(nextOccurrence({ unit: 'day', every: 3 }, at('2026-11-27T07:00'))), '2026-11-30T07:00')
  t.equal(iso(nextOccurrence({ unit: 'year', every: 1 }, at('2026-11-27T07:00'))), '2027-11-27T07:00')
  t.equal(iso(nextOccurrence({ unit: 'week', every: 2, weekday: 5 }, at('2026-11-27T07:00'))), '2026-12-11T07:00')
})

t.test('repeat: the next occurrence after now, at the exact edges of "passed"', async (t) => {
  const daily = { unit: 'day' as const, every: 1 }
  const from = at('2026-11-20T09:00')
  t.equal(iso(nextAfter(daily, from, at('2026-11-21T09:00'), false)), '2026-11-22T09:00', 'an occurrence at exactly now has passed')
  t.equal(iso(nextAfter(daily, from, at('2026-11-21T08:59'), false)), '2026-11-21T09:00')
  const day = at('2026-11-20T00:00')
  t.equal(iso(nextAfter(daily, day, at('2026-11-24T10:00'), true)), '2026-11-24T00:00', 'a whole-day task: today has not passed')
  t.equal(iso(nextAfter(daily, day, at('2026-11-21T00:00').endOf('day'), true)), '2026-11-21T00:00', 'not even at its last millisecond')
  t.equal(iso(nextAfter(daily, day, at('2026-11-22T00:00'), true)), '2026-11-22T00:00')
})

t.test('repeat: zones are IANA names, spelled canonically, spaces around them ignored', async (t) => {
  t.equal(canonicalZone('  europe/berlin '), 'Europe/Berlin')
  t.equal(canonicalZone('Etc/GMT+5'), 'Etc/GMT+5')
  t.equal(canonicalZone('EST5EDT'), 'America/New_York')
})
