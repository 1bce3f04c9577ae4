// The one reader of process.env: validates every setting and returns a frozen Config.
// The ops scripts judge settings with this same module (checkEnvironment), on .env parsed as
// `node --env-file` parses it (ops/lib/settings.mjs), so a value means the same to both. Which
// value applies can still differ where the environment overrides .env: the bot under PM2 runs
// with the environment PM2 recorded at `npm start`/reload, a script with its own shell's.
import path from 'node:path'
import { z } from 'zod'
import { splitCommand } from '../ops/lib/copy-command.mjs'
import { checkCron } from './backups/cron.js'
import { AppError } from './errors.js'

export const DEFAULT_API_ROOT = 'https://api.telegram.org'
export const DEFAULT_DATABASE_FILE = 'storage/db/todo.sqlite'
export const DEFAULT_HEALTH_PORT = 8787
export const DEFAULT_POLL_TIMEOUT_S = 25
/** Every day at 03:00 in DEFAULT_TIMEZONE. */
export const DEFAULT_BACKUP_SCHEDULE = '0 3 * * *'
/** Every Sunday at 04:30 in DEFAULT_TIMEZONE. */
export const DEFAULT_DRILL_SCHEDULE = '30 4 * * 0'
export const DEFAULT_BACKUP_COPY_TIMEOUT_S = 600
/** PostgreSQL only: connections the bot may open at most. */
export const DEFAULT_DATABASE_POOL_MAX = 5
/** PostgreSQL only: a statement running longer is cancelled by the server (0: no limit). */
export const DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS = 15_000
/** PostgreSQL only: how the bot's sessions are named in pg_stat_activity. */
export const DEFAULT_DATABASE_APPLICATION_NAME = 'mister_todo'

const TOKEN_SHAPE = /^\d{5,}:[A-Za-z0-9_-]{20,}$/

// ---- Webhook mode (issue 15): TELEGRAM_WEBHOOK_URL switches from polling to webhooks. ----
export const DEFAULT_WEBHOOK_LISTEN = '127.0.0.1:8443'
export const DEFAULT_WEBHOOK_MAX_CONNECTIONS = 40
/** Telegram's charset for setWebhook's secret_token (1–256 characters); we ask for at least 32. */
const WEBHOOK_SECRET_SHAPE = /^[A-Za-z0-9_-]{32,256}$/
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])

export type WebhookSettings = Readonly<{
  /** The public URL given to setWebhook; its path is where the bot listens. */
  url: string
  path: string
  /** Where the bot's HTTP server binds (a reverse proxy terminates TLS in front of it). */
  host: string
  port: number
  secret: string
  maxConnections: number
}>

/** Why a TELEGRAM_WEBHOOK_URL cannot be used, or null. http:// only for a loopback host (tests, a local proxy). */
export function webhookUrlProblem (raw: string): string | null {
  const shape = 'use the public https URL your reverse proxy serves, e.g. https://bot.example.org/telegram, or leave it unset to poll'
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return `is not a URL: ${shape}`
  }
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) return `is http://, which Telegram refuses: ${shape}`
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `is not an https URL: ${shape}`
  if (url.search !== '' || url.hash !== '') return `has a query or fragment: the bot listens on the path alone, ${shape}`
  return null
}

function listenProblem (raw: string): string | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw)
  if (m === null || Number(m[2]) > 65535) return `is not host:port: use e.g. ${DEFAULT_WEBHOOK_LISTEN} (the address your reverse proxy forwards to; port 0 picks a free one)`
  return null
}

const webhookSchema = {
  TELEGRAM_WEBHOOK_URL: z.string().trim().optional()
    .refine((v) => v === undefined || webhookUrlProblem(v) === null, { error: (issue) => webhookUrlProblem(String(issue.input)) ?? '' }),
  WEBHOOK_LISTEN: z.string().trim().default(DEFAULT_WEBHOOK_LISTEN)
    .refine((v) => listenProblem(v) === null, { error: (issue) => listenProblem(String(issue.input)) ?? '' }),
  // Never echoed in a message or a log line.
  TELEGRAM_WEBHOOK_SECRET: z.string().trim().optional()
    .refine((v) => v === undefined || WEBHOOK_SECRET_SHAPE.test(v), 'is not a usable secret token: use 32–256 characters of A-Z a-z 0-9 _ - (e.g. the output of: openssl rand -hex 32)'),
  WEBHOOK_MAX_CONNECTIONS: z.string().trim().default(String(DEFAULT_WEBHOOK_MAX_CONNECTIONS))
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 100, `is not a number of connections: use 1–100 (default ${DEFAULT_WEBHOOK_MAX_CONNECTIONS})`)
    .transform(Number),
}

