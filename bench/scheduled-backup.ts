// bench/scheduled-backup.ts: a one-off, like backup-size.mjs. The bot (in this process) serves
// to-do traffic (~200 updates/s) on an N-task database (default 100 000) while its scheduler takes
// a scheduled backup with a BACKUP_COPY_TO copy, then runs the restore drill; prints the time and
// size of each and the bot's per-update p99 before and during them.
//
// Usage: node --import tsx bench/scheduled-backup.ts [tasks]
import fs from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import { startBot } from '../bot/app.js'
import { AdjustableClock } from '../bot/clock.js'
import { loadConfig } from '../bot/config.js'
import { createLogger } from '../bot/logger.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { formatBytes } from '../ops/lib/format.mjs'
import { benchDir, benchEnv } from './lib/bot-session.js'
import { generateDatabase } from './lib/dataset.js'
import { percentile } from './lib/stats.js'
import { todoTraffic, userIds } from './lib/traffic.js'

const TASKS = Number(process.argv[2] ?? 100_000)
const OWNER = 1001
const dir = benchDir('scheduled')
const databaseFile = path.join(dir, 'storage', 'db', 'todo.sqlite')
const copyTo = path.join(dir, 'away')
fs.mkdirSync(copyTo)
try {
  await generateDatabase(databaseFile, { tasks: TASKS, chats: Math.max(2, TASKS / 100), bigChatId: OWNER, bigChatTasks: Math.min(1000, TASKS / 2) })
  const emu = await BotApiEmulator.start()
  const users = userIds(50)
  const config = loadConfig({ ...benchEnv(emu, databaseFile, [OWNER, ...users]), BACKUP_COPY_TO: copyTo, DEFAULT_TIMEZONE: 'UTC' })
  const clock = new AdjustableClock(Date.parse('2026-11-30T02:00:00Z'))
  const nowhere = new Writable({ write: (_c, _e, cb) => cb() })
  const bot = await startBot(config, { logger: createLogger('warn', nowhere), clock, backups: { root: dir, catchUpDelayMs: 0, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } } })
  await bot.ready
  const durations: number[] = []
  const record = bot.metrics.recordUpdate.bind(bot.metrics)
  bot.metrics.recordUpdate = (ms: number) => { durations.push(ms); record(ms) }
  const messages = todoTraffic(100_000, users)
  let i = 0
  const traffic = setInterval(() => {
    const m = messages[i++ % messages.length]
    if (m !== undefined) emu.sendText(m.user, m.chat, m.text)
  }, 5)
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
  const job = async (name: string): Promise<{ outcome: string | null, finished_at: number | null, started_at: number | null, detail: string | null } | undefined> => await bot.db('scheduled_jobs').where({ name }).first()
  const window = async (name: string, at: string): Promise<{ wallMs: number, p99: number, updates: number, detail: Record<string, unknown> }> => {
    const before = (await job(name))?.finished_at ?? null
    const from = durations.length
    const started = Date.now()
    clock.set(Date.parse(at))
    for (;;) {
      const row = await job(name)
      if (row?.finished_at != null && row.finished_at !== before) {
        const samples = durations.slice(from)
        return { wallMs: Date.now() - started, p99: percentile(samples, 99), updates: samples.length, detail: JSON.parse(row.detail ?? '{}') as Record<string, unknown> }
      }
      await sleep(20)
    }
  }
  await sleep(2000)
  const control = async (ms: number): Promise<number> => {
    const from = durations.length
    await sleep(ms)
    return percentile(durations.slice(from), 99)
  }
  // Three scheduled backups on three days, each beside a control window of the same length just before it.
  const rounds: Array<{ controlP99: number, run: Awaited<ReturnType<typeof window>> }> = []
  for (let day = 0; day < 3; day += 1) {
    const controlP99 = await control(rounds[0]?.run.wallMs ?? 8000)
    rounds.push({ controlP99, run: await window('backup', new Date(Date.parse('2026-11-30T03:00:30Z') + day * 86_400_000).toISOString()) })
  }
  const d = await window('drill', '2026-12-06T04:30:30Z')
  clearInterval(traffic)
  const b = rounds[0]?.run ?? { detail: {}, wallMs: 0, p99: 0, updates: 0 }
  const copies = (b.detail.copies ?? []) as Array<{ ok: boolean, durationMs: number }>
  console.log(`${TASKS.toLocaleString('en-US')} tasks, database ${formatBytes(fs.statSync(databaseFile).size)}, traffic ~200 updates/s`)
  console.log(`  scheduled backup: ${b.detail.ok === true ? 'ok' : JSON.stringify(b.detail)}, ${formatBytes(Number(b.detail.size))}, backup ${b.detail.durationMs} ms (copy, integrity check, sha256), copy to BACKUP_COPY_TO ${copies[0]?.durationMs} ms ${copies[0]?.ok === true ? 'ok' : 'FAILED'}, ${b.wallMs} ms from due to recorded`)
  for (const [i, r] of rounds.entries()) console.log(`  round ${i + 1}: bot p99 during the scheduled backup ${r.run.p99.toFixed(1)} ms over ${r.run.updates} updates (${r.run.wallMs} ms); the same length just before, no job: ${r.controlP99.toFixed(1)} ms`)
  console.log(`  drill: ${d.detail.ok === true ? 'ok' : JSON.stringify(d.detail)}, ${d.detail.durationMs} ms in the drill (steps ${JSON.stringify(d.detail.steps)}), ${d.wallMs} ms from due to recorded (this includes the backup missed since, taken first); bot p99 during it ${d.p99.toFixed(1)} ms over ${d.updates} updates`)
  await bot.stop()
  await emu.stop()
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
