// What an outage is made of: the per-step times deploy and rollback record in storage/deploys.jsonl.
import { summarize } from './stats.js'

export type Step = { name: string, ms: number }

/** The steps from the first named `from` up to and including the first named `to`. */
export function stepsBetween (steps: readonly Step[], from: string, to: string): Step[] {
  const start = steps.findIndex((s) => s.name === from)
  const end = steps.findIndex((s, i) => i >= start && s.name === to)
  return start < 0 || end < 0 ? [] : steps.slice(start, end + 1)
}

/** "stop 0.50 s, backup 0.20 s, …": each step's median time over the rounds. */
export function breakdown (rounds: ReadonlyArray<readonly Step[]>): string {
  const names = rounds[0]?.map((s) => s.name) ?? []
  return names.map((name, i) => `${name} ${(summarize(rounds.map((r) => r[i]?.ms ?? Number.NaN)).median / 1000).toFixed(2)} s`).join(', ')
}
