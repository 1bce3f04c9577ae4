// Throughput: a burst of to-do updates from many chats through the emulator (its own process), against an echo bot on
// the same library and emulator in the same run. Goal (issue 16): ≥ 80 % of the echo rate, p99 ≤ 5 ms. The same rounds with the
// bot on a private PostgreSQL server (a fresh database each), interleaved with the others: ≥ 50 % of the echo rate,
// p99 ≤ 10 ms; skipped, saying so, when PostgreSQL is not installed.
import { Bot } from 'node-telegram-bot-api'
import { performance } from 'node:perf_hooks'
import fs from 'node:fs'
import path from 'node:path'
import { loadConfig } from '../bot/config.js'
import { httpFetch } from '../bot/http-fetch.js'
import { benchDir, benchEnv, startQuietBot, until } from './lib/bot-session.js'
import { startRemoteEmulator } from './lib/remote-emulator.js'
import { skippedRow, type Benchmark, type BenchOptions, type Row } from './lib/report.js'
import { PG_SKIPPED, postgresInstalled, withPostgres, type BenchPostgres } from './lib/postgres.js'
import { percentile, summarize } from './lib/stats.js'
import { todoTraffic, userIds, type Message } from './lib/traffic.js'

const FULL = { updates: 10_000, chats: 200, repeats: 3, warmup: 1_000 }
const QUICK = { updates: 1_000, chats: 50, repeats: 2, warmup: 200 }
const WAIT_MS = 120_000

type Round = { rate: number, p50: number, p99: number }

/**
 * The baseline: the least a bot on node-telegram-bot-api can do per update, one sendMessage. With
 * `fetch`, the same echo bot on the transport the bot uses (bot/http-fetch.ts): a reference row,
 * so the gain that transport gives is not read as the bot's own.
 */
async function echoRound (messages: readonly Message[], fetch?: typeof globalThis.fetch): Promise<number> {
  const emu = await startRemoteEmulator()
  const bot = new Bot(emu.token, { apiRoot: emu.apiRoot, ...(fetch === undefined ? {} : { fetch }) })
  let replied = 0
  bot.on('message', async (ctx) => {
    await ctx.reply(ctx.message?.text ?? '')
    replied += 1
  })
  const polling = bot.startPolling(undefined, { timeout: 1, limit: 100 })
  try {
    const started = performance.now()
    emu.push(messages)
    await until(() => replied >= messages.length, WAIT_MS, `the echo bot to answer ${messages.length} updates`)
    return messages.length / ((performance.now() - started) / 1000)
  } finally {
    bot.stop()
    await polling.catch(() => {})
    await emu.stop()
  }
}

