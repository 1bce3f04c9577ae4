// The one reader of process.env: validates every setting and returns a frozen Config.
// The ops scripts validate .env through this same module (checkEnvironment), so the bot and the
// toolkit can never disagree about what a good .env is.
import path from 'node:path'
import { z } from 'zod'
import { AppError } from './errors.js'

export const DEFAULT_API_ROOT = 'https://api.telegram.org'
export const DEFAULT_DATABASE_FILE = 'storage/db/todo.sqlite'
export const DEFAULT_HEALTH_PORT = 8787
export const DEFAULT_POLL_TIMEOUT_S = 25

const TOKEN_SHAPE = /^\d{5,}:[A-Za-z0-9_-]{20,}$/

function isTimeZone (name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name })
    return true
  } catch {
    return false
  }
}

// Each message names the variable and the fix; the variable name is added by formatProblems.
const schema = z.object({
  TELEGRAM_BOT_TOKEN: z.string({ error: 'is missing: put the token @BotFather gave you in .env' })
    .trim()
    .regex(TOKEN_SHAPE, 'does not look like a bot token (<digits>:<secret>): copy it again from @BotFather'),
  ALLOWED_USER_IDS: z.string({ error: 'is missing: put your Telegram user id in .env (ask @userinfobot)' })
    .trim()
    .min(1, 'is empty: put your Telegram user id in .env (ask @userinfobot)')
    .transform((raw, ctx) => {
      const parts = raw.split(',').map((p) => p.trim()).filter((p) => p !== '')
      const bad = parts.filter((p) => !/^\d{1,16}$/.test(p) || Number(p) <= 0)
      if (bad.length > 0 || parts.length === 0) {
        ctx.addIssue({ code: 'custom', message: `has ${bad.length > 0 ? `"${bad.join('", "')}" which is not` : 'no'} a numeric Telegram user id: use comma-separated numbers like 123456789,987654321` })
        return z.NEVER
      }
      return Object.freeze([...new Set(parts.map(Number))])
    }),
  TELEGRAM_API_ROOT: z.string().trim().default(DEFAULT_API_ROOT)
    .refine((v) => /^https?:\/\/[^\s/]+/.test(v), 'is not an http(s) URL: leave it unset for Telegram, or use e.g. http://127.0.0.1:8081')
    .transform((v) => v.replace(/\/+$/, '')),
  DATABASE_FILE: z.string().trim().min(1, 'is empty: leave it unset or give a file path').default(DEFAULT_DATABASE_FILE),
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
})

export type Config = Readonly<{
  token: string
  allowedUserIds: readonly number[]
  apiRoot: string
  databaseFile: string
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

/** Validates env (blank values count as unset) and returns one line per problem, or the config. */
export function checkEnvironment (env: Env = process.env): { config?: Config, problems: string[] } {
  const cleaned: Record<string, string> = {}
  for (const key of Object.keys(schema.shape)) {
    const value = env[key]
    if (value !== undefined && value.trim() !== '') cleaned[key] = value
  }
  const parsed = schema.safeParse(cleaned)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${String(issue.path[0] ?? 'environment')} ${issue.message}`)
    return { problems: [...new Set(problems)] }
  }
  const v = parsed.data
  const dataRoot = path.resolve(PROJECT_ROOT, v.MISTER_TODO_ROOT ?? '.')
  const config: Config = Object.freeze({
    token: v.TELEGRAM_BOT_TOKEN,
    allowedUserIds: v.ALLOWED_USER_IDS,
    apiRoot: v.TELEGRAM_API_ROOT,
    databaseFile: path.resolve(dataRoot, v.DATABASE_FILE),
    healthPort: v.HEALTH_PORT,
    defaultTimezone: v.DEFAULT_TIMEZONE,
    logLevel: v.LOG_LEVEL,
    pollTimeoutS: v.POLL_TIMEOUT_S,
    logFile: v.LOG_FILE === undefined ? undefined : path.resolve(dataRoot, v.LOG_FILE),
    logMaxBytes: v.LOG_MAX_BYTES,
    logKeep: v.LOG_KEEP,
    handoverWaitS: v.HANDOVER_WAIT_S,
    projectRoot: PROJECT_ROOT,
    dataRoot,
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
  const root = path.resolve(PROJECT_ROOT, env.MISTER_TODO_ROOT?.trim() || '.')
  return path.resolve(root, raw === undefined || raw === '' ? DEFAULT_DATABASE_FILE : raw)
}