/** Webhook mode needs its secret: the one problem no single variable's check can see. */
function webhookSecretMissing (cleaned: Record<string, string>): string[] {
  if (cleaned.TELEGRAM_WEBHOOK_URL === undefined || cleaned.TELEGRAM_WEBHOOK_SECRET !== undefined) return []
  return ['TELEGRAM_WEBHOOK_SECRET is missing, and webhook mode (TELEGRAM_WEBHOOK_URL) needs it: put 32+ random characters of A-Z a-z 0-9 _ - in .env (e.g. the output of: openssl rand -hex 32)']
}

function webhookOf (v: { TELEGRAM_WEBHOOK_URL?: string | undefined, WEBHOOK_LISTEN: string, TELEGRAM_WEBHOOK_SECRET?: string | undefined, WEBHOOK_MAX_CONNECTIONS: number }): WebhookSettings | null {
  if (v.TELEGRAM_WEBHOOK_URL === undefined) return null
  const url = new URL(v.TELEGRAM_WEBHOOK_URL)
  const split = v.WEBHOOK_LISTEN.lastIndexOf(':')
  return Object.freeze({
    url: url.toString(),
    path: url.pathname,
    host: v.WEBHOOK_LISTEN.slice(0, split).replace(/^\[(.*)\]$/, '$1'),
    port: Number(v.WEBHOOK_LISTEN.slice(split + 1)),
    secret: v.TELEGRAM_WEBHOOK_SECRET ?? '',
    maxConnections: v.WEBHOOK_MAX_CONNECTIONS,
  })
}
// ---- end of webhook settings ----

// ---- Several instances (issue 15): PM2 cluster mode with WEB_CONCURRENCY instances. ----
const instancesSchema = {
  WEB_CONCURRENCY: z.string().trim().default('1')
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 64, 'is not a number of instances: use 1–64 (default 1; more than 1 needs webhook mode on PostgreSQL)')
    .transform(Number),
  // Set by PM2 in cluster mode: which of the instances this process is (0, 1, …).
  NODE_APP_INSTANCE: z.string().trim().optional()
    .refine((v) => v === undefined || /^\d+$/.test(v), 'is not an instance number (PM2 sets it: 0, 1, …)')
    .transform((v) => v === undefined ? null : Number(v)),
}

/** More than one process is for webhook mode on PostgreSQL only: one line that says why not here. */
function concurrencyProblems (cleaned: Record<string, string>): string[] {
  const n = Number(cleaned.WEB_CONCURRENCY ?? '1')
  if (!Number.isInteger(n) || n <= 1) return []
  if (cleaned.TELEGRAM_WEBHOOK_URL === undefined) return [`WEB_CONCURRENCY is ${n}, but polling mode runs one process per bot token (Telegram answers a second poller with 409): set WEB_CONCURRENCY=1, or use webhook mode (TELEGRAM_WEBHOOK_URL) on PostgreSQL`]
  if (cleaned.DATABASE_URL === undefined) return [`WEB_CONCURRENCY is ${n}, but SQLite allows one writing process per file: set WEB_CONCURRENCY=1, or use PostgreSQL (DATABASE_URL)`]
  return []
}

/** Under PM2 with several instances each has its own health port: HEALTH_PORT + NODE_APP_INSTANCE (0 stays 0: any free port). */
function healthPortOf (v: { HEALTH_PORT: number, WEB_CONCURRENCY: number, NODE_APP_INSTANCE: number | null }): number {
  return v.HEALTH_PORT === 0 || v.WEB_CONCURRENCY <= 1 ? v.HEALTH_PORT : v.HEALTH_PORT + (v.NODE_APP_INSTANCE ?? 0)
}
// ---- end of several instances ----

