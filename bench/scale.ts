// Scale: /list in a chat with 1 000 tasks inside a database of 1 000 000 tasks over 10 000 chats,
// with the bot as its own process so its memory (VmRSS) is its own. Goal: median ≤ 2 ms, RSS ≤ 100 MB.
import path from 'node:path'
import fs from 'node:fs'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { benchDir, benchEnv, memoryOf, spawnBot, until } from './lib/bot-session.js'
import { databaseAt, type DatasetSpec } from './lib/dataset.js'
import type { Benchmark, BenchOptions, Row } from './lib/report.js'
import { summarize } from './lib/stats.js'

export const OWNER = 1001
export const FULL_DATASET: DatasetSpec = { tasks: 1_000_000, chats: 10_000, bigChatId: OWNER, bigChatTasks: 1_000 }
export const QUICK_DATASET: DatasetSpec = { tasks: 20_000, chats: 200, bigChatId: OWNER, bigChatTasks: 1_000 }
const FULL = { warmup: 30, lists: 300 }
const QUICK = { warmup: 10, lists: 50 }

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

async function run ({ quick }: BenchOptions): Promise<Row[]> {
  const size = quick ? QUICK : FULL
  const dataset = quick ? QUICK_DATASET : FULL_DATASET
  const dir = benchDir('scale')
  const databaseFile = path.join(dir, 'db', 'todo.sqlite')
  await databaseAt(databaseFile, dataset)
  const emu = await BotApiEmulator.start()
  const child = spawnBot(benchEnv(emu, databaseFile, [OWNER], 'debug'))
  try {
    await until(() => emu.activePollers() > 0 || child.exitCode !== null, 30_000, 'the bot child to poll')
    if (child.exitCode !== null) throw new Error(`the bot child exited ${child.exitCode}: ${child.output().slice(-500)}`)
    const idle = memoryOf(child.pid ?? 0)
    for (let i = 0; i < size.warmup + size.lists; i += 1) {
      const reply = emu.waitForMessage(OWNER, undefined, 10_000)
      emu.sendText(OWNER, OWNER, '/list')
      await reply
    }
    await until(() => handledTimes(child.output()).length >= size.warmup + size.lists, 5_000, 'the log lines of every /list')
    const times = handledTimes(child.output()).slice(size.warmup)
    const after = memoryOf(child.pid ?? 0)
    const name = 'scale'
    const note = `${dataset.tasks.toLocaleString('en-US')} tasks / ${dataset.chats.toLocaleString('en-US')} chats, ${fs.statSync(databaseFile).size >> 20} MB file`
    return [
      { benchmark: name, metric: '/list, 1 000-task chat', unit: 'ms', summary: summarize(times), goal: { op: '<=', limit: 2 }, note },
      { benchmark: name, metric: 'bot RSS after the lists', unit: 'MB', summary: summarize([after.rssMb]), goal: { op: '<=', limit: 100 }, note: `idle ${idle.rssMb.toFixed(0)} MB, peak ${after.peakMb.toFixed(0)} MB` },
    ]
  } finally {
    child.kill('SIGINT')
    await new Promise((resolve) => child.exitCode !== null ? resolve(null) : child.once('exit', resolve))
    await emu.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const scale: Benchmark = { name: 'scale', describe: '/list latency and RSS on a big database', run }
