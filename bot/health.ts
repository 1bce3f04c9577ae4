// Health: what "healthy" means (polling recent, database answering, schema current) as one JSON
// object, served on 127.0.0.1 only. Numbers and names only: never a task's text.
import { execFileSync } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { DatabaseChecker } from './db-check.js'
import { schemaStatus, type Database } from './db.js'
import type { Metrics } from './metrics.js'
import type { MetricsEndpoint } from './metrics-prometheus.js'
import type { TaskCounts } from './tasks/repository.js'
import type { ReminderState } from './reminders/loop.js'
import type { BackupHealth } from './backups/describe.js'
import type { PollState } from './updates/poller.js'
import type { TelegramWebhookInfo } from './webhook/telegram.js'

/** How updates arrive: long polling, or Telegram POSTing to our webhook server. */
export type ModeHealth = { mode: 'polling' } | { mode: 'webhook', listen: string, url: string, telegram: TelegramWebhookInfo }

/** Which process answers, and whether it runs the jobs that run once (several instances: the leader). */
export type InstanceHealth = { name: string, pm2Instance: number | null, pid: number, leads: boolean, several: boolean }

export type Health = {
  /** 'degraded': working, but something needs the owner (a backup problem); served with 200. */
  status: 'ok' | 'degraded' | 'failing'
  problems: string[]
  version: string
  /** 'compiled': the build (dist/main.js, plain node); 'typescript': the sources through tsx. */
  runtime: 'compiled' | 'typescript'
  /** Node's version and flags (PM2 passes memory flags: scripts/runtime-flags.mjs). */
  node: { version: string, args: string[] }
  /** Only the process holding the instance lock answers /healthz: a standby is not listening yet. */
  role: 'serving'
  pid: number
  /** Several instances (webhook mode on PostgreSQL): this one's name (PM2 instance, pid@host) and whether it leads. */
  instance: InstanceHealth
  startedAt: string
  uptimeS: number
  /** 'webhook': `webhook` holds where the bot listens and Telegram's view (getWebhookInfo, read every minute). */
  mode: 'polling' | 'webhook'
  webhook: { listen: string, url: string, telegram: TelegramWebhookInfo } | null
  lastPollAt: string | null
  poll: { ok: boolean, lastError: string | null, failingSinceS: number | null }
  database: { ok: boolean, check: string }
  schema: { current: string | null, pending: string[], unknown: string[] }
  tasks: TaskCounts | null
  reminders: ReminderState | null
  backups: BackupHealth | null
  metrics: { updates: number, duplicates: number, refused: number, errors: number, p50Ms: number | null, p99Ms: number | null, outboxBacklog: number | null }
}

export type HealthSources = {
  db: Database
  /** Integrity and task counts, off the main thread on SQLite (bot/db-check.ts). */
  checker: DatabaseChecker
  metrics: Metrics
  pollState: PollState
  pollTimeoutS: number
  startedAt: number
  version: string
  outboxBacklog: () => Promise<number>
  reminders?: () => Promise<ReminderState>
  backups?: () => Promise<BackupHealth | null>
  /** One serving process that leads when absent. */
  instance?: () => InstanceHealth
  /** Polling when absent. */
  mode?: () => ModeHealth
}

// In the build this module is part of dist/main.js.
export const RUNTIME: Health['runtime'] = import.meta.url.endsWith('.ts') ? 'typescript' : 'compiled'

/** The git commit of the code in `root`, as health reports it. */
export function gitVersion (root: string): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