// ---- Open mode and per-user limits (issue 15): ALLOWED_USER_IDS=* lets anyone in. ----
/** ALLOWED_USER_IDS=*: anyone may use the bot; OWNER_USER_ID names the owner. */
export const OPEN_TO_ALL = '*'
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 30
export const DEFAULT_MAX_TASKS_PER_CHAT = 10_000

export type OpenLimits = Readonly<{
  /** Updates one user may send in a minute (a clock minute, UTC) before "Slow down"; the owner is never limited. */
  ratePerMinute: number
  /** Tasks (open and done, not deleted) one chat may hold. */
  maxTasksPerChat: number
}>

const openSchema = {
  OWNER_USER_ID: z.string().trim().optional()
    .refine((v) => v === undefined || (/^\d{1,16}$/.test(v) && Number(v) > 0), 'is not a positive numeric Telegram user id: put your own user id there (ask @userinfobot)')
    .transform((v) => v === undefined ? undefined : Number(v)),
  RATE_LIMIT_PER_MINUTE: z.string().trim().default(String(DEFAULT_RATE_LIMIT_PER_MINUTE))
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 10_000, `is not a number of updates per minute: use 1–10000 (default ${DEFAULT_RATE_LIMIT_PER_MINUTE})`)
    .transform(Number),
  MAX_TASKS_PER_CHAT: z.string().trim().default(String(DEFAULT_MAX_TASKS_PER_CHAT))
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 1_000_000, `is not a number of tasks: use 1–1000000 (default ${DEFAULT_MAX_TASKS_PER_CHAT})`)
    .transform(Number),
}

/** The owner's problems no single variable's check can see: * needs OWNER_USER_ID; a list's owner is its first id. */
function ownerProblems (cleaned: Record<string, string>): string[] {
  const list = cleaned.ALLOWED_USER_IDS?.trim()
  const raw = cleaned.OWNER_USER_ID?.trim()
  if (list === undefined) return []
  if (list === OPEN_TO_ALL) {
    return raw === undefined ? ['OWNER_USER_ID is missing, and ALLOWED_USER_IDS=* (open to anyone) needs it: put your own Telegram user id in .env (ask @userinfobot)'] : []
  }
  if (raw === undefined || !/^\d{1,16}$/.test(raw)) return []
  const ids = list.split(',').map((p) => p.trim()).filter((p) => p !== '')
  if (!ids.every((p) => /^\d{1,16}$/.test(p))) return []
  if (!ids.map(Number).includes(Number(raw))) return [`OWNER_USER_ID ${raw} is not in ALLOWED_USER_IDS: the owner must be one of the allowed users; add it (first) to ALLOWED_USER_IDS or remove OWNER_USER_ID`]
  if (Number(ids[0]) !== Number(raw)) return [`OWNER_USER_ID ${raw} is not the first id of ALLOWED_USER_IDS, and the first listed id is the owner: put ${raw} first in ALLOWED_USER_IDS or remove OWNER_USER_ID`]
  return []
}

/** Who may use the bot and who the owner is. allowedUserIds keeps the owner first (what ops reads as the owner); in open mode it is the owner alone. */
function accessOf (v: { ALLOWED_USER_IDS: readonly number[] | typeof OPEN_TO_ALL, OWNER_USER_ID?: number | undefined, RATE_LIMIT_PER_MINUTE: number, MAX_TASKS_PER_CHAT: number }): { allowedUserIds: readonly number[], openToAll: boolean, ownerUserId: number, limits: OpenLimits } {
  const limits = Object.freeze({ ratePerMinute: v.RATE_LIMIT_PER_MINUTE, maxTasksPerChat: v.MAX_TASKS_PER_CHAT })
  if (v.ALLOWED_USER_IDS === OPEN_TO_ALL) {
    const owner = v.OWNER_USER_ID ?? 0 // ownerProblems refused a missing one
    return { allowedUserIds: Object.freeze([owner]), openToAll: true, ownerUserId: owner, limits }
  }
  return { allowedUserIds: v.ALLOWED_USER_IDS, openToAll: false, ownerUserId: v.ALLOWED_USER_IDS[0] ?? 0, limits }
}
// ---- end of open mode ----

