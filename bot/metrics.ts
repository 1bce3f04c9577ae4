// Counters since start, for health, /metrics and the post-deploy watch: updates, errors, handling time.
const WINDOW = 2000

export class Metrics {
  updates = 0
  duplicates = 0
  refused = 0
  errors = 0
  pollFailures = 0
  private durations: number[] = []
  /** Also told every handling time (the /metrics histogram). */
  onUpdate: ((ms: number) => void) | null = null

  recordUpdate (ms: number): void {
    this.onUpdate?.(ms)
    this.updates++
    this.durations.push(ms)
    if (this.durations.length > WINDOW) this.durations.splice(0, this.durations.length - WINDOW)
  }

  percentile (p: number): number | null {
    if (this.durations.length === 0) return null
    const sorted = [...this.durations].sort((a, b) => a - b)
    const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
    return Math.round((sorted[Math.max(0, i)] ?? 0) * 100) / 100
  }
}
