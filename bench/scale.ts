// Scale: /list in a chat with 1 000 tasks inside a database of 1 000 000 tasks over 10 000 chats,
// with the bot as its own process, run as PM2 runs it (bot/pm2-entry.mjs: the compiled build, with
// the node flags of ecosystem.config.js), so its memory (VmRSS) is its own. Beside it, in the same
// run: an echo bot on the same library with the same flags (the memory baseline), and the bot's
// start (process start → first getUpdates answered). Goals: median ≤ 2 ms, RSS ≤ 100 MB and ≤ 2×
// the echo bot, ready ≤ 0.5 s. Then the same /list with the bot on a private PostgreSQL server
// holding the same dataset (median ≤ 3 ms), skipped, saying so, when PostgreSQL is not installed.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import fs from 'node:fs'
import { performance } from 'node:perf_hooks'
import { PROJECT_ROOT } from '../bot/config.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { build } from '../scripts/build.mjs'
import { staleReason } from '../bot/build-freshness.mjs'
import { RUNTIME_NODE_FLAGS } from '../scripts/runtime-flags.mjs'
import { benchDir, benchEnv, memoryOf, until } from './lib/bot-session.js'
import { databaseAt, type DatasetSpec } from './lib/dataset.js'
import { seedPostgres } from './lib/dataset-postgres.js'
import { PG_SKIPPED, postgresInstalled, withPostgres } from './lib/postgres.js'
import { skippedRow, type Benchmark, type BenchOptions, type Row } from './lib/report.js'
import { summarize } from './lib/stats.js'

export const OWNER = 1001
export const FULL_DATASET: DatasetSpec = { tasks: 1_000_000, chats: 10_000, bigChatId: OWNER, bigChatTasks: 1_000 }
export const QUICK_DATASET: DatasetSpec = { tasks: 20_000, chats: 200, bigChatId: OWNER, bigChatTasks: 1_000 }
const FULL = { warmup: 30, lists: 300 }
const QUICK = { warmup: 10, lists: 50 }

type Child = ChildProcess & { output: () => string }

/** `node <flags> <script>` from the project root, with only `env` (and PATH, HOME). */
function spawnNode (script: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, [...RUNTIME_NODE_FLAGS, script], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  return Object.assign(child, { output: () => out })
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGINT')
  await exited
}

/** Handling times the child logged at debug level ("update handled", ms). */
function handledTimes (output: string): number[] {
  const out: number[] = []
  for (const line of output.split('\n')) {
    if (!line.includes('"update handled"')) continue
    const ms = (JSON.parse(line) as { ms?: number }).ms
    if (typeof ms === 'number') out.push(ms)
  }
  return out
}

/** Sends `count` messages as the owner, one at a time, each answered before the next. */
async function converse (emu: BotApiEmulator, text: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const reply = emu.waitForMessage(OWNER, undefined, 10_000)
    emu.sendText(OWNER, OWNER, text)
    await reply
  }
}

/** The echo bot's RSS after as many messages as the bot got. */
async function echoBaseline (messages: number): Promise<{ rssMb: number }> {
  const emu = await BotApiEmulator.start()
  const child = spawnNode(path.join('bench', 'lib', 'echo-bot.mjs'), { TELEGRAM_BOT_TOKEN: emu.token, TELEGRAM_API_ROOT: emu.apiRoot })
  try {
    await until(() => emu.activePollers() > 0 || child.exitCode !== null, 30_000, 'the echo bot to poll')
    if (child.exitCode !== null) throw new Error(`the echo bot exited ${child.exitCode}: ${child.output().slice(-500)}`)
    await converse(emu, '/list', messages)
    return memoryOf(child.pid ?? 0)
  } finally {
    await stop(child)
    await emu.stop()
  }
}

