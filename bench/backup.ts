// Backup: the ops toolkit's online backup (ops/lib/sqlite.mjs, in its own process as deploy runs it)
// of a 1 000 000-task database while the bot serves traffic, against `sqlite3 .backup` on the same
// file in the same run. Goals: ≤ 1.2× the baseline; bot p99 ≤ 50 ms during the backup.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import { startSession, type BotSession } from './lib/bot-session.js'
import { databaseAt } from './lib/dataset.js'
import type { Benchmark, BenchOptions, Row } from './lib/report.js'
import { percentile, summarize } from './lib/stats.js'
import { ensureSqliteCli } from './lib/sqlite-cli.js'
import { todoTraffic, userIds } from './lib/traffic.js'
import { FULL_DATASET, QUICK_DATASET } from './scale.js'

const run$ = promisify(execFile)
const FULL = { repeats: 3, capMs: 30_000 }
const QUICK = { repeats: 2, capMs: 10_000 }
/** Background traffic: one update every TRAFFIC_EVERY_MS, from 50 chats. */
const TRAFFIC_EVERY_MS = 5
const CHILD = path.join(import.meta.dirname, 'lib', 'online-backup.mjs')

/** Pushes to-do updates at a steady pace until stopped. */
function startTraffic (s: BotSession): () => Promise<void> {
  const messages = todoTraffic(1_000_000, userIds(50))
  let i = 0
  const timer = setInterval(() => {
    const m = messages[i++ % messages.length]
    if (m !== undefined) s.emu.sendText(m.user, m.chat, m.text)
  }, TRAFFIC_EVERY_MS)
  return async () => {
    clearInterval(timer)
    const pushed = i
    await new Promise((resolve) => setTimeout(resolve, 200))
    if (s.durations.length < pushed * 0.9) throw new Error(`the bot fell behind the traffic: ${s.durations.length} of ${pushed} updates handled`)
  }
}

/** Times `copy` and returns its ms with the bot's per-update times while it ran. */
async function during (s: BotSession, copy: () => Promise<number | null>): Promise<{ ms: number, p99: number, updates: number }> {
  const from = s.durations.length
  const started = performance.now()
  const inner = await copy()
  const ms = inner ?? performance.now() - started
  const window = s.durations.slice(from)
  return { ms, p99: percentile(window, 99), updates: window.length }
}

async function run ({ quick }: BenchOptions): Promise<Row[]> {
  const size = quick ? QUICK : FULL
  const dataset = quick ? QUICK_DATASET : FULL_DATASET
  const cli = ensureSqliteCli()
  const s = await startSession(userIds(50), (file) => databaseAt(file, dataset))
  const out = path.join(s.dir, 'copies')
  fs.mkdirSync(out)
  type Timing = { ms: number, p99: number, updates: number }
  let restarts = 0
  let capped = 0
  const measure = async (): Promise<{ ours: Timing[], base: Timing[] }> => {
    const ours: Timing[] = []
    const base: Timing[] = []
    for (let r = 0; r < size.repeats; r += 1) {
      const mine = path.join(out, `ours-${r}.sqlite`)
      const theirs = path.join(out, `sqlite3-${r}.sqlite`)
      const runOurs = async (): Promise<void> => {
        ours.push(await during(s, async () => {
          const { stdout } = await run$(process.execPath, [CHILD, s.databaseFile, mine])
          const result = JSON.parse(stdout) as { ms: number, restarts: number }
          restarts += result.restarts
          return result.ms
        }))
        fs.rmSync(mine)
      }
      const runBase = async (): Promise<void> => {
        if (!cli.ok) return
        base.push(await during(s, async () => {
          // Under steady writes the CLI's copy can restart forever: stop it at the cap and count
          // the cap, which makes our ratio an upper bound.
          return await run$('sqlite3', [s.databaseFile, `.backup '${theirs}'`], { timeout: size.capMs }).then(() => null, (err: unknown) => {
            if ((err as { killed?: boolean }).killed === true) { capped += 1; return size.capMs }
            throw err
          })
        }))
        fs.rmSync(theirs, { force: true })
      }
      // Alternate who goes first, so that cache and writeback effects fall on both sides.
      if (r % 2 === 0) { await runOurs(); await runBase() } else { await runBase(); await runOurs() }
    }
    return { ours, base }
  }
  let idle: { ours: Timing[], base: Timing[] }
  let busy: { ours: Timing[], base: Timing[] }
  try {
    // First on a quiet bot (pure copy speed), then under traffic (the goal: writes restart copies).
    idle = await measure()
    const stopTraffic = startTraffic(s)
    await new Promise((resolve) => setTimeout(resolve, 300))
    restarts = 0
    capped = 0
    busy = await measure()
    await stopTraffic()
  } finally {
    await s.close()
  }
  const { ours, base } = busy
  const ratio = (t: { ours: Timing[], base: Timing[] }): number[] => t.ours.map((o, i) => o.ms / (t.base[i]?.ms ?? Number.NaN))
  const name = 'backup'
  const size$ = `${dataset.tasks.toLocaleString('en-US')} tasks`
  const rows: Row[] = [
    { benchmark: name, metric: 'online backup (ops), quiet bot', unit: 'ms', summary: summarize(idle.ours.map((o) => o.ms)), note: size$ },
    { benchmark: name, metric: 'online backup (ops), under traffic', unit: 'ms', summary: summarize(ours.map((o) => o.ms)), note: `${restarts} restart(s) by the bot's writes` },
  ]
  if (cli.ok) {
    rows.push(
      { benchmark: name, metric: `sqlite3 ${cli.version} .backup, quiet bot`, unit: 'ms', summary: summarize(idle.base.map((b) => b.ms)) },
      { benchmark: name, metric: `sqlite3 ${cli.version} .backup, under traffic`, unit: 'ms', summary: summarize(base.map((b) => b.ms)), note: capped === 0 ? '' : `${capped} of ${base.length} stopped unfinished at ${size.capMs / 1000} s (restarted by every write)` },
      { benchmark: name, metric: 'ops / sqlite3, quiet bot', unit: '×', summary: summarize(ratio(idle)) },
      { benchmark: name, metric: 'ops / sqlite3, under traffic', unit: '×', summary: summarize(ratio(busy)), goal: { op: '<=', limit: 1.2 } },
      { benchmark: name, metric: 'bot p99 during sqlite3 .backup', unit: 'ms', summary: summarize(base.map((b) => b.p99)), note: 'for comparison' },
    )
  } else {
    rows.push({ benchmark: name, metric: 'ops / sqlite3', unit: '×', summary: summarize([Number.NaN]), note: `baseline skipped: ${cli.why}` })
  }
  rows.push({
    benchmark: name,
    metric: 'bot p99 during backup',
    unit: 'ms',
    summary: summarize(ours.map((o) => o.p99)),
    goal: { op: '<=', limit: 50 },
    note: `${Math.round(1000 / TRAFFIC_EVERY_MS)} upd/s of traffic; ${ours.map((o) => o.updates).join('/')} updates in the windows`,
  })
  return rows
}

export const backupBench: Benchmark = { name: 'backup', describe: 'online backup vs sqlite3 .backup under traffic', run }
