// GET /metrics for real: the bot in this process against the Bot API emulator, real traffic (tasks,
// a stranger, a reply Telegram refuses, a getUpdates outage, a late reminder on an injected clock),
// then the Prometheus text read over HTTP from 127.0.0.1 as a scraper would.
import t from 'tap'
import { AdjustableClock } from '../bot/clock.js'
import { OWNER, STRANGER, startHarness } from './support/bot-harness.js'

const at = (iso: string): number => Date.parse(iso)
const clock = new AdjustableClock(at('2026-11-24T22:30:00Z'), 0)
const h = await startHarness({ DEFAULT_TIMEZONE: 'UTC' }, { clock })
t.teardown(() => h.close())

async function scrape (path = '/metrics'): Promise<{ status: number, type: string | null, text: string }> {
  const res = await fetch(`http://127.0.0.1:${h.bot.healthPort}${path}`)
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

/** The value of one sample line, e.g. `mister_todo_updates_total{outcome="refused"}`. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function until (probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + 15_000
  while (!await probe()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('metrics: a fresh bot serves Prometheus text with its version and nothing counted yet', async (t) => {
  const m = await scrape()
  t.equal(m.status, 200)
  t.equal(m.type, 'text/plain; version=0.0.4; charset=utf-8')
  t.match(m.text, /^# HELP mister_todo_updates_total Telegram updates by outcome/m)
  t.match(m.text, /^# TYPE mister_todo_update_duration_seconds histogram$/m)
  t.equal(sample(m.text, `mister_todo_build_info{version="${h.bot.version}",runtime="typescript"}`), 1)
  t.equal(sample(m.text, 'mister_todo_updates_total{outcome="handled"}'), 0)
  t.equal(sample(m.text, 'mister_todo_poll_failures_total'), 0)
  t.match(m.text, /^mister_todo_last_backup_age_seconds NaN$/im, 'no backup yet (prom-client writes Nan; Prometheus reads any case)')
  t.ok((sample(m.text, 'process_resident_memory_bytes') ?? 0) > 20e6, 'RSS')
  t.ok((sample(m.text, 'nodejs_heap_size_used_bytes') ?? 0) > 1e6, 'heap')
  t.not(sample(m.text, 'nodejs_eventloop_lag_p99_seconds'), undefined, 'event-loop lag')
  const unknown = await scrape('/nope')
  t.same([unknown.status, unknown.text], [404, '{"error":"not found: GET /healthz or /metrics"}'])
})

t.test('metrics: updates, refusals, API errors, poll failures and reminders are counted from real traffic', async (t) => {
  t.equal((await h.say('pay rent tomorrow 9am')).rendered, 'Added:\n#1 pay rent — due Wed 25 Nov 09:00')
  t.match((await h.say('/list')).rendered, /#1 pay rent/)
  t.equal((await h.say('hello', STRANGER)).rendered, `Sorry, this is a private to-do bot. (Your Telegram user id is ${STRANGER}; the owner can add it to ALLOWED_USER_IDS.)`)
  // Telegram refuses one reply for good (the outbox drops it) …
  h.emu.failNext('sendMessage', { status: 403, description: 'Forbidden: bot was blocked by the user' })
  h.emu.sendText(OWNER, OWNER, 'water plants')
  await until(async () => (await h.bot.health()).metrics.updates === 3 && (await h.bot.health()).metrics.outboxBacklog === 0, 'the refused reply to be dropped')
  // … and getUpdates fails three times in a row: two retries by the library, then one poll failure.
  h.emu.failNext('getUpdates', { status: 502 }, 3)
  await until(async () => h.bot.pollState.failures === 1 && h.bot.pollState.failingSince === null, 'polling to fail once and recover')
  // A reminder sent five minutes after its time (the clock jumps past it): sent, and late.
  clock.set(at('2026-11-25T09:05:00Z'))
  await until(async () => h.emu.messages(OWNER).some((m) => m.rendered.startsWith('⏰ #1 pay rent')), 'the reminder')

  const m = await scrape()
  t.equal(m.status, 200)
  t.equal(sample(m.text, 'mister_todo_updates_total{outcome="handled"}'), 3)
  t.equal(sample(m.text, 'mister_todo_updates_total{outcome="refused"}'), 1)
  t.equal(sample(m.text, 'mister_todo_updates_total{outcome="failed"}'), 0)
  t.equal(sample(m.text, 'mister_todo_update_duration_seconds_count'), 3)
  t.equal(sample(m.text, 'mister_todo_update_duration_seconds_bucket{le="+Inf"}'), 3)
  t.equal(sample(m.text, 'mister_todo_api_errors_total{method="sendMessage",code="403"}'), 1)
  t.equal(sample(m.text, 'mister_todo_api_errors_total{method="getUpdates",code="502"}'), 3)
  t.equal(sample(m.text, 'mister_todo_poll_failures_total'), 1)
  t.equal(sample(m.text, 'mister_todo_reminders_total{outcome="sent"}'), 1)
  t.equal(sample(m.text, 'mister_todo_reminders_total{outcome="late"}'), 1)
  t.equal(sample(m.text, 'mister_todo_reminders_total{outcome="failed"}'), 0)
  t.equal(sample(m.text, 'mister_todo_reminders_due'), 0)
  t.equal(sample(m.text, 'mister_todo_outbox_backlog'), 0)
  t.ok((sample(m.text, 'mister_todo_last_poll_age_seconds') ?? 99) < 5, 'polled recently')
  for (const secret of ['pay rent', 'water plants', 'hello', h.config.token]) {
    t.notOk(m.text.includes(secret), `no task text or token: ${secret.slice(0, 12)}`)
  }
  // A chat id would leak as a label; as digits it may well occur inside a sample's value
  // (seen: 1001 inside a process metric).
  for (const id of [OWNER, STRANGER]) t.notOk(new RegExp(`="${id}"`).test(m.text), `no chat id as a label: ${id}`)
})

t.test('metrics: handling times from before prom-client is loaded (a second after the bot serves) are in the histogram', async (t) => {
  const fresh = await startHarness({ DEFAULT_TIMEZONE: 'UTC' })
  t.teardown(() => fresh.close())
  await fresh.say('buy milk')
  await fresh.say('/list')
  const text = await (await fetch(`http://127.0.0.1:${fresh.bot.healthPort}/metrics`)).text()
  t.equal(sample(text, 'mister_todo_update_duration_seconds_count'), 2, 'both, observed before the library was there')
  t.equal(sample(text, 'mister_todo_updates_total{outcome="handled"}'), 2)
})