/** A cron setting: five fields or `off`, checked by the same parser the scheduler uses. */
function cronSetting (fallback: string, example: string) {
  return z.string().trim().default(fallback).transform((raw, ctx) => {
    const check = checkCron(raw)
    if (check.ok) return check.expression
    ctx.addIssue({ code: 'custom', message: `${check.problem}: use five fields (minute hour day-of-month month day-of-week) like "${example}", or off` })
    return z.NEVER
  })
}

function isTimeZone (name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name })
    return true
  } catch {
    return false
  }
}

export type SqliteTarget = Readonly<{ engine: 'sqlite', file: string }>
export type PostgresTarget = Readonly<{ engine: 'postgres', url: string, poolMax: number, statementTimeoutMs: number, applicationName: string }>
export type DatabaseTarget = SqliteTarget | PostgresTarget

/** Why a DATABASE_URL cannot be used, or null; never repeats the value (it holds the password). */
export function postgresUrlProblem (raw: string): string | null {
  const shape = 'write it as postgres://user:password@host:5432/database (percent-encode @ : / in the password), or leave it unset for SQLite'
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return `is not a URL: ${shape}`
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return `is not a PostgreSQL URL (it starts with ${url.protocol.replace(/[^a-z0-9+.-]/gi, '')}://): ${shape}`
  if (url.hostname === '') return `names no host: ${shape}`
  if (url.pathname.replace(/^\//, '') === '') return `names no database: ${shape}`
  return null
}

/** The URL as it may be shown: everything but the password. */
export function redactUrl (raw: string): string {
  try {
    const url = new URL(raw)
    if (url.password !== '') url.password = 'xxxxx'
    return url.toString()
  } catch {
    return '(DATABASE_URL)'
  }
}

function targetOf (file: string, v: { DATABASE_URL?: string | undefined, DATABASE_POOL_MAX: number, DATABASE_STATEMENT_TIMEOUT_MS: number, DATABASE_APPLICATION_NAME: string }): DatabaseTarget {
  if (v.DATABASE_URL === undefined) return Object.freeze({ engine: 'sqlite', file })
  return Object.freeze({ engine: 'postgres', url: v.DATABASE_URL, poolMax: v.DATABASE_POOL_MAX, statementTimeoutMs: v.DATABASE_STATEMENT_TIMEOUT_MS, applicationName: v.DATABASE_APPLICATION_NAME })
}

// Each message names the variable and the fix; the variable name is added by formatProblems.
const schema = z.object({
  TELEGRAM_BOT_TOKEN: z.string({ error: 'is missing: put the token @BotFather gave you in .env' })
    .trim()
    .min(1, { error: 'is empty: put the token @BotFather gave you in .env', abort: true })
    .regex(TOKEN_SHAPE, 'does not look like a bot token (<digits>:<secret>): copy it again from @BotFather'),
  ALLOWED_USER_IDS: z.string({ error: 'is missing: put your Telegram user id in .env (ask @userinfobot)' })
    .trim()
    .min(1, 'is empty: put your Telegram user id in .env (ask @userinfobot)')
    .transform((raw, ctx) => {
      if (raw === '*') return OPEN_TO_ALL // open mode (issue 15): see the open-mode block below
      const parts = raw.split(',').map((p) => p.trim()).filter((p) => p !== '')
      const bad = parts.filter((p) => !/^\d{1,16}$/.test(p) || Number(p) <= 0)
      if (bad.length > 0 || parts.length === 0) {
        ctx.addIssue({ code: 'custom', message: `has ${bad.length > 0 ? `"${bad.join('", "')}" which is not a` : 'no'} numeric Telegram user id: use comma-separated numbers like 123456789,987654321` })
        return z.NEVER
      }
      return Object.freeze([...new Set(parts.map(Number))])
    }),
  TELEGRAM_API_ROOT: z.string().trim().default(DEFAULT_API_ROOT)
    .refine((v) => /^https?:\/\/[^\s/]+/.test(v), 'is not an http(s) URL: leave it unset for Telegram, or use e.g. http://127.0.0.1:8081')
    .transform((v) => v.replace(/\/+$/, '')),
  DATABASE_FILE: z.string().trim().default(DEFAULT_DATABASE_FILE),
  // Never echoed in a message: it holds the password.
  DATABASE_URL: z.string().trim().optional()
    .refine((v) => v === undefined || postgresUrlProblem(v) === null, { error: (issue) => postgresUrlProblem(String(issue.input)) ?? '' }),
  DATABASE_POOL_MAX: z.string().trim().default(String(DEFAULT_DATABASE_POOL_MAX))
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 100, `is not a number of connections: use 1–100 (default ${DEFAULT_DATABASE_POOL_MAX})`)
    .transform(Number),
  DATABASE_STATEMENT_TIMEOUT_MS: z.string().trim().default(String(DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS))
    .refine((v) => /^\d+$/.test(v) && Number(v) <= 3_600_000, `is not a time limit in milliseconds: use 0–3600000 (default ${DEFAULT_DATABASE_STATEMENT_TIMEOUT_MS}; 0: no limit)`)
    .transform(Number),
  DATABASE_APPLICATION_NAME: z.string().trim().default(DEFAULT_DATABASE_APPLICATION_NAME)
    .refine((v) => /^[\x20-\x7e]{1,40}$/.test(v), 'is not a session name: use up to 40 plain ASCII characters (default mister_todo)'),
  HEALTH_PORT: z.string().trim().default(String(DEFAULT_HEALTH_PORT))
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 0 && Number(v) <= 65535, 'is not a port number: use 0–65535 (0 picks a free port)')
    .transform(Number),
  DEFAULT_TIMEZONE: z.string().trim().default('UTC')
    .refine(isTimeZone, 'is not an IANA time zone: use a name like Europe/Berlin or UTC'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'is not a log level: use one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  LOG_FILE: z.string().trim().optional(),
  LOG_MAX_BYTES: z.string().trim().default('10485760')
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1024, 'is not a size in bytes: use a number of at least 1024 (default 10485760, 10 MB)')
    .transform(Number),
  LOG_KEEP: z.string().trim().default('5')
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 100, 'is not a count of rotated files: use 1–100 (default 5)')
    .transform(Number),
  HANDOVER_WAIT_S: z.string().trim().default('0')
    .refine((v) => /^\d+$/.test(v) && Number(v) <= 600, 'is not a number of seconds: use 0–600 (0: refuse at once when another bot holds the database)')
    .transform(Number),
  MISTER_TODO_ROOT: z.string().trim().optional(),
  POLL_TIMEOUT_S: z.string().trim().default(String(DEFAULT_POLL_TIMEOUT_S))
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 0 && Number(v) <= 50, 'is not a long-poll timeout: use 0–50 seconds')
    .transform(Number),
  BACKUP_SCHEDULE: cronSetting(DEFAULT_BACKUP_SCHEDULE, DEFAULT_BACKUP_SCHEDULE),
  DRILL_SCHEDULE: cronSetting(DEFAULT_DRILL_SCHEDULE, DEFAULT_DRILL_SCHEDULE),
  BACKUP_COPY_TO: z.string().trim().optional(),
  BACKUP_COPY_COMMAND: z.string().trim().optional().transform((raw, ctx) => {
    if (raw === undefined) return null
    const split = splitCommand(raw)
    if ('problem' in split) {
      ctx.addIssue({ code: 'custom', message: `${split.problem}: write it as on a command line, e.g. rclone copy {file} remote:mister_todo/` })
      return z.NEVER
    }
    if (!split.words.some((w) => w.includes('{file}'))) {
      ctx.addIssue({ code: 'custom', message: 'does not name {file}: put {file} where the backup file goes, e.g. rclone copy {file} remote:mister_todo/' })
      return z.NEVER
    }
    return Object.freeze(split.words)
  }),
  BACKUP_COPY_TIMEOUT_S: z.string().trim().default(String(DEFAULT_BACKUP_COPY_TIMEOUT_S))
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 86_400, `is not a time limit in seconds: use 1–86400 (default ${DEFAULT_BACKUP_COPY_TIMEOUT_S})`)
    .transform(Number),
  ...webhookSchema,
  ...openSchema,
  ...instancesSchema,
})

