// The emulator on 127.0.0.1 and the real bot, in-process or as a child, for benchmarks: like the
// test harness, but quiet (logs go nowhere) and recording every update's handling time.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { startBot, type RunningBot } from '../../bot/app.js'
import { loadConfig, type Config } from '../../bot/config.js'
import { createLogger } from '../../bot/logger.js'
import { BotApiEmulator } from '../../dev/emulator/bot-api-emulator.js'
// The bot as `node --import tsx bot/main.ts`, so its memory is its own: the tests' spawner.
export { spawnBot } from '../../test/support/bot-harness.js'

export type BotSession = {
  emu: BotApiEmulator
  bot: RunningBot
  dir: string
  databaseFile: string
  /** Handling time of every update since start (ms), as the bot's Metrics measures it. */
  durations: number[]
  close: () => Promise<void>
}

export function benchDir (prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mister-todo-bench-${prefix}-`))
}

export function benchEnv (emu: { token: string, apiRoot: string }, databaseFile: string, allowed: readonly number[], logLevel = 'silent'): Record<string, string> {
  return {
    TELEGRAM_BOT_TOKEN: emu.token,
    ALLOWED_USER_IDS: allowed.join(','),
    TELEGRAM_API_ROOT: emu.apiRoot,
    DATABASE_FILE: databaseFile,
    HEALTH_PORT: '0',
    LOG_LEVEL: logLevel,
    POLL_TIMEOUT_S: '1',
  }
}

const nowhere = new Writable({ write: (_chunk, _enc, cb) => cb() })

/** The real bot in this process, logging nowhere, with every update's handling time recorded. */
export async function startQuietBot (config: Config): Promise<{ bot: RunningBot, durations: number[] }> {
  const bot = await startBot(config, { logger: createLogger('warn', nowhere) })
  await bot.ready
  const durations: number[] = []
  // Metrics keeps only a window; the benchmark wants every sample, so it listens in.
  const record = bot.metrics.recordUpdate.bind(bot.metrics)
  bot.metrics.recordUpdate = (ms: number) => { durations.push(ms); record(ms) }
  return { bot, durations }
}

/** Starts the bot in this process; `prepare` may put a database in place before it opens. */
export async function startSession (allowed: readonly number[], prepare?: (databaseFile: string) => Promise<void>): Promise<BotSession> {
  const dir = benchDir('bot')
  const databaseFile = path.join(dir, 'db', 'todo.sqlite')
  await prepare?.(databaseFile)
  const emu = await BotApiEmulator.start()
  const config = loadConfig(benchEnv(emu, databaseFile, allowed))
  const { bot, durations } = await startQuietBot(config)
  return {
    emu,
    bot,
    dir,
    databaseFile,
    durations,
    close: async () => {
      await bot.stop()
      await emu.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Resident and peak memory of a process, from /proc (Linux), in MB. */
export function memoryOf (pid: number): { rssMb: number, peakMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 }
}

export async function until (probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}
