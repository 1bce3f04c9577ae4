// What a job's outcome means for the owner: which problems it raises (with the notice's words)
// and which it clears; and the shape health shows as `backups`. Names and figures only, never
// task text.
import type { JobOutcome } from './run-job.js'
import type { JobName, Problem } from './store.js'

export type BackupHealth = {
  last: { at: string, file: string, sizeBytes: number, tasks: number | null } | null
  lastCopy: { at: string | null, ok: boolean, to: string[], error: string | null } | null
  lastDrill: { at: string, ok: boolean, step: string | null, error: string | null } | null
  /** What is wrong, in words; null when nothing is. Health is "degraded" (not failing) while set. */
  problem: string | null
  running: JobName | null
  next: { backup: string | null, drill: string | null }
}

type CopyRecord = { to: string, ok: boolean, error: string | null }

export function describeOutcome (job: JobName, outcome: JobOutcome): { raised: Array<[Problem, string]>, cleared: Problem[] } {
  if (job === 'drill') {
    if (outcome.ok) return { raised: [], cleared: ['drill-failed'] }
    return { raised: [['drill-failed', `⚠️ Mister_Todo's restore drill failed at ${outcome.step.replace(/^drill /, '')}: ${outcome.error}\nYour backups may not restore. See: npx zx ops/backup.mjs --drill`]], cleared: [] }
  }
  if (!outcome.ok) {
    return { raised: [['backup-failed', `⚠️ Mister_Todo's scheduled backup failed: ${outcome.error}\nThe bot keeps running. See: npx zx ops/backup.mjs --list`]], cleared: [] }
  }
  const copies = (outcome.copies ?? []) as CopyRecord[]
  const failed = copies.filter((c) => !c.ok)
  const name = typeof outcome.file === 'string' ? outcome.file.split('/').at(-1) : 'the backup'
  if (failed.length > 0) {
    return {
      raised: [['copy-failed', `⚠️ Mister_Todo's off-machine copy of ${name} failed: ${failed.map((c) => `${c.to}: ${c.error}`).join('; ')}\nThe local backup is kept. See: npx zx ops/backup.mjs --list`]],
      cleared: ['backup-failed', 'backup-stale'],
    }
  }
  return { raised: [], cleared: copies.length > 0 ? ['backup-failed', 'backup-stale', 'copy-failed'] : ['backup-failed', 'backup-stale'] }
}