export type Config = Readonly<{
  token: string
  /** The listed users, the owner first; in open mode the owner alone. */
  allowedUserIds: readonly number[]
  apiRoot: string
  /** The SQLite file; with DATABASE_URL set, its folder still holds the bot's local state (lock, serving.json). */
  databaseFile: string
  /** Which engine holds the tasks, and how to reach it. */
  database: DatabaseTarget
  healthPort: number
  defaultTimezone: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  pollTimeoutS: number
  /** Set under PM2: the file PM2 writes our output to, which the bot keeps rotated. */
  logFile: string | undefined
  logMaxBytes: number
  logKeep: number
  /** How long a new process stands by for the instance lock (a hand-over) before it refuses. */
  handoverWaitS: number
  /** The code this process runs (a release directory): its commit is the version. */
  projectRoot: string
  /** Where storage/ and .env live; relative DATABASE_FILE and LOG_FILE are resolved from here. */
  dataRoot: string
  /** Cron expressions in defaultTimezone, or null when off. */
  backupSchedule: string | null
  drillSchedule: string | null
  /** An absolute folder for off-machine copies, or null. */
  backupCopyTo: string | null
  /** The copy command's words, {file} and {name} not yet replaced, or null. */
  backupCopyCommand: readonly string[] | null
  backupCopyTimeoutS: number
  /** Webhook mode's settings, or null: the bot polls. */
  webhook: WebhookSettings | null
  /** ALLOWED_USER_IDS=*: anyone may use the bot (allowedUserIds then holds the owner alone). */
  openToAll: boolean
  /** The owner: the first of ALLOWED_USER_IDS, or OWNER_USER_ID with ALLOWED_USER_IDS=*. */
  ownerUserId: number
  /** Per-user limits; enforced in open mode (listed users are trusted). */
  limits: OpenLimits
  /** How many instances PM2 runs (WEB_CONCURRENCY); more than 1 only in webhook mode on PostgreSQL. */
  instances: number
  /** PM2's NODE_APP_INSTANCE (cluster mode), or null outside PM2. */
  pm2Instance: number | null
}>

