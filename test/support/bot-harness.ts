// Test harness: a temp folder, the Bot API emulator on 127.0.0.1, and the real bot (in-process or
// as a child process) with a real SQLite file, talking to each other over HTTP.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { startBot, type RunningBot } from '../../bot/app.js'
import type { Clock } from '../../bot/clock.js'
import { loadConfig, PROJECT_ROOT, type Config } from '../../bot/config.js'
import { createLogger } from '../../bot/logger.js'
import { BotApiEmulator, type BotMessage } from '../../dev/emulator/bot-api-emulator.js'
import { waitUntil } from './wait.js'
import { createDatabase, ENGINE_VARIABLE } from './postgres.js'

export const OWNER = 1001
export const FRIEND = 1002
export const STRANGER = 6666

export function tempDir (prefix = 'mister-todo-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

/** A port that was free a moment ago on 127.0.0.1 (for a server another process will open). */
export async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

export function botEnv (emu: BotApiEmulator, dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TELEGRAM_BOT_TOKEN: emu.token,
    ALLOWED_USER_IDS: `${OWNER},${FRIEND}`,
    TELEGRAM_API_ROOT: emu.apiRoot,
    DATABASE_FILE: path.join(dir, 'db', 'todo.sqlite'),
    HEALTH_PORT: '0',
    LOG_LEVEL: 'debug',
    POLL_TIMEOUT_S: '1',
    ...extra,
  }
}

/** Collects log lines in memory so tests can read what the bot logged. */
export class LogSink extends Writable {
  readonly lines: string[] = []
  override _write (chunk: Buffer, _enc: string, cb: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter((l) => l !== ''))
    cb()
  }
}

export type Harness = {
  emu: BotApiEmulator
  dir: string
  config: Config
  bot: RunningBot
  logs: LogSink
  /** Sends text as a user and resolves with the bot's next message in that chat. */
  say: (text: string, user?: number, chat?: number) => Promise<BotMessage>
  restart: () => Promise<RunningBot>
  close: () => Promise<void>
}

/** `clock`: the time the bot sees (an AdjustableClock lets a test jump it); the system clock by default. */
export async function startHarness (extraEnv: Record<string, string> = {}, options: { clock?: Clock } = {}): Promise<Harness> {
  const emu = await BotApiEmulator.start()
  const dir = tempDir()
  // A *.pg.test.ts twin runs the same cases on a fresh PostgreSQL database (test/support/postgres.ts).
  const pg = process.env[ENGINE_VARIABLE] === 'postgres' ? await createDatabase() : undefined
  const config = loadConfig(botEnv(emu, dir, { ...(pg === undefined ? {} : { DATABASE_URL: pg.url }), ...extraEnv }))
  const logs = new LogSink()
  const logger = createLogger('debug', logs)
  const h: Harness = {
    emu,
    dir,
    config,
    logs,
    bot: await startBot(config, { logger, clock: options.clock }),
    say: async (text, user = OWNER, chat = user) => {
      const waiting = emu.waitForMessage(chat)
      emu.sendText(user, chat, text)
      return await waiting
    },
    restart: async () => {
      await h.bot.stop()
      h.bot = await startBot(config, { logger, clock: options.clock })
      await h.bot.ready
      return h.bot
    },
    close: async () => {
      await h.bot.stop()
      await emu.stop()
      await pg?.drop()
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
  await h.bot.ready
  return h
}

const EXIT_WITH_PARENT = pathToFileURL(path.join(import.meta.dirname, 'exit-with-parent.mjs')).href

/** The bot as a real child process (`node --import tsx bot/main.ts`), for kill -9 and signals. */
export function spawnBot (env: Record<string, string>): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', EXIT_WITH_PARENT, 'bot/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    // stdin: the pipe whose end tells the bot that this process is gone (exit-with-parent.mjs).
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  return Object.assign(child, { output: () => out })
}

export async function waitForLog (child: { output: () => string }, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  await waitUntil(() => pattern.test(child.output()), { what: `${pattern} in bot output`, timeoutMs, seen: () => `\n${child.output().slice(-2000)}` })
}

export function exited (child: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}
