// Runs the benchmarks (all, or a small `--quick` version of each for CI), prints one table and
// writes bench/results.json. Not part of `npm test`: numbers here are ratios against a baseline
// measured in the same run, because absolute figures on this machine are noisy.
//
// Usage: npm run bench [-- --quick] [-- --only throughput,scale]
// To add a benchmark: write bench/<name>.ts exporting a `Benchmark` (see bench/lib/report.ts)
// and list it in BENCHMARKS below.
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { backupBench } from './backup.js'
import { handover } from './handover.js'
import { formatTable, met, writeResults, type Benchmark, type Row } from './lib/report.js'
import { scale } from './scale.js'
import { throughput } from './throughput.js'
import { webhookScale } from './webhook-scale.js'
import { RUNTIME_NODE_FLAGS } from '../scripts/runtime-flags.mjs'

// The throughput rounds run the bot and the echo bot in this process: with the young generation
// PM2 gives the bot, or the pauses of a default-sized one are measured instead of the bot (p99
// 7.6–9.7 ms with it, 5.0–7.7 ms with production's flag, back to back on the same machine).
const YOUNG_GENERATION = RUNTIME_NODE_FLAGS.find((f) => f.startsWith('--max-semi-space-size'))
if (YOUNG_GENERATION !== undefined && !process.execArgv.includes(YOUNG_GENERATION)) {
  const again = spawnSync(process.execPath, [YOUNG_GENERATION, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' })
  process.exit(again.status ?? 1)
}

export const BENCHMARKS: readonly Benchmark[] = [throughput, backupBench, scale, handover, webhookScale]
export const RESULTS_FILE = path.join(import.meta.dirname, 'results.json')

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } })
const only = values.only?.split(',').map((n) => n.trim())
const chosen = BENCHMARKS.filter((b) => only === undefined || only.includes(b.name))

const started = Date.now()
const rows: Row[] = []
const failed: string[] = []
for (const b of chosen) {
  const t0 = Date.now()
  try {
    rows.push(...await b.run({ quick: values.quick }))
    console.error(`✓ ${b.name}  ${b.describe} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  } catch (err) {
    failed.push(b.name)
    console.error(`✗ ${b.name}  ${err instanceof Error ? err.message : String(err)}`)
  }
}

console.log(formatTable(rows))
const missed = rows.filter((r) => met(r) === false).map((r) => `${r.benchmark} ${r.metric}`)
writeResults(RESULTS_FILE, rows, {
  mode: values.quick ? 'quick' : 'full',
  at: new Date().toISOString(),
  seconds: Math.round((Date.now() - started) / 1000),
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version },
  failed,
  missed,
})
console.log(`\n${rows.length} figures, ${missed.length} goal(s) missed${missed.length > 0 ? ` (${missed.join('; ')})` : ''}, ${failed.length} benchmark(s) failed; ${path.relative(process.cwd(), RESULTS_FILE)} written in ${Math.round((Date.now() - started) / 1000)} s`)
// A missed goal is a finding, not a failure; a benchmark that could not run is.
if (failed.length > 0) process.exitCode = 1
process.exit()
