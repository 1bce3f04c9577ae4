// The in-bot backup schedule: takes a backup on BACKUP_SCHEDULE and runs the restore drill on
// DRILL_SCHEDULE, each in its own process (run-job.ts), and watches for a backup older than two
// days. When each job last ran lives in the database, so a run that fell due while the bot was
// down (or was cut off by a crash) is made up once, shortly after start. Problems reach the owner
// once (notices.ts) and show in health as `backups`.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Api } from 'node-telegram-bot-api'
import { listBackupFiles, readManifest } from '../../ops/lib/backups.mjs'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Database } from '../db.js'
import type { Logger } from '../logger.js'
import { SendRateLimiter } from '../reminders/rate-limit.js'
import type { WriteGate } from '../write-gate.js'
import { CronSchedule } from './cron.js'
import { describeOutcome, type BackupHealth } from './describe.js'
import { OwnerNotices } from './notices.js'
import { runJob, type JobOutcome, type JobRequest } from './run-job.js'
import { ScheduleStore, type JobName } from './store.js'

/** A backup older than this is a problem the owner hears about. */
export const STALE_AFTER_MS = 2 * 24 * 3600_000
/** The longest the scheduler sleeps without looking (real time). */
const MAX_SLEEP_MS = 60_000
const RETRY_NOTICE_MS = 30_000
const TIMEOUT_MS: Record<JobName, number> = { backup: 3600_000, drill: 600_000 }

export type BackupSchedulerDeps = {
  db: Database
  api: Api
  clock: Clock
  logger: Logger
  gate: WriteGate
  config: Config
  limiter?: SendRateLimiter
  /** Where storage/backups is (default: the project folder, as the ops scripts see it). Without it, a
   * database in the system's temp folder (tests, `npm run try`, benchmarks) is a throwaway: no schedule. */
  root?: string
  /** A run missed while the bot was down waits this long after start (real ms), so the start itself is not slowed. */
  catchUpDelayMs?: number
  /** The environment of the job's process (default: the bot's own). */
  env?: NodeJS.ProcessEnv
  run?: (r: JobRequest) => Promise<JobOutcome>
}

export class BackupScheduler {
  private readonly store: ScheduleStore
  private readonly notices: OwnerNotices
  private readonly schedules: Partial<Record<JobName, CronSchedule>> = {}
  private readonly controller = new AbortController()
  private readonly root: string
  private timer: NodeJS.Timeout | undefined
  private current: Promise<void> | undefined
  private started = false
  /** False for a throwaway database (see `root`): health then shows no `backups`. */
  private watched = true
  private firstTick = true
  private running: JobName | null = null
  private unsubscribe: () => void = () => {}

  constructor (private readonly d: BackupSchedulerDeps) {
    const { config } = d
    this.root = d.root ?? config.projectRoot
    this.store = new ScheduleStore(d.db)
    if (config.backupSchedule !== null) this.schedules.backup = new CronSchedule(config.backupSchedule, config.defaultTimezone)
    if (config.drillSchedule !== null) this.schedules.drill = new CronSchedule(config.drillSchedule, config.defaultTimezone)
    this.notices = new OwnerNotices({ api: d.api, store: this.store, gate: d.gate, limiter: d.limiter ?? new SendRateLimiter(), logger: d.logger, ownerId: config.allowedUserIds[0] ?? 0, now: () => d.clock.now(), signal: this.controller.signal })
  }

  get backupsDir (): string {
    return path.join(this.root, 'storage', 'backups')
  }

  start (): void {
    if (this.schedules.backup === undefined && this.schedules.drill === undefined) return
    if (this.d.root === undefined && !path.relative(os.tmpdir(), this.d.config.databaseFile).startsWith('..')) {
      this.d.logger.info('backups: no schedule for a database in the temp folder (a throwaway)')
      this.watched = false
      return
    }
    this.started = true
    this.unsubscribe = this.d.clock.onJump(() => this.wake(0))
    this.wake(0)
  }

  async stop (): Promise<void> {
    this.started = false
    this.controller.abort()
    this.unsubscribe()
    clearTimeout(this.timer)
    await this.current
  }