/** Where the resident memory is: file-backed (the node binary, libraries) vs anonymous, and V8's heap (from /metrics). */
async function whereMemoryGoes (pid: number, databaseFile: string): Promise<string> {
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? Number.NaN) / 1024
  const threads = /^Threads:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?'
  const serving = JSON.parse(fs.readFileSync(path.join(path.dirname(databaseFile), 'serving.json'), 'utf8')) as { healthPort: number }
  const text = await (await fetch(`http://127.0.0.1:${serving.healthPort}/metrics`)).text()
  const mb = (series: string): string => (Number(new RegExp(`^${series} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 1048576).toFixed(0)
  return `file-backed ${(kb('Rss') - kb('Anonymous')).toFixed(0)} MB, anonymous ${kb('Anonymous').toFixed(0)} MB, V8 heap used ${mb('nodejs_heap_size_used_bytes')} of ${mb('nodejs_heap_size_total_bytes')} MB, external ${mb('nodejs_external_memory_bytes')} MB, ${threads} threads`
}

/** /list times with the bot child on PostgreSQL, on a fresh database seeded with `dataset`. */
async function postgresListRow (size: typeof FULL, dataset: DatasetSpec): Promise<Row> {
  const metric = '/list, 1 000-task chat (PostgreSQL)'
  const goal = { op: '<=', limit: 3 } as const
  if (!postgresInstalled()) return skippedRow('scale', metric, 'ms', PG_SKIPPED, goal)
  return await withPostgres(async (pg) => {
    const url = await pg.freshDatabase('scale')
    const seeded = await seedPostgres(url, dataset)
    const dir = benchDir('scale-pg')
    const emu = await BotApiEmulator.start()
    const child = spawnNode(path.join('bot', 'pm2-entry.mjs'), { ...benchEnv(emu, path.join(dir, 'db', 'todo.sqlite'), [OWNER], 'debug'), DATABASE_URL: url })
    try {
      await until(() => emu.activePollers() > 0 || child.exitCode !== null, 30_000, 'the bot child on PostgreSQL to poll')
      if (child.exitCode !== null) throw new Error(`the bot child on PostgreSQL exited ${child.exitCode}: ${child.output().slice(-500)}`)
      await converse(emu, '/list', size.warmup + size.lists)
      await until(() => handledTimes(child.output()).length >= size.warmup + size.lists, 5_000, 'the log lines of every /list on PostgreSQL')
      const times = handledTimes(child.output()).slice(size.warmup)
      const note = `${dataset.tasks.toLocaleString('en-US')} tasks / ${dataset.chats.toLocaleString('en-US')} chats, PostgreSQL ${pg.version} (fsync on), tasks table ${seeded.tableMb.toFixed(0)} MB with indexes, seeded in ${seeded.seconds.toFixed(1)} s`
      return { benchmark: 'scale', metric, unit: 'ms', summary: summarize(times), goal, note }
    } finally {
      await stop(child)
      await emu.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
}

async function run ({ quick }: BenchOptions): Promise<Row[]> {
  const size = quick ? QUICK : FULL
  const dataset = quick ? QUICK_DATASET : FULL_DATASET
  if (staleReason(PROJECT_ROOT) !== null) await build(PROJECT_ROOT)
  const dir = benchDir('scale')
  const databaseFile = path.join(dir, 'db', 'todo.sqlite')
  await databaseAt(databaseFile, dataset)
  const emu = await BotApiEmulator.start()
  const started = performance.now()
  const child = spawnNode(path.join('bot', 'pm2-entry.mjs'), benchEnv(emu, databaseFile, [OWNER], 'debug'))
  try {
    await until(() => emu.activePollers() > 0 || child.exitCode !== null, 30_000, 'the bot child to poll')
    const readyMs = performance.now() - started
    if (child.exitCode !== null) throw new Error(`the bot child exited ${child.exitCode}: ${child.output().slice(-500)}`)
    if (child.output().includes('running TypeScript through tsx')) throw new Error('the bot child ran tsx, not the build')
    const idle = memoryOf(child.pid ?? 0)
    await converse(emu, '/list', size.warmup + size.lists)
    await until(() => handledTimes(child.output()).length >= size.warmup + size.lists, 5_000, 'the log lines of every /list')
    const times = handledTimes(child.output()).slice(size.warmup)
    const after = memoryOf(child.pid ?? 0)
    const where = await whereMemoryGoes(child.pid ?? 0, databaseFile)
    await stop(child)
    const echo = await echoBaseline(size.warmup + size.lists)
    const name = 'scale'
    const note = `${dataset.tasks.toLocaleString('en-US')} tasks / ${dataset.chats.toLocaleString('en-US')} chats, ${fs.statSync(databaseFile).size >> 20} MB file`
    return [
      { benchmark: name, metric: '/list, 1 000-task chat', unit: 'ms', summary: summarize(times), goal: { op: '<=', limit: 2 }, note },
      { benchmark: name, metric: 'bot RSS after the lists', unit: 'MB', summary: summarize([after.rssMb]), goal: { op: '<=', limit: 100 }, note: `compiled, ${RUNTIME_NODE_FLAGS.join(' ')}; idle ${idle.rssMb.toFixed(0)} MB, peak ${after.peakMb.toFixed(0)} MB; ${where}` },
      { benchmark: name, metric: 'echo bot RSS (baseline)', unit: 'MB', summary: summarize([echo.rssMb]), note: 'node-telegram-bot-api, same flags, same messages' },
      { benchmark: name, metric: 'bot RSS / echo bot RSS', unit: '×', summary: summarize([after.rssMb / echo.rssMb]), goal: { op: '<=', limit: 2 } },
      { benchmark: name, metric: 'start → first poll', unit: 's', summary: summarize([readyMs / 1000]), goal: { op: '<=', limit: 0.5 }, note: 'process spawned → getUpdates reached the emulator' },
      await postgresListRow(size, dataset),
    ]
  } finally {
    await stop(child)
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const scale: Benchmark = { name: 'scale', describe: '/list latency and RSS on a big database, against an echo bot', run }
