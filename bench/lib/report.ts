// What a benchmark returns, and the two ways run.ts shows it: a table on stdout and
// bench/results.json for machines (CI, later comparisons).
import fs from 'node:fs'
import { round, type Summary } from './stats.js'

export type Goal = { op: '<=' | '>=', limit: number }

export type Row = {
  benchmark: string
  metric: string
  unit: string
  /** The median over repeats, and how far the repeats spread. */
  summary: Summary
  goal?: Goal
  note?: string
  /** Why this figure was not measured (e.g. "skipped: PostgreSQL not installed"); the row shows it instead of a value. */
  skipped?: string
}

export type BenchOptions = { quick: boolean }

/** One file per benchmark exports one of these; run.ts lists them (add deploy-downtime.ts etc. there). */
export type Benchmark = {
  name: string
  describe: string
  run: (options: BenchOptions) => Promise<Row[]>
}

/** A row that could not be measured here: it keeps its place and goal in the table and says why. */
export function skippedRow (benchmark: string, metric: string, unit: string, reason: string, goal?: Goal): Row {
  const none = Number.NaN
  return { benchmark, metric, unit, summary: { median: none, min: none, max: none, q1: none, q3: none, n: 0 }, ...(goal === undefined ? {} : { goal }), skipped: reason }
}

export function met (row: Row): boolean | null {
  if (row.skipped !== undefined) return null
  if (row.goal === undefined || !Number.isFinite(row.summary.median)) return null
  return row.goal.op === '<=' ? row.summary.median <= row.goal.limit : row.summary.median >= row.goal.limit
}

function cell (row: Row): string[] {
  const s = row.summary
  const spread = s.n > 1 ? `${round(s.min)}–${round(s.max)} (IQR ${round(s.q1)}–${round(s.q3)})` : '—'
  const verdict = met(row)
  if (row.skipped !== undefined) {
    return [row.benchmark, row.metric, '—', '—', '0', row.goal === undefined ? '—' : `${row.goal.op} ${row.goal.limit} ${row.unit}`, '', row.skipped]
  }
  return [
    row.benchmark,
    row.metric,
    `${round(s.median)} ${row.unit}`,
    spread,
    String(s.n),
    row.goal === undefined ? '—' : `${row.goal.op} ${row.goal.limit} ${row.unit}`,
    verdict === null ? '' : verdict ? '✓' : '✗',
    row.note ?? '',
  ]
}

export function formatTable (rows: readonly Row[]): string {
  const header = ['benchmark', 'metric', 'median', 'spread min–max', 'n', 'goal', '', 'note']
  const lines = [header, ...rows.map(cell)]
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)))
  return lines.map((l) => l.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n')
}

export function writeResults (file: string, rows: readonly Row[], meta: Record<string, unknown>): void {
  const results = rows.map((r) => ({ ...r, met: met(r) }))
  fs.writeFileSync(file, JSON.stringify({ ...meta, results }, null, 2) + '\n')
}