export class ConfigError extends AppError {
  readonly problems: readonly string[]
  constructor (problems: readonly string[]) {
    super('ECONFIG', `configuration is invalid:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.problems = problems
  }
}

export const PROJECT_ROOT = path.resolve(import.meta.dirname, '..')

type Env = Record<string, string | undefined>

/** Where the data lives (MISTER_TODO_ROOT, else the code's folder): every data path is resolved from it. */
function dataRootOf (root: string | undefined): string {
  return path.resolve(PROJECT_ROOT, root?.trim() || '.')
}

/** Settings with no default: set but blank is named as empty, with what to put there. */
const REQUIRED = ['TELEGRAM_BOT_TOKEN', 'ALLOWED_USER_IDS'] as const

/** Validates env (a blank optional value counts as unset) and returns one line per problem, or the config. */
export function checkEnvironment (env: Env = process.env): { config?: Config, problems: string[] } {
  const cleaned: Record<string, string> = {}
  for (const key of Object.keys(schema.shape)) {
    const value = env[key]
    if (value !== undefined && value.trim() !== '') cleaned[key] = value
  }
  const blank = Object.fromEntries(REQUIRED.filter((key) => env[key]?.trim() === '').map((key) => [key, '']))
  const parsed = schema.safeParse({ ...blank, ...cleaned })
  const missing = [...webhookSecretMissing(cleaned), ...ownerProblems(cleaned), ...concurrencyProblems(cleaned)]
  if (!parsed.success || missing.length > 0) {
    const problems = [...(parsed.error?.issues ?? []).map((issue) => `${String(issue.path[0] ?? 'environment')} ${issue.message}`), ...missing]
    return { problems: [...new Set(problems)] }
  }
  const v = parsed.data
  const dataRoot = dataRootOf(v.MISTER_TODO_ROOT)
  const config: Config = Object.freeze({
    token: v.TELEGRAM_BOT_TOKEN,
    ...accessOf(v),
    apiRoot: v.TELEGRAM_API_ROOT,
    databaseFile: path.resolve(dataRoot, v.DATABASE_FILE),
    database: targetOf(path.resolve(dataRoot, v.DATABASE_FILE), v),
    healthPort: healthPortOf(v),
    defaultTimezone: v.DEFAULT_TIMEZONE,
    logLevel: v.LOG_LEVEL,
    pollTimeoutS: v.POLL_TIMEOUT_S,
    logFile: v.LOG_FILE === undefined ? undefined : path.resolve(dataRoot, v.LOG_FILE),
    logMaxBytes: v.LOG_MAX_BYTES,
    logKeep: v.LOG_KEEP,
    handoverWaitS: v.HANDOVER_WAIT_S,
    projectRoot: PROJECT_ROOT,
    dataRoot,
    backupSchedule: v.BACKUP_SCHEDULE,
    drillSchedule: v.DRILL_SCHEDULE,
    // From the data's root like every data path: PROJECT_ROOT is releases/<commit>/ after a
    // deploy, and a copy folder there would be pruned with the release.
    backupCopyTo: v.BACKUP_COPY_TO === undefined ? null : path.resolve(dataRoot, v.BACKUP_COPY_TO),
    backupCopyCommand: v.BACKUP_COPY_COMMAND,
    backupCopyTimeoutS: v.BACKUP_COPY_TIMEOUT_S,
    webhook: webhookOf(v),
    instances: v.WEB_CONCURRENCY,
    pm2Instance: v.NODE_APP_INSTANCE,
  })
  return { config, problems: [] }
}

/** The bot's entry: a valid config or a ConfigError listing every problem. */
export function loadConfig (env: Env = process.env): Config {
  const { config, problems } = checkEnvironment(env)
  if (config === undefined) throw new ConfigError(problems)
  return config
}

/** The database path alone, for the Knex CLI and ops steps that do not need a token. */
export function databaseFileFrom (env: Env = process.env): string {
  const raw = env.DATABASE_FILE?.trim()
  return path.resolve(dataRootOf(env.MISTER_TODO_ROOT), raw === undefined || raw === '' ? DEFAULT_DATABASE_FILE : raw)
}

/** Where the bot's data lives, for the Knex CLI and ops steps that do not need a token (validated like the bot's). */
export function databaseTargetFrom (env: Env = process.env): { target?: DatabaseTarget, problems: string[] } {
  const keys = ['DATABASE_URL', 'DATABASE_POOL_MAX', 'DATABASE_STATEMENT_TIMEOUT_MS', 'DATABASE_APPLICATION_NAME'] as const
  const cleaned: Record<string, string> = {}
  for (const key of keys) {
    const value = env[key]
    if (value !== undefined && value.trim() !== '') cleaned[key] = value
  }
  const parsed = schema.pick({ DATABASE_URL: true, DATABASE_POOL_MAX: true, DATABASE_STATEMENT_TIMEOUT_MS: true, DATABASE_APPLICATION_NAME: true }).safeParse(cleaned)
  if (!parsed.success) return { problems: parsed.error.issues.map((issue) => `${String(issue.path[0] ?? 'environment')} ${issue.message}`) }
  return { target: targetOf(databaseFileFrom(env), parsed.data), problems: [] }
}

export type CopySettings = Pick<Config, 'backupCopyTo' | 'backupCopyCommand' | 'backupCopyTimeoutS'>

/** The off-machine copy settings alone (no token needed), for ops/backup.mjs: validated by the same rules. */
export function copySettingsFrom (env: Env = process.env): { settings?: CopySettings, problems: string[] } {
  const keys = ['BACKUP_COPY_TO', 'BACKUP_COPY_COMMAND', 'BACKUP_COPY_TIMEOUT_S'] as const
  const cleaned: Record<string, string> = {}
  for (const key of keys) {
    const value = env[key]
    if (value !== undefined && value.trim() !== '') cleaned[key] = value
  }
  const parsed = schema.pick({ BACKUP_COPY_TO: true, BACKUP_COPY_COMMAND: true, BACKUP_COPY_TIMEOUT_S: true }).safeParse(cleaned)
  if (!parsed.success) return { problems: parsed.error.issues.map((issue) => `${String(issue.path[0] ?? 'environment')} ${issue.message}`) }
  const v = parsed.data
  return {
    settings: { backupCopyTo: v.BACKUP_COPY_TO === undefined ? null : path.resolve(dataRootOf(env.MISTER_TODO_ROOT), v.BACKUP_COPY_TO), backupCopyCommand: v.BACKUP_COPY_COMMAND, backupCopyTimeoutS: v.BACKUP_COPY_TIMEOUT_S },
    problems: [],
  }
}
