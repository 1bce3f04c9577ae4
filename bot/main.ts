// The bot's process: config → logger → bot → signals. Exit 0 after a graceful stop, 1 when the
// bot cannot start or stops on a fatal error (the message says what to fix), after a back-off
// that grows with repeated crashes (see crash-backoff.ts).
// Under PM2 `ready` is sent at standby (loaded, waiting for the instance lock), so `pm2 reload`
// stops the old process only once the new one can take over at once.
// `--dry-start`: the standby checks alone (code loads, config, schema, getMe), then exit 0 — what
// ops runs on an incoming release before it is handed anything.
import { dryStart, startBot, type RunningBot } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { crashCounterFile, forgetCrashesLater, recordCrash } from './crash-backoff.js'
import { AppError } from './errors.js'
import { startLogRotation } from './log-rotation.js'
import { createLogger, scrubSecrets, stdoutLines } from './logger.js'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`mister_todo: ${err.message}\n(see .env.example)\n`)
  process.exit(1)
}

if (process.argv.includes('--dry-start')) {
  try {
    const r = await dryStart(config)
    process.stdout.write(`dry start ok: ${r.version.slice(0, 7)} as @${r.username}${r.plan === null ? '' : `, hand-over plan ${r.plan}`}\n`)
    process.exit(0)
  } catch (err) {
    process.stderr.write(`mister_todo: cannot start: ${scrubSecrets(err instanceof Error ? err.message : String(err))}\n`)
    process.exit(1)
  }
}

// Nobody reading stderr either (see stdoutLines) must not turn a crash report into another crash.
process.stderr.on('error', () => {})
const logger = createLogger(config.logLevel, stdoutLines())
if (config.logFile !== undefined) startLogRotation(config.logFile, config.logMaxBytes, config.logKeep, logger)
const crashes = crashCounterFile(config.databaseFile)

/**
 * Exits once the last log lines are out: pino buffers, and under PM2's cluster mode stdout is an
 * asynchronous file stream in this process (lost by a bare process.exit). Bounded, never a hang.
 */
async function exitAfterLogs (code: number): Promise<never> {
  const flushed = new Promise<void>((resolve) => {
    logger.flush(() => process.stdout.write('', () => resolve()))
  })
  await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, 500).unref())])
  process.exit(code)
}

let stopping = false
async function crash (message: string, err: unknown): Promise<never> {
  logger.fatal({ err }, message)
  process.stderr.write(`mister_todo: ${scrubSecrets(message)}\n`)
  const delay = recordCrash(crashes)
  if (!stopping) await new Promise((resolve) => setTimeout(resolve, delay))
  return exitAfterLogs(1)
}
process.on('uncaughtException', (err) => { void crash(`crashed: ${err.message}`, err) })

// Set once the bot has taken over; until then a signal ends the standby instead.
const serving: { bot?: RunningBot } = {}
const standby = new AbortController()
function onSignal (signal: string): void {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now')
    process.exit(1)
  }
  stopping = true
  if (serving.bot === undefined) {
    // Still standing by (or starting): nothing is in hand, nothing is held.
    logger.info({ signal }, 'stopping before taking over')
    standby.abort()
    setTimeout(() => process.exit(0), 2000).unref()
    return
  }
  logger.info({ signal }, 'stopping: finishing the update in hand')
  void serving.bot.stop()
}
process.on('SIGINT', () => onSignal('SIGINT'))
process.on('SIGTERM', () => onSignal('SIGTERM'))

const running = await startBot(config, {
  logger,
  signal: standby.signal,
  onStandby: () => {
    logger.info('ready for pm2')
    process.send?.('ready')
  },
}).catch((err: unknown) => {
  if (err instanceof AppError && err.code === 'EABORTED') return exitAfterLogs(0)
  return crash(`cannot start: ${err instanceof AppError ? err.message : String(err)}`, err)
})

serving.bot = running
void running.ready.then(() => {
  logger.info({ username: running.username, schema: running.schema.head }, 'ready')
  forgetCrashesLater(crashes)
})

try {
  await running.done
  logger.info('stopped')
  // PM2's IPC channel would otherwise keep the process alive until it is killed.
  await exitAfterLogs(0)
} catch (err) {
  await crash(`stopped on a fatal error: ${err instanceof AppError ? err.message : String(err)}`, err)
}
