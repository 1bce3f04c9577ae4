// Builds and runs the bot from a Config: database, Bot API client, commands, polling. Kept apart
// from main.ts so tests and `npm run try` run the very same bot in-process.
import { Bot, TelegramApiError } from 'node-telegram-bot-api'
import { healthCommand } from './commands/health.js'
import { commandList, createDispatch } from './commands/index.js'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import { ensureSchemaCurrent, openDatabase, type Database, type SchemaStatus } from './db.js'
import { AppError } from './errors.js'
import { checkHealth, gitVersion, startHealthServer, type Health } from './health.js'
import { acquireInstanceLock } from './instance-lock.js'
import type { Logger } from './logger.js'
import { ChatSettingsRepository } from './chats/settings.js'
import { Metrics } from './metrics.js'
import { ReminderLoop } from './reminders/loop.js'
import { TaskRepository } from './tasks/repository.js'
import { createAttachmentLoader } from './transfer/attachment.js'
import { Turn, type TurnFactory } from './turn.js'
import { WriteGate } from './write-gate.js'
import { OutboxDelivery } from './updates/delivery.js'
import { UpdateLedger } from './updates/ledger.js'
import { createPipeline } from './updates/pipeline.js'
import { pollUpdates, tokenRejected, type PollState } from './updates/poller.js'

export const API_TIMEOUT_MS = 15_000

export type RunningBot = {
  /** Resolves when polling has ended and the database is closed; rejects on a fatal error. */
  done: Promise<void>
  /** Stops polling at once, finishes the update in hand, closes the database. */
  stop: () => Promise<void>
  ready: Promise<void>
  username: string
  db: Database
  schema: SchemaStatus
  metrics: Metrics
  pollState: PollState
  startedAt: number
  health: () => Promise<Health>
  healthPort: number
}

/** `clock`: where the bot reads the time (tests and `npm run try` set or speed it up). */
export type StartOptions = { logger: Logger, clock?: Clock }

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

export async function startBot (config: Config, options: StartOptions): Promise<RunningBot> {
  const { logger } = options
  const startedAt = Date.now()
  const lock = acquireInstanceLock(config.databaseFile)
  const db = openDatabase(config.databaseFile)
  const bot = new Bot(config.token, { apiRoot: config.apiRoot, timeoutMs: API_TIMEOUT_MS })
  const metrics = new Metrics()
  const clock = options.clock ?? systemClock
  const now = (): number => clock.now()
  const ledger = new UpdateLedger(db, now)
  const gate = new WriteGate()
  const reminders = new ReminderLoop({ db, api: bot.api, clock, logger, defaultZone: config.defaultTimezone, gate })
  const pollState: PollState = { lastPollAt: null, lastError: null, failingSince: null, polls: 0 }
  const version = gitVersion(config.projectRoot)
  const health = (): Promise<Health> => checkHealth({ db, metrics, pollState, pollTimeoutS: config.pollTimeoutS, startedAt, version, outboxBacklog: () => ledger.backlog(), reminders: () => reminders.state() })
  let schema: SchemaStatus
  let username: string
  let server: Awaited<ReturnType<typeof startHealthServer>>
  try {
    schema = await ensureSchemaCurrent(db)
    username = await getMeOrExplain(bot)
    server = await startHealthServer(config.healthPort, health).catch((err: unknown) => {
      throw new AppError('EHEALTHPORT', `cannot serve health on 127.0.0.1:${config.healthPort}: ${err instanceof Error ? err.message : String(err)}. Set HEALTH_PORT to a free port`, { cause: err })
    })
  } catch (err) {
    await db.destroy()
    lock.release()
    throw err
  }
  const delivery = new OutboxDelivery(bot.api, ledger, logger)
  const controller = new AbortController()
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => { markReady = resolve })

  const newTurn: TurnFactory = async (trx, chatId, updateId) => {
    const chats = new ChatSettingsRepository(trx, now)
    return new Turn({ tasks: new TaskRepository(trx, now), chats, settings: await chats.get(chatId), chatId, updateId, now: now(), defaultZone: config.defaultTimezone })
  }
  const commands = commandList([healthCommand(health)])
  const handle = createPipeline({ api: bot.api, ledger, dispatch: createDispatch(username, commands), allowedUserIds: config.allowedUserIds, metrics, logger, newTurn,
    attachments: createAttachmentLoader({ api: bot.api, token: config.token, apiRoot: config.apiRoot, logger }) })
  bot.use(async (ctx) => {
    await gate.run(() => handle(ctx.update))
    reminders.poke()
  })
  // Errors that reach here could not even be recorded (the database is failing): stop loudly,
  // so the supervisor restarts us and Telegram redelivers the update.
  bot.catch((err) => { throw err })

  await bot.api.setMyCommands({ commands: commands.filter((c) => c.menu !== false).map((c) => ({ command: c.name, description: c.description })) })
    .catch((err: unknown) => logger.warn({ err }, 'setMyCommands failed; the command menu may be out of date'))
  await gate.run(() => delivery.flush())

  const done = pollUpdates({
    api: bot.api,
    ledger,
    handle: (update) => bot.handleUpdate(update),
    afterPoll: () => gate.run(() => delivery.flush()),
    timeoutS: config.pollTimeoutS,
    signal: controller.signal,
    logger,
    state: pollState,
    onFirstPoll: () => {
      markReady()
      reminders.start().catch((err: unknown) => logger.error({ err }, 'reminder loop did not start'))
    },
  }).finally(async () => {
    await reminders.stop()
    await new Promise((resolve) => server.close(resolve))
    await db.destroy()
    lock.release()
  })
  done.catch(() => {})

  return {
    done,
    stop: async () => {
      controller.abort()
      await done.catch(() => {})
    },
    ready,
    username,
    db,
    schema,
    metrics,
    pollState,
    startedAt,
    health,
    healthPort: server.port,
  }
}