export async function checkHealth (s: HealthSources, now = Date.now()): Promise<Health> {
  const problems: string[] = []
  const mode: ModeHealth = s.mode?.() ?? { mode: 'polling' }
  const silentLimitMs = Math.max(2, 2 * s.pollTimeoutS) * 1000 + 1000
  const lastPoll = s.pollState.lastPollAt ?? s.startedAt
  if (mode.mode === 'webhook') {
    // Telegram delivers elsewhere: another deployment (or a hand-edited setWebhook) took the bot.
    if (mode.telegram.url !== null && mode.telegram.url !== mode.url) problems.push(`Telegram delivers updates to ${mode.telegram.url === '' ? 'no webhook (someone deleted it)' : mode.telegram.url}, not TELEGRAM_WEBHOOK_URL ${mode.url}: restart the bot to set it again`)
  } else if (now - lastPoll > silentLimitMs) {
    problems.push(`no successful getUpdates for ${Math.round((now - lastPoll) / 1000)} s${s.pollState.lastError === null ? '' : ` (last error: ${s.pollState.lastError})`}`)
  }
  let check = 'not checked'
  let schema: Health['schema'] = { current: null, pending: [], unknown: [] }
  let tasks: TaskCounts | null = null
  let backlog: number | null = null
  let reminders: ReminderState | null = null
  let backups: BackupHealth | null = null
  try {
    const probe = await s.checker.probe()
    check = probe.check
    const status = await schemaStatus(s.db)
    schema = { current: status.head, pending: status.pending, unknown: status.unknown }
    tasks = probe.counts
    backlog = await s.outboxBacklog()
    reminders = s.reminders === undefined ? null : await s.reminders()
    backups = s.backups === undefined ? null : await s.backups()
  } catch (err) {
    check = err instanceof Error ? err.message : String(err)
  }
  if (check !== 'ok') problems.push(`database check failed: ${check}`)
  if (reminders?.lastError != null) problems.push(`reminder loop failing: ${reminders.lastError}`)
  if (schema.pending.length > 0) problems.push(`pending migrations: ${schema.pending.join(', ')}`)
  return {
    status: problems.length > 0 ? 'failing' : backups?.problem != null ? 'degraded' : 'ok',
    problems,
    version: s.version,
    runtime: RUNTIME,
    node: { version: process.version, args: process.execArgv },
    role: 'serving',
    pid: process.pid,
    instance: s.instance?.() ?? { name: `${process.pid}`, pm2Instance: null, pid: process.pid, leads: true, several: false },
    startedAt: new Date(s.startedAt).toISOString(),
    uptimeS: Math.round((now - s.startedAt) / 1000),
    mode: mode.mode,
    webhook: mode.mode === 'webhook' ? { listen: mode.listen, url: mode.url, telegram: mode.telegram } : null,
    lastPollAt: s.pollState.lastPollAt === null ? null : new Date(s.pollState.lastPollAt).toISOString(),
    poll: {
      ok: s.pollState.failingSince === null,
      lastError: s.pollState.lastError,
      failingSinceS: s.pollState.failingSince === null ? null : Math.round((now - s.pollState.failingSince) / 1000),
    },
    database: { ok: check === 'ok', check },
    schema,
    tasks,
    reminders,
    backups,
    metrics: {
      updates: s.metrics.updates,
      duplicates: s.metrics.duplicates,
      refused: s.metrics.refused,
      errors: s.metrics.errors,
      p50Ms: s.metrics.percentile(50),
      p99Ms: s.metrics.percentile(99),
      outboxBacklog: backlog,
    },
  }
}

/** GET /healthz on 127.0.0.1: 200 when ok, 503 when failing; GET /metrics: Prometheus text. */
export async function startHealthServer (port: number, health: () => Promise<Health>, metrics?: MetricsEndpoint): Promise<http.Server & { port: number }> {
  const server = http.createServer((req, res) => {
    const route = req.method === 'GET' ? req.url?.split('?')[0] : undefined
    if (route === '/metrics' && metrics !== undefined) {
      metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text)
      }, (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`)
      })
      return
    }
    if (route !== '/healthz') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(`{"error":"not found: GET /healthz${metrics === undefined ? '' : ' or /metrics'}"}`)
      return
    }
    health().then((h) => {
      res.writeHead(h.status === 'failing' ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(h))
    }, (err: unknown) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'failing', problems: [String(err)] }))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return Object.assign(server, { port: (server.address() as AddressInfo).port })
}
