// Builds and runs the bot from a Config: database, Bot API client, commands, polling. Kept apart
// from main.ts so tests and `npm run try` run the very same bot in-process.
// Two phases, so that a new version can hand over with no gap: standby (everything slow: code
// loaded, getMe, the schema checked, the command menu set) and take-over (the instance lock, the
// hand-over plan carried out with nothing writing, health served, polling from the committed
// offset). `dryStart` runs the standby checks alone and stops: ops runs it before a hand-over.
// Everything the take-over starts is a service in one stack (lifecycle.ts): lock, database,
// health, outbox, reminder loop, backup scheduler, poller or webhook server, stopped in reverse.
import path from 'node:path'
import { Bot, TelegramApiError } from 'node-telegram-bot-api'
import { MIGRATIONS_DIR } from '../knexfile.js'
import { healthCommand } from './commands/health.js'
import { commandList, createDispatch } from './commands/index.js'
import { systemClock, type Clock } from './clock.js'
import type { Config, PostgresTarget } from './config.js'
import { ensureSchemaCurrent, openDatabase, schemaStatus, type Database, type SchemaStatus } from './db.js'
import { AppError } from './errors.js'
import { migrationModuleUrl } from './migration-source.js'
import { checkHealth, gitVersion, RUNTIME, startHealthServer, type Health, type HealthSources } from './health.js'
import { tryDatabaseLock, waitForDatabaseLock } from './instance-lock.js'
import { Lifecycle } from './lifecycle.js'
import { openPresence } from './leader-presence.js'
import { instanceName, LEADER_POLL_MS, LeaderElection, stopOnLostLead, planChangesSchema, schemaAsInstance, severalInstances, waitForLeadOrPlan } from './leader.js'
import type { Logger } from './logger.js'
import { ChatSettingsRepository } from './chats/settings.js'
import { DatabaseChecker } from './db-check.js'
import { Metrics } from './metrics.js'
import { ApiErrorCounter } from './metrics-api.js'
import { httpFetch } from './http-fetch.js'
import { createMetricsEndpoint } from './metrics-prometheus.js'
import { ReminderLoop } from './reminders/loop.js'
import { carryOutPlan, pendingPlan, recordServing, type HandoverPlan } from './takeover.js'
import { SendRateLimiter } from './reminders/rate-limit.js'
import { BackupScheduler, type BackupSchedulerDeps } from './backups/scheduler.js'
import { TaskRepository } from './tasks/repository.js'
import { createAttachmentLoader } from './transfer/attachment.js'
import { Turn, type TurnFactory } from './turn.js'
import { WalCheckpointer } from './wal-checkpointer.js'
import { WriteGate } from './write-gate.js'
import { warmUpParsing } from './time/parse-due.js'
import { OutboxDelivery } from './updates/delivery.js'
import { UpdateLedger, type LedgerBatch } from './updates/ledger.js'
import { createPipeline } from './updates/pipeline.js'
import { openGate } from './open/rate-limit.js'
import { pollUpdates, tokenRejected, type PollState } from './updates/poller.js'
import { listenAtStandby } from './webhook/early.js'
import { GroupCommit } from './webhook/group-commit.js'
import { serveWebhook } from './webhook/serve.js'
import { leaveWebhookMode, WebhookInfoCache } from './webhook/telegram.js'

export const API_TIMEOUT_MS = 15_000
/** After the bot serves, /metrics' library is loaded this much later (a scrape loads it at once). */
const METRICS_LOAD_DELAY_MS = 1000

export type RunningBot = {
  /** Resolves when polling has ended and every service has stopped (the database closed, then
   * the lock released); rejects, after the same, on a fatal error. */
  done: Promise<void>
  /** Stops polling at once, finishes the update in hand, stops every service in reverse. */
  stop: () => Promise<void>
  /** The first getUpdates has been answered (or the webhook registered): the bot serves. Already
   * resolved when startBot resolves. */
  ready: Promise<void>
  username: string
  version: string
  db: Database
  schema: SchemaStatus
  metrics: Metrics
  pollState: PollState
  startedAt: number
  health: () => Promise<Health>
  healthPort: number
  /** Webhook mode: where the webhook server listens (port 0 resolved). */
  webhook?: { address: string, port: number }
}

