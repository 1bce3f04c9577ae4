// Summary statistics for benchmark samples: median and spread (min–max and IQR), percentiles.
export type Summary = { median: number, min: number, max: number, q1: number, q3: number, n: number }

/** The p-th percentile (0–100) by nearest rank, as the bot's Metrics computes it. */
export function percentile (samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i] ?? Number.NaN
}

/** The middle value; with an even count, the mean of the two middle values. */
export function median (samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? sorted[mid] ?? Number.NaN : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

export function summarize (samples: readonly number[]): Summary {
  return {
    median: median(samples),
    min: Math.min(...samples),
    max: Math.max(...samples),
    q1: percentile(samples, 25),
    q3: percentile(samples, 75),
    n: samples.length,
  }
}

/** Rounds for display and for results.json: 3 significant digits are all this machine's noise allows. */
export function round (value: number): number {
  if (!Number.isFinite(value) || value === 0) return value
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))))
  return Number(value.toFixed(Math.min(digits, 4)))
}
