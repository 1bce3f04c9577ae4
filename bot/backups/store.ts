// The scheduler's view of the database: when each job last ran (scheduled_jobs) and the owner's
// notices (owner_notices). Every write here goes through the bot's write gate (the caller's job).
import type { Knex } from 'knex'

export type JobName = 'backup' | 'drill'
export type Problem = 'backup-failed' | 'copy-failed' | 'drill-failed' | 'backup-stale'

export type JobRow = {
  name: JobName
  sinceAt: number
  slotAt: number
  startedAt: number | null
  finishedAt: number | null
  outcome: 'ok' | 'failed' | null
  detail: Record<string, unknown> | null
}

export type Notice = { problem: Problem, message: string, raisedAt: number, notifiedAt: number | null }

type RawJob = { name: JobName, since_at: number, slot_at: number, started_at: number | null, finished_at: number | null, outcome: 'ok' | 'failed' | null, detail: string | null }
type RawNotice = { problem: Problem, message: string, raised_at: number, notified_at: number | null }

export class ScheduleStore {
  constructor (private readonly db: Knex) {}

  async job (name: JobName): Promise<JobRow | undefined> {
    const r = await this.db('scheduled_jobs').where({ name }).first() as RawJob | undefined
    if (r === undefined) return undefined
    return { name: r.name, sinceAt: Number(r.since_at), slotAt: Number(r.slot_at), startedAt: r.started_at === null ? null : Number(r.started_at), finishedAt: r.finished_at === null ? null : Number(r.finished_at), outcome: r.outcome, detail: r.detail === null ? null : JSON.parse(r.detail) as Record<string, unknown> }
  }

  /** The first sight of a schedule: nothing before this moment counts as missed. */
  async begin (name: JobName, slotAt: number): Promise<void> {
    await this.db('scheduled_jobs').insert({ name, since_at: slotAt, slot_at: slotAt }).onConflict('name').ignore()
  }

  async started (name: JobName, at: number): Promise<void> {
    await this.db('scheduled_jobs').where({ name }).update({ started_at: at })
  }

  /** A run ended: the slot it was for is done with, whatever the outcome. */
  async finished (name: JobName, slotAt: number, at: number, outcome: 'ok' | 'failed', detail: Record<string, unknown>): Promise<void> {
    await this.db('scheduled_jobs').where({ name }).update({ slot_at: slotAt, finished_at: at, outcome, detail: JSON.stringify(detail) })
  }

  /** Records a problem; true when it is new (not already standing), so the owner must be told. */
  async raise (problem: Problem, message: string, at: number): Promise<boolean> {
    return await this.db.transaction(async (trx) => {
      const standing = await trx('owner_notices').where({ problem }).whereNull('cleared_at').first('problem')
      if (standing !== undefined) return false
      await trx('owner_notices').insert({ problem, message, raised_at: at, notified_at: null, cleared_at: null })
        .onConflict('problem').merge({ message, raised_at: at, notified_at: null, cleared_at: null })
      return true
    })
  }

  async clear (problem: Problem, at: number): Promise<void> {
    await this.db('owner_notices').where({ problem }).whereNull('cleared_at').update({ cleared_at: at })
  }

  async standing (): Promise<Notice[]> {
    const rows = await this.db('owner_notices').whereNull('cleared_at').orderBy('raised_at').select('problem', 'message', 'raised_at', 'notified_at') as RawNotice[]
    return rows.map((r) => ({ problem: r.problem, message: r.message, raisedAt: Number(r.raised_at), notifiedAt: r.notified_at === null ? null : Number(r.notified_at) }))
  }

  async notified (problem: Problem, at: number): Promise<void> {
    await this.db('owner_notices').where({ problem }).whereNull('cleared_at').update({ notified_at: at })
  }
}
