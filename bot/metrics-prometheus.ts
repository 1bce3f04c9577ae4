// GET /metrics: the bot's figures in Prometheus' text format (prom-client; its cost is measured in
// docs/decisions.md). Counters since the process started, except reminders, which are counted in
// the database (lifetime totals, so a restart does not lose them). Numbers and method names only:
// never a task's text, a chat id or the token. Read at scrape time from what health already has.
// prom-client is loaded after the bot serves (~45 ms of a start's CPU otherwise, before the first
// poll); handling times observed before that are kept and replayed into the histogram.
import type PromClient from 'prom-client'
import type { HealthSources } from './health.js'
import type { ApiErrorCounter } from './metrics-api.js'

export type MetricsSources = HealthSources & {
  apiErrors: ApiErrorCounter
  runtime: 'compiled' | 'typescript'
}

export type MetricsEndpoint = {
  contentType: string
  text: () => Promise<string>
  /** Loads prom-client now (a scrape also does). */
  load: () => Promise<void>
}

/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE, known before the library is loaded. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
/** Handling times kept until prom-client is loaded; more are dropped (a start takes seconds). */
const EARLY_OBSERVATIONS = 10_000

export function createMetricsEndpoint (s: MetricsSources): MetricsEndpoint {
  const early: number[] = []
  s.metrics.onUpdate = (ms) => { if (early.length < EARLY_OBSERVATIONS) early.push(ms) }
  let registry: Promise<PromClient.Registry> | null = null
  const loaded = (): Promise<PromClient.Registry> => registry ??= import('prom-client').then(({ default: client }) => {
    const built = buildRegistry(client, s)
    for (const ms of early) s.metrics.onUpdate?.(ms)
    early.length = 0
    return built
  })
  return {
    contentType: PROMETHEUS_CONTENT_TYPE,
    text: async () => await (await loaded()).metrics(),
    load: async () => { await loaded() },
  }
}

/** Handling-time buckets in seconds: the goal is p99 ≤ 5 ms, a slow import takes seconds. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]

type ReminderRow = { status: string, n: number, late: number | null }
/** A reminder sent more than this after its time counts as late (the bot was down, or behind). */
export const LATE_AFTER_MS = 60_000

function buildRegistry (client: typeof PromClient, s: MetricsSources): PromClient.Registry {
  const registers = [new client.Registry()]
  const [registry] = registers as [PromClient.Registry]
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })

  new client.Gauge({ name: 'mister_todo_build_info', help: 'The running version (git commit) and how it runs (compiled: dist/ with node; typescript: tsx)', labelNames: ['version', 'runtime'], registers })
    .set({ version: s.version, runtime: s.runtime }, 1)
  new client.Gauge({ name: 'mister_todo_start_time_seconds', help: 'When this process started serving (Unix time)', registers }).set(s.startedAt / 1000)

  const m = s.metrics
  new client.Counter({
    name: 'mister_todo_updates_total',
    help: 'Telegram updates by outcome: handled (applied, or answered as bad input), failed (an error; answered with an apology), duplicate (already applied), refused (not on the allow-list)',
    labelNames: ['outcome'],
    registers,
    collect () {
      this.reset()
      this.inc({ outcome: 'handled' }, m.updates - m.duplicates - m.errors)
      this.inc({ outcome: 'failed' }, m.errors)
      this.inc({ outcome: 'duplicate' }, m.duplicates)
      this.inc({ outcome: 'refused' }, m.refused)
    },
  })
  const duration = new client.Histogram({ name: 'mister_todo_update_duration_seconds', help: 'Time to handle one update, from its arrival to its transaction committed', buckets: DURATION_BUCKETS, registers })
  m.onUpdate = (ms) => duration.observe(ms / 1000)

  new client.Gauge({
    name: 'mister_todo_outbox_backlog',
    help: 'Replies committed but not yet accepted by Telegram',
    registers,
    async collect () { this.set(await s.outboxBacklog()) },
  })
  new client.Counter({
    name: 'mister_todo_api_errors_total',
    help: 'Bot API calls that failed, by method and HTTP code (timeout, network: no answer); each retry counts',
    labelNames: ['method', 'code'],
    registers,
    collect () {
      this.reset()
      for (const e of s.apiErrors.entries()) this.inc({ method: e.method, code: e.code }, e.count)
    },
  })
  new client.Counter({
    name: 'mister_todo_poll_failures_total',
    help: 'getUpdates calls that failed after the library\'s retries (the poller then backs off)',
    registers,
    collect () {
      this.reset()
      this.inc(s.pollState.failures)
    },
  })
  new client.Gauge({
    name: 'mister_todo_last_poll_age_seconds',
    help: 'Seconds since the last successful getUpdates',
    registers,
    collect () { this.set(((Date.now() - (s.pollState.lastPollAt ?? s.startedAt)) / 1000)) },
  })

  new client.Counter({
    name: 'mister_todo_reminders_total',
    help: 'Reminders by outcome, over the database\'s life: sent, late (sent more than a minute after their time; also counted in sent), failed (Telegram refused), unknown (a crash while sending: not repeated), sending (claimed now)',
    labelNames: ['outcome'],
    registers,
    async collect () {
      this.reset()
      const rows = await s.db('reminders').select('status').count({ n: '*' })
        .sum({ late: s.db.raw('case when status = ? and sent_at > fire_at + ? then 1 else 0 end', ['sent', LATE_AFTER_MS]) })
        .groupBy('status') as ReminderRow[]
      const by = new Map(rows.map((r) => [r.status, r]))
      for (const outcome of ['sent', 'failed', 'unknown', 'sending']) this.inc({ outcome }, Number(by.get(outcome)?.n ?? 0))
      this.inc({ outcome: 'late' }, Number(by.get('sent')?.late ?? 0))
    },
  })
  new client.Gauge({
    name: 'mister_todo_reminders_due',
    help: 'Reminders due now and not yet sent (the reminder loop\'s backlog)',
    registers,
    async collect () { this.set(s.reminders === undefined ? 0 : (await s.reminders()).backlog) },
  })
  new client.Gauge({
    name: 'mister_todo_last_backup_age_seconds',
    help: 'Seconds since the newest backup was taken (NaN: none yet)',
    registers,
    async collect () {
      const last = s.backups === undefined ? null : (await s.backups())?.last ?? null
      this.set(last === null ? Number.NaN : (Date.now() - Date.parse(last.at)) / 1000)
    },
  })
  return registry
}