/** The bot on SQLite (a new file), or on PostgreSQL when given a (fresh) database URL. */
async function botRound (messages: readonly Message[], users: readonly number[], databaseUrl?: string): Promise<Round> {
  const emu = await startRemoteEmulator()
  const dir = benchDir('throughput')
  const env = benchEnv(emu, path.join(dir, 'db', 'todo.sqlite'), users)
  const { bot, durations } = await startQuietBot(loadConfig(databaseUrl === undefined ? env : { ...env, DATABASE_URL: databaseUrl }))
  try {
    const started = performance.now()
    emu.push(messages)
    await until(() => durations.length >= messages.length, WAIT_MS, `the bot to handle ${messages.length} updates`)
    // Done means answered, as for the echo bot: the last replies may still be in the outbox.
    const deadline = Date.now() + WAIT_MS
    while (await emu.replies() < messages.length) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for the bot's ${messages.length} replies`)
    }
    const rate = messages.length / ((performance.now() - started) / 1000)
    return { rate, p50: percentile(durations, 50), p99: percentile(durations, 99) }
  } finally {
    await bot.stop()
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function run ({ quick }: BenchOptions): Promise<Row[]> {
  const size = quick ? QUICK : FULL
  const users = userIds(size.chats)
  const messages = todoTraffic(size.updates, users)
  const echo: number[] = []
  const echoOnHttp: number[] = []
  const rounds: Round[] = []
  const pgRounds: Round[] = []
  let pgVersion = ''
  const measure = async (pg: BenchPostgres | null): Promise<void> => {
    // One unmeasured round each first: JIT and connection warm-up would otherwise land on round 1.
    const warmup = messages.slice(0, size.warmup)
    await echoRound(warmup)
    await echoRound(warmup, httpFetch)
    await botRound(warmup, users)
    if (pg !== null) await botRound(warmup, users, await pg.freshDatabase('throughput_warmup'))
    // Alternate so that drift on the machine hits every side alike.
    for (let r = 0; r < size.repeats; r += 1) {
      echo.push(await echoRound(messages))
      echoOnHttp.push(await echoRound(messages, httpFetch))
      rounds.push(await botRound(messages, users))
      if (pg !== null) pgRounds.push(await botRound(messages, users, await pg.freshDatabase('throughput')))
    }
    pgVersion = pg?.version ?? ''
  }
  if (postgresInstalled()) await withPostgres(measure)
  else await measure(null)
  const name = 'throughput'
  const note = `${size.updates} updates, ${size.chats} chats`
  const ratios = (of: readonly Round[], to: readonly number[] = echo): number[] => of.map((r, i) => r.rate / (to[i] ?? Number.NaN))
  const pgNote = `PostgreSQL ${pgVersion}, private server on 127.0.0.1, fsync on, a fresh database each round`
  const pgRows: Row[] = pgRounds.length === 0
    ? [
        skippedRow(name, 'bot rate (PostgreSQL)', 'upd/s', PG_SKIPPED),
        skippedRow(name, 'bot / echo (PostgreSQL)', '×', PG_SKIPPED, { op: '>=', limit: 0.5 }),
        skippedRow(name, 'per-update p50 (PostgreSQL)', 'ms', PG_SKIPPED),
        skippedRow(name, 'per-update p99 (PostgreSQL)', 'ms', PG_SKIPPED, { op: '<=', limit: 10 }),
      ]
    : [
        { benchmark: name, metric: 'bot rate (PostgreSQL)', unit: 'upd/s', summary: summarize(pgRounds.map((r) => r.rate)), note: pgNote },
        { benchmark: name, metric: 'bot / echo (PostgreSQL)', unit: '×', summary: summarize(ratios(pgRounds)), goal: { op: '>=', limit: 0.5 } },
        { benchmark: name, metric: 'per-update p50 (PostgreSQL)', unit: 'ms', summary: summarize(pgRounds.map((r) => r.p50)) },
        { benchmark: name, metric: 'per-update p99 (PostgreSQL)', unit: 'ms', summary: summarize(pgRounds.map((r) => r.p99)), goal: { op: '<=', limit: 10 } },
      ]
  return [
    { benchmark: name, metric: 'bot rate', unit: 'upd/s', summary: summarize(rounds.map((r) => r.rate)), note },
    { benchmark: name, metric: 'echo bot rate (baseline)', unit: 'upd/s', summary: summarize(echo) },
    { benchmark: name, metric: 'bot / echo', unit: '×', summary: summarize(ratios(rounds)), goal: { op: '>=', limit: 0.8 } },
    { benchmark: name, metric: 'echo bot rate on node:http (reference)', unit: 'upd/s', summary: summarize(echoOnHttp), note: 'the echo bot on the bot\'s transport (bot/http-fetch.ts)' },
    { benchmark: name, metric: 'bot / echo on node:http (reference)', unit: '×', summary: summarize(ratios(rounds, echoOnHttp)), note: 'PostgreSQL: ' + (pgRounds.length === 0 ? 'skipped' : summarize(ratios(pgRounds, echoOnHttp)).median.toFixed(2) + ' ×') },
    { benchmark: name, metric: 'per-update p50', unit: 'ms', summary: summarize(rounds.map((r) => r.p50)) },
    { benchmark: name, metric: 'per-update p99', unit: 'ms', summary: summarize(rounds.map((r) => r.p99)), goal: { op: '<=', limit: 5 } },
    ...pgRows,
  ]
}

export const throughput: Benchmark = { name: 'throughput', describe: 'to-do updates/s vs an echo bot', run }