/**
 * `clock`: where the bot reads the time (tests and `npm run try` set or speed it up).
 * `onStandby`: when the process may be called ready (under PM2 the `ready` signal): as soon as
 * everything slow is done and it only waits for the lock another bot holds (so `pm2 reload` stops
 * the old process only then), or, when nobody holds the lock, once it serves (first poll answered).
 * `signal`: ends a start that has not finished: a standby still waiting, or a take-over before
 * its first poll (what was started is stopped; startBot rejects with EABORTED).
 */
export type StartOptions = { logger: Logger, clock?: Clock, onStandby?: () => void, signal?: AbortSignal, backups?: Pick<BackupSchedulerDeps, 'root' | 'catchUpDelayMs' | 'env' | 'run'> }

async function getMeOrExplain (bot: Bot): Promise<string> {
  try {
    const me = await bot.api.getMe()
    return me.username ?? 'mister_todo_bot'
  } catch (err) {
    if (err instanceof TelegramApiError && err.errorCode === 401) {
      throw tokenRejected(err)
    }
    throw new AppError('EGETME', `cannot reach the Bot API (TELEGRAM_API_ROOT): ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}

/**
 * Can this code run on the database as it will be after the take-over? The live schema must be
 * current, or pending only where the plan migrates, or unknown only where the plan undoes or keeps
 * (moves out of knex_migrations); a plan
 * that restores a backup replaces the database, which ops verified against this release.
 */
async function checkSchemaForStandby (database: Config['database'], plan: HandoverPlan | null): Promise<SchemaStatus | null> {
  if (plan?.restore !== undefined) return null
  const db = openDatabase(database)
  try {
    const status = await schemaStatus(db)
    const undoing = new Set([...plan?.undo?.names ?? [], ...plan?.keep?.names ?? []])
    const unknown = status.unknown.filter((n) => !undoing.has(n))
    if (unknown.length > 0 || (status.pending.length > 0 && plan?.migrate !== true && status.applied.length > 0)) {
      await ensureSchemaCurrent(db)
    }
    return status
  } finally {
    await db.destroy()
  }
}

/**
 * Loads (and so compiles) the migration files the take-over will run, while the old version still
 * serves: Knex imports them by the same URL, so at take-over they come from the module cache.
 */
async function preloadMigrations (plan: HandoverPlan | null, status: SchemaStatus | null): Promise<void> {
  const files = [
    ...(plan?.migrate === true ? (status?.pending ?? []).map((name) => path.join(MIGRATIONS_DIR, name)) : []),
    ...(plan?.undo?.names ?? []).map((name) => path.join(plan?.undo?.migrationsDir ?? '', name)),
  ]
  for (const file of files) await import(migrationModuleUrl(file))
}

type Standby = { bot: Bot, username: string, version: string, plan: HandoverPlan | null, startedAt: number, apiErrors: ApiErrorCounter }

async function standBy (config: Config): Promise<Standby> {
  const startedAt = Date.now()
  const version = gitVersion(config.projectRoot)
  const plan = pendingPlan(config.databaseFile, version)
  const apiErrors = new ApiErrorCounter(httpFetch)
  const bot = new Bot(config.token, { apiRoot: config.apiRoot, timeoutMs: API_TIMEOUT_MS, fetch: apiErrors.fetch })
  // The token check goes out while the schema is read: a crash restart waits for the slower one only.
  const me = getMeOrExplain(bot)
  me.catch(() => {})
  const status = await checkSchemaForStandby(config.database, plan)
  await preloadMigrations(plan, status)
  const username = await me
  return { bot, username, version, plan, startedAt, apiErrors }
}

/** The standby checks alone (code loads, schema, token), touching nothing: ops runs it first. */
export async function dryStart (config: Config): Promise<{ username: string, version: string, plan: string | null }> {
  const s = await standBy(config)
  return { username: s.username, version: s.version, plan: s.plan?.id ?? null }
}

/**
 * Stands by, takes over, and resolves once the bot serves (first poll answered, or the webhook
 * registered). Rejects when it cannot get there (a rejected token, a port in use, a failed
 * take-over, the abort signal) having stopped, in reverse, everything it had started.
 */
export async function startBot (config: Config, options: StartOptions): Promise<RunningBot> {
  const { logger } = options
  const { bot, username, version, plan, startedAt, apiErrors } = await standBy(config)
  const clock = options.clock ?? systemClock
  const now = (): number => clock.now()
  let health: () => Promise<Health> = () => Promise.reject(new Error('not serving yet'))
  const commands = commandList([healthCommand(() => health())], config)
  // Both out at once: a crash restart waits for one round trip, not two.
  const commandsSet = bot.api.setMyCommands({ commands: commands.filter((c) => c.menu !== false).map((c) => ({ command: c.name, description: c.description })) })
    .catch((err: unknown) => logger.warn({ err }, 'setMyCommands failed; the command menu may be out of date'))
  // ---- Webhook mode (issue 15): polling asks at standby whether a webhook is still set (see leaveWebhookMode). ----
  const webhookAtStandby = config.webhook === null ? await bot.api.getWebhookInfo().catch(() => undefined) : undefined
  // ---- end webhook mode ----
  await commandsSet

  // Nobody to hand over from (a plain start): take the lock now and say ready once serving, so
  // `pm2 start` still waits for a bot that answers. Else say ready now and stand by.
  const free = await tryDatabaseLock(config)
  // From here on everything started is in one stack, stopped in reverse on every path (lifecycle.ts).
  const services = new Lifecycle(logger)
  // A signal before the first poll ends the start: what was started is stopped, then EABORTED.
  const onAbort = (): void => { void services.stop() }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    // ---- Webhook mode (issue 15): a standby listens already (bot/webhook/early.ts). ----
    const early = free === null && config.webhook !== null ? await listenAtStandby(config.webhook, logger, severalInstances(config)) : null
    // Until serving takes it over (then the webhook server's own stop closes it), it is abandoned.
    let earlyAdopted = false
    if (early !== null) await services.start('webhook server (standby)', () => early, (e) => earlyAdopted ? undefined : e.abandon())
    // ---- end webhook mode ----
    // The date parser's first runs cost ~200 ms (V8 compiles its patterns): a standby pays that
    // before it says ready, not in a user's wait during the hand-over. A plain start (a crash
    // restart, the first start) does not: its first poll would wait for it (goal: ≤ 0.5 s after
    // the process starts), and after an outage of seconds one slower answer is not what is felt.
    if (free === null) {
      logger.debug({ ms: Math.round(warmUpParsing()) }, 'date parser warmed up')
      options.onStandby?.()
    }
    // ---- Several instances (issue 15): webhook mode on PostgreSQL serves without the exclusive
    // lock; the lock is the leader's (bot/leader.ts). A plan that changes the schema still waits for it. ----
    const several = severalInstances(config)
    const signalOption = options.signal === undefined ? {} : { signal: options.signal }
    const election = several
      ? await services.start('leader lock', async () => new LeaderElection(config, logger, free ?? (planChangesSchema(plan) ? await waitForLeadOrPlan(config, version, signalOption) : null)), (e) => e.stop())
      : null
    if (several) await services.start('presence', () => openPresence(config.database as PostgresTarget), (p) => p.close())
    // ---- end several instances ----
    if (election === null) {
      await services.start('instance lock', () => free ?? waitForDatabaseLock(config, {
        waitMs: config.handoverWaitS * 1000,
        ...signalOption,
        onWait: (holder) => logger.info({ holder, version }, 'standby: loaded, waiting for the running bot to hand over'),
      }), (l) => l.release())
    }
    const takeOverAt = performance.now()
    // Several instances: a plan that changes the schema only by the leader, and only while it is
    // still pending (a sibling may have); one that changes nothing (a deploy without migrations)
    // by any instance, so ops reads its result as from one process.
    const planNow = election === null ? plan : election.isLeader || !planChangesSchema(plan) ? pendingPlan(config.databaseFile, version) : null
    const database = await services.start('database', async () => {
      if (planNow !== null) await carryOutPlan(planNow, config.database, config.databaseFile, logger)
      return openDatabase(config.database, { checkpoints: 'external' })
    }, (db) => db.destroy())
    // SQLite: WAL checkpoints (an fsync each) in a child process, never inside a user's commit.
    const target = config.database
    if (target.engine === 'sqlite') await services.start('WAL checkpointer', () => new WalCheckpointer(target.file, logger).start(), (c) => c.stop())
    const schema = election === null || election.isLeader
      ? await ensureSchemaCurrent(database)
      : await schemaAsInstance(election, async () => { const st = await schemaStatus(database); return st.applied.length === 0 && st.pending.length > 0 }, () => ensureSchemaCurrent(database), signalOption)
    election?.start()
    const metrics = new Metrics()
    const pollState: PollState = { lastPollAt: null, lastError: null, failingSince: null, polls: 0, failures: 0 }
    const ledger = new UpdateLedger(database, now, { alone: config.webhook === null })
    const gate = new WriteGate()
    const limiter = new SendRateLimiter()
    const reminders = new ReminderLoop({ db: database, api: bot.api, clock, logger, defaultZone: config.defaultTimezone, gate, limiter, ...(several ? { maxSleepMs: LEADER_POLL_MS } : {}) })
    // Scheduled backups and drills, owner notices (issue 13).
    const backups = new BackupScheduler({ db: database, api: bot.api, clock, logger, gate, limiter, config, ...options.backups })
    const leads = (): boolean => election?.isLeader ?? true
    const sources: HealthSources = { instance: () => ({ name: instanceName(config), pm2Instance: config.pm2Instance, pid: process.pid, leads: leads(), several }), db: database, checker: new DatabaseChecker(config.database, database, now), metrics, pollState, pollTimeoutS: config.pollTimeoutS, startedAt, version, outboxBacklog: () => ledger.backlog(), reminders: () => reminders.state(), backups: () => backups.state() }
    // ---- Webhook mode (issue 15): health names the mode and Telegram's view of the webhook. ----
    const webhookInfo = config.webhook === null ? undefined : new WebhookInfoCache(bot.api, logger)
    const hook = config.webhook
    if (webhookInfo !== undefined && hook !== null) sources.mode = () => ({ mode: 'webhook', listen: webhookInfo.listen ?? `${hook.host}:${hook.port}`, url: hook.url, telegram: webhookInfo.get() })
    // ---- end webhook mode ----
    health = () => checkHealth(sources)
    const metricsEndpoint = createMetricsEndpoint({ ...sources, apiErrors, runtime: RUNTIME })
    const server = await services.start('health server', () => startHealthServer(config.healthPort, () => health(), metricsEndpoint).catch((err: unknown) => {
      throw new AppError('EHEALTHPORT', `cannot serve health on 127.0.0.1:${config.healthPort}: ${err instanceof Error ? err.message : String(err)}. Set HEALTH_PORT to a free port`, { cause: err })
    }), (s) => new Promise<void>((resolve) => s.close(() => resolve())))
    const newTurn: TurnFactory = (trx, chatId, updateId, settings) =>
      new Turn({ tasks: new TaskRepository(trx, now), chats: new ChatSettingsRepository(trx, now), settings, chatId, updateId, now: now(), defaultZone: config.defaultTimezone })
    const handle = createPipeline({ api: bot.api, ledger, dispatch: createDispatch(username, commands, config), allowedUserIds: config.allowedUserIds, open: openGate(config, now), metrics, logger, newTurn,
      attachments: createAttachmentLoader({ api: bot.api, token: config.token, apiRoot: config.apiRoot, logger, botUsername: username }) })
    bot.use(async (ctx) => {
      await gate.run(() => handle(ctx.update))
      reminders.poke()
    })
    // Errors that reach here could not even be recorded (the database is failing): stop loudly,
    // so the supervisor restarts us and Telegram redelivers the update.
    bot.catch((err) => { throw err })
    // The outbox: what the previous process left undelivered goes out first; at the stop, the
    // writes in hand (a flush, a reminder's claim) finish before the database closes.
    const delivery = new OutboxDelivery(bot.api, ledger, logger, (write) => gate.run(write))
    await services.start('outbox', () => delivery.flush(), async () => {
      await delivery.idle()
      await gate.run(async () => {})
    })
    // The reminder loop and the backup scheduler run once the bot serves (first poll answered,
    // or the webhook registered); their stops are in the stack from here, above the database.
    let servingNow: () => void = () => {}
    const servingStarted = new Promise<void>((resolve) => { servingNow = resolve })
    let remindersStarted: Promise<void> = Promise.resolve()
    // Several instances: the reminders, digests and backups run on the leader alone, from when it leads.
    const leadingAndServing = Promise.all([servingStarted, election?.leading])
    await services.start('reminder loop', () => {
      void leadingAndServing.then(() => {
        if (services.isStopping) return
        remindersStarted = reminders.start().catch((err: unknown) => logger.error({ err }, 'reminder loop did not start'))
      })
    }, async () => {
      await reminders.stop()
      await remindersStarted
    })
    await services.start('backup scheduler', () => {
      void leadingAndServing.then(() => { if (!services.isStopping) backups.start() })
    }, () => backups.stop())
    // Written beside the first poll, not before it: its fsync is off the event loop, and no user
    // waits for it. A stop waits for it (no half-written file left open).
    const recorded = recordServing(config.databaseFile, { pid: process.pid, version, healthPort: server.port, since: new Date().toISOString() })
      .catch((err: unknown) => logger.warn({ err }, 'could not record that this version serves; ops will not see the take-over confirmed'))
    await services.start('serving record', () => ({ recorded }), (r) => r.recorded)
    logger.info({ version, takeOverMs: Math.round(performance.now() - takeOverAt), plan: planNow?.id, ...(several ? { instance: instanceName(config), leads: leads() } : {}) }, 'took over: serving')
    const applyInTurn = async (update: Parameters<typeof handle>[0], batch?: LedgerBatch): Promise<void> => { await handle(update, batch); reminders.poke() }
    const serving: Serving = {
      applyInTurn,
      onServing: () => {
        if (free !== null) options.onStandby?.()
        servingNow()
        // Off the start's path: the first poll and its answers come first.
        setTimeout(() => { void metricsEndpoint.load().catch((err: unknown) => logger.warn({ err }, 'prom-client did not load; /metrics fails')) }, METRICS_LOAD_DELAY_MS).unref()
      },
      leads,
      config, bot, ledger, delivery, services, db: database, logger, metrics, pollState, health: () => health(), username, version, schema, startedAt, gate, healthPort: server.port,
    }
    // ---- Webhook mode (issue 15): the webhook server instead of the poller; back to polling deletes the webhook first. ----
    // The requests in hand are applied together, one transaction and one commit per group
    // (bot/webhook/group-commit.ts); on SQLite the group holds the write gate, as a polled batch does.
    const group = new GroupCommit({
      batch: config.database.engine === 'postgres' ? (work) => ledger.group(work) : (work) => gate.run(() => ledger.group(work)),
      apply: applyInTurn,
      prefetch: handle.prefetch,
      logger,
    })
    const applyUpdate = group.apply
    if (webhookInfo !== undefined) {
      const running = await serveWebhook(serving, webhookInfo, applyUpdate, early === null ? null : () => { earlyAdopted = true; return early })
      options.signal?.removeEventListener('abort', onAbort)
      // Several instances: a leader that lost its lock to another instance stops, and `done` rejects with why.
      return election === null ? running : stopOnLostLead(running, election)
    }
    await leaveWebhookMode(bot.api, logger, { lastHandled: () => ledger.lastUpdateId(), handle: (update) => bot.handleUpdate(update), afterBatch: () => delivery.flush() }, webhookAtStandby)
    // ---- end webhook mode ----
    const running = await serve(serving)
    options.signal?.removeEventListener('abort', onAbort)
    return running
  } catch (err) {
    options.signal?.removeEventListener('abort', onAbort)
    await services.stop()
    throw err
  }
}

export type Serving = {
  /** Runs the jobs that must run once (several instances: the leader; else always true). */
  leads: () => boolean
  /** Applies an update without taking the write gate (the caller holds it: a polled batch). */
  applyInTurn: (update: Parameters<Bot['handleUpdate']>[0]) => Promise<void>
  /** Called once the bot serves (first poll answered, or the webhook registered). */
  onServing: () => void
  config: Config
  bot: Bot
  ledger: UpdateLedger
  delivery: OutboxDelivery
  /** The started services; serving pushes its poller or webhook server on top. */
  services: Lifecycle
  db: Database
  logger: Logger
  metrics: Metrics
  pollState: PollState
  health: () => Promise<Health>
  username: string
  version: string
  schema: SchemaStatus
  startedAt: number
  gate: WriteGate
  healthPort: number
}

/**
 * Polls from the committed offset; resolves once the first getUpdates is answered, rejects if
 * polling ends before that (a rejected token, a stop). The services unwind when polling ends.
 */
async function serve (s: Serving): Promise<RunningBot> {
  const controller = new AbortController()
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => { markReady = resolve })
  // Returned wrapped: the start is over once polling began, not when it ends.
  const { polling } = await s.services.start('poller', () => {
    const p = pollUpdates({
      api: s.bot.api,
      ledger: s.ledger,
      // A batch holds the gate once and commits once (UpdateLedger.batch); its updates skip the gate.
      handle: s.applyInTurn,
      batch: (work) => s.gate.run(() => s.ledger.batch(work)),
      afterPoll: () => s.delivery.flush(),
      timeoutS: s.config.pollTimeoutS,
      signal: controller.signal,
      logger: s.logger,
      state: s.pollState,
      onFirstPoll: () => {
        markReady()
        s.onServing()
      },
    })
    p.catch(() => {})
    return { polling: p }
  }, async ({ polling }) => {
    controller.abort()
    await polling.catch(() => {})
  })
  // Polling has ended (a stop, or a fatal error): everything else stops, in reverse.
  const done = polling.then(() => s.services.stop(), async (err: unknown) => {
    await s.services.stop()
    throw err
  })
  done.catch(() => {})
  await Promise.race([ready, polling.then(() => {
    throw new AppError('EABORTED', 'stopped before the first poll')
  })])
  return {
    done,
    stop: async () => {
      await s.services.stop()
      await done.catch(() => {})
    },
    ready,
    ...servingFacts(s),
  }
}

/** What a running bot reports the same way whether it polls or takes webhooks. */
export function servingFacts (s: Serving): Omit<RunningBot, 'done' | 'stop' | 'ready' | 'webhook'> {
  return { username: s.username, version: s.version, db: s.db, schema: s.schema, metrics: s.metrics, pollState: s.pollState, startedAt: s.startedAt, health: s.health, healthPort: s.healthPort }
}