  private wake (ms: number): void {
    if (!this.started) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      if (this.current !== undefined) return this.wake(1000)
      this.current = this.tick().finally(() => { this.current = undefined })
    }, Math.max(0, Math.min(ms, MAX_SLEEP_MS)))
    this.timer.unref()
  }

  private async tick (): Promise<void> {
    let nextMs = MAX_SLEEP_MS
    try {
      for (const name of ['backup', 'drill'] as const) {
        const schedule = this.schedules[name]
        if (schedule === undefined || !this.started) continue
        const now = this.d.clock.now()
        const row = await this.store.job(name)
        if (row === undefined) {
          await this.d.gate.run(() => this.store.begin(name, now))
          continue
        }
        const interrupted = row.startedAt !== null && (row.finishedAt === null || row.finishedAt < row.startedAt)
        const next = schedule.nextAfter(row.slotAt)
        if (!interrupted && (next === null || next > now)) continue
        if (this.firstTick && (this.d.catchUpDelayMs ?? 60_000) > 0) {
          // Made up after start: wait a little first, once.
          this.firstTick = false
          nextMs = this.d.catchUpDelayMs ?? 60_000
          return
        }
        await this.runOne(name, schedule.lastBetween(row.slotAt, now) ?? now)
      }
      this.firstTick = false
      if (!this.started) return
      await this.checkStale()
      if (!await this.notices.sendPending()) nextMs = RETRY_NOTICE_MS
      const now = this.d.clock.now()
      for (const name of ['backup', 'drill'] as const) {
        const row = await this.store.job(name)
        const next = row === undefined ? null : this.schedules[name]?.nextAfter(row.slotAt) ?? null
        if (next !== null) nextMs = Math.min(nextMs, this.d.clock.realDelay(next - now))
      }
    } catch (err) {
      if (!this.started) return
      this.d.logger.error({ err }, 'backups: the scheduler failed; trying again shortly')
    } finally {
      this.wake(nextMs)
    }
  }

  private async runOne (name: JobName, slotAt: number): Promise<void> {
    const { config, logger, clock } = this.d
    await this.d.gate.run(() => this.store.started(name, clock.now()))
    this.running = name
    logger.info({ job: name, slot: new Date(slotAt).toISOString() }, `backups: ${name} started`)
    const copyTo = config.backupCopyTo
    const fromCopy = name === 'drill' && copyTo !== null && listBackupFiles(copyTo).length > 0 ? copyTo : undefined
    const copy = { backupCopyTo: copyTo, backupCopyCommand: config.backupCopyCommand, backupCopyTimeoutS: config.backupCopyTimeoutS }
    const outcome = await (this.d.run ?? runJob)({
      job: name,
      codeRoot: config.projectRoot,
      ...(fromCopy === undefined ? {} : { backupFrom: fromCopy }),
      env: { ...(this.d.env ?? process.env), DATABASE_FILE: config.databaseFile, MISTER_TODO_ROOT: this.root, ALLOWED_USER_IDS: config.allowedUserIds.join(','), MISTER_TODO_COPY: JSON.stringify(copy) },
      timeoutMs: TIMEOUT_MS[name],
      signal: this.controller.signal,
    })
    this.running = null
    // Stopped with the bot: the slot stays open, and the run is made up after the next start.
    if (this.controller.signal.aborted) return
    await this.d.gate.run(() => this.store.finished(name, slotAt, clock.now(), outcome.ok ? 'ok' : 'failed', outcome))
    logger[outcome.ok ? 'info' : 'error']({ job: name, outcome }, `backups: ${name} ${outcome.ok ? 'done' : 'failed'}`)
    const said = describeOutcome(name, outcome)
    for (const problem of said.cleared) await this.notices.clear(problem)
    for (const [problem, message] of said.raised) await this.notices.raise(problem, message)
  }

  /** The newest backup in the folder (any kind), by its manifest's time. */
  private newestBackup (): { name: string, at: number, size: number, tasks: number | null } | null {
    const newest = listBackupFiles(this.backupsDir)[0]
    if (newest === undefined) return null
    const manifest = readManifest(newest.file)
    const at = Date.parse(manifest?.createdAt ?? `${newest.stamp.slice(0, 10)}T${newest.stamp.slice(11).replaceAll('-', ':')}Z`)
    return { name: newest.name, at, size: manifest?.size ?? fs.statSync(newest.file, { throwIfNoEntry: false })?.size ?? 0, tasks: manifest?.counts.tasks ?? null }
  }

  private async checkStale (): Promise<void> {
    const row = await this.store.job('backup')
    if (this.schedules.backup === undefined || row === undefined) return
    // A failing backup is already told; "no recent backup" would only say it again.
    if ((await this.store.standing()).some((n) => n.problem === 'backup-failed')) return
    const newest = this.newestBackup()
    const now = this.d.clock.now()
    // Counted from the newest backup, but never from before this database had the schedule.
    if (now - Math.max(newest?.at ?? 0, row.sinceAt) > STALE_AFTER_MS) {
      await this.notices.raise('backup-stale', newest === null
        ? `⚠️ Mister_Todo has no backup at all in ${this.backupsDir}. Take one now: npx zx ops/backup.mjs`
        : `⚠️ Mister_Todo's newest backup is ${Math.floor((now - newest.at) / 86_400_000)} days old (${newest.name}): scheduled backups are not being taken. See: npx zx ops/backup.mjs --list`)
    } else {
      await this.notices.clear('backup-stale')
    }
  }

  /** What health shows as `backups`. */
  async state (): Promise<BackupHealth | null> {
    if (!this.watched) return null
    const newest = this.newestBackup()
    const backup = await this.store.job('backup')
    const drill = await this.store.job('drill')
    const standing = await this.store.standing()
    const copies = (backup?.detail?.copies ?? []) as Array<{ to: string, at: string, ok: boolean, error: string | null }>
    const nextOf = (name: JobName, slot: number | undefined): string | null => {
      const next = slot === undefined ? null : this.schedules[name]?.nextAfter(slot) ?? null
      return next === null ? null : new Date(next).toISOString()
    }
    return {
      last: newest === null ? null : { at: new Date(newest.at).toISOString(), file: newest.name, sizeBytes: newest.size, tasks: newest.tasks },
      lastCopy: copies.length === 0 ? null : { at: copies.at(-1)?.at ?? null, ok: copies.every((c) => c.ok), to: copies.map((c) => c.to), error: copies.find((c) => !c.ok)?.error ?? null },
      lastDrill: drill?.outcome == null ? null : { at: new Date(drill.finishedAt ?? 0).toISOString(), ok: drill.outcome === 'ok', step: drill.outcome === 'ok' ? null : String(drill.detail?.step ?? 'drill'), error: drill.outcome === 'ok' ? null : String(drill.detail?.error ?? '') },
      problem: standing.length === 0 ? null : standing.map((n) => n.message.replace(/^⚠️ /, '')).join(' · '),
      running: this.running,
      next: { backup: nextOf('backup', backup?.slotAt), drill: nextOf('drill', drill?.slotAt) },
    }
  }
}
