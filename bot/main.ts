// The bot's process: config → logger → bot → signals. Exit 0 after a graceful stop, 1 when the
// bot cannot start or stops on a fatal error (the message says what to fix).
import { startBot, type RunningBot } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { AppError } from './errors.js'
import { startLogRotation } from './log-rotation.js'
import { createLogger, scrubSecrets } from './logger.js'

function fail (message: string): never {
  process.stderr.write(`mister_todo: ${scrubSecrets(message)}\n`)
  process.exit(1)
}

let config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) fail(`${err.message}\n(see .env.example)`)
  throw err
}
const logger = createLogger(config.logLevel)
if (config.logFile !== undefined) startLogRotation(config.logFile, config.logMaxBytes, config.logKeep, logger)

let bot: RunningBot
try {
  bot = await startBot(config, { logger })
} catch (err) {
  const message = err instanceof AppError ? err.message : String(err)
  logger.fatal({ err }, 'cannot start')
  fail(`cannot start: ${message}`)
}

let stopping = false
function onSignal (signal: string): void {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now')
    process.exit(1)
  }
  stopping = true
  logger.info({ signal }, 'stopping: finishing the update in hand')
  void bot.stop()
}
process.on('SIGINT', () => onSignal('SIGINT'))
process.on('SIGTERM', () => onSignal('SIGTERM'))

void bot.ready.then(() => {
  logger.info({ username: bot.username, schema: bot.schema.head }, 'ready')
  process.send?.('ready')
})

try {
  await bot.done
  logger.info('stopped')
  // PM2's IPC channel would otherwise keep the process alive until it is killed.
  process.exit(0)
} catch (err) {
  logger.fatal({ err }, 'stopped on a fatal error')
  fail(err instanceof AppError ? err.message : String(err))
}
