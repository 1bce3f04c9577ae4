// Several instances (webhook mode on PostgreSQL): every instance serves webhooks, and the
// instance lock's advisory lock becomes the *leader* lock. Only the leader runs the jobs that must
// run once across all instances (the reminder loop and digests, the backup scheduler, the outbox's
// retry drain). An instance that does not lead asks for the lock every LEADER_POLL_MS; the
// leader's session ends with its process (exit, kill -9, a lost machine), so another instance
// leads within seconds. docs/decisions.md, "Several instances".
import os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Config } from './config.js'
import { AppError } from './errors.js'
import { tryDatabaseLock, type InstanceLock } from './instance-lock.js'
import type { Logger } from './logger.js'
import { pendingPlan, type HandoverPlan } from './takeover.js'

/** How often an instance that does not lead asks for the leader lock. */
export const LEADER_POLL_MS = 2000

/** Webhook mode on PostgreSQL: several instances may serve at once; anything else keeps one. */
export function severalInstances (config: Pick<Config, 'webhook' | 'database'>): boolean {
  return config.webhook !== null && config.database.engine === 'postgres'
}

/** Does this plan change the database (so it must run with the leader lock, nobody else migrating)? */
export function planChangesSchema (plan: HandoverPlan | null): boolean {
  return plan !== null && (plan.migrate === true || (plan.undo?.names.length ?? 0) > 0 || (plan.keep?.names.length ?? 0) > 0 || plan.restore !== undefined || plan.snapshot !== undefined)
}

/** How this instance names itself in health and logs: PM2's instance number, and pid@host. */
export function instanceName (config: Pick<Config, 'pm2Instance'>): string {
  return `${config.pm2Instance === null ? '' : `#${config.pm2Instance} `}${process.pid}@${os.hostname()}`
}

export class LeaderElection {
  private lock: InstanceLock | null
  private stopped = false
  private loop: Promise<void> | undefined
  private readonly controller = new AbortController()
  private gained: () => void = () => {}
  /** Resolves when this instance leads (never, if it stops first). */
  readonly leading: Promise<void>

  constructor (private readonly config: Pick<Config, 'database' | 'databaseFile'>, private readonly logger: Logger, held: InstanceLock | null, private readonly pollMs = LEADER_POLL_MS) {
    this.lock = held
    this.leading = new Promise((resolve) => { this.gained = resolve })
    if (held !== null) this.gained()
  }

  get isLeader (): boolean { return this.lock !== null }

  /**
   * Called when the leader's lock session ended (the database restarted, a connection cut) and
   * another instance took the lock meanwhile: two leaders would now run the jobs that run once, so
   * this one must stop (app.ts: the bot stops and exits 1; its supervisor restarts it).
   */
  onLost: (err: AppError) => void = () => {}

  /**
   * Every pollMs: without the lock, asks for it; with it, checks that its session still answers
   * (takes it again at once if it can, else gives up leading through onLost).
   */
  start (): void {
    if (this.lock !== null) this.logger.info('leading: this instance runs the reminders, digests, backups and outbox retries')
    else this.logger.info({ everyMs: this.pollMs }, 'another instance leads; serving webhooks, asking for the leader lock')
    this.loop = (async () => {
      while (!this.stopped) {
        await sleep(this.pollMs, undefined, { signal: this.controller.signal }).catch(() => {})
        if (this.stopped) return
        try {
          if (this.lock === null) await this.ask()
          else if (await this.lock.alive?.() === false && !await this.takeAgain()) return
        } catch (err) {
          this.logger.warn({ err }, 'could not ask for the leader lock; trying again')
        }
      }
    })()
  }

  private async ask (): Promise<void> {
    const lock = await tryDatabaseLock(this.config)
    if (lock === null) return
    if (this.stopped) {
      lock.release()
      return
    }
    this.lock = lock
    this.logger.info('took the leader lock: this instance now runs the reminders, digests, backups and outbox retries')
    this.gained()
  }

  /** The lock's session is gone: false (and onLost) when another instance holds the lock now. */
  private async takeAgain (): Promise<boolean> {
    this.lock?.release()
    this.lock = null
    const lock = await tryDatabaseLock(this.config).catch(() => null)
    if (lock !== null && !this.stopped) {
      this.lock = lock
      this.logger.warn('the leader lock\'s database session ended; took the lock again at once (nobody else had)')
      return true
    }
    lock?.release()
    if (this.stopped) return false
    const err = new AppError('ELEADERLOST', 'lost the leader lock: its database session ended and another instance leads now; stopping this one so that two never run the reminders and backups (a supervisor such as PM2 restarts it as a non-leader)')
    this.logger.error({ code: err.code }, err.message)
    this.onLost(err)
    return false
  }

  /** One ask, now (a fresh database must not wait for the poll): true when this instance leads. */
  async tryNow (): Promise<boolean> {
    if (this.lock !== null) return true
    const lock = await tryDatabaseLock(this.config)
    if (lock === null) return false
    if (this.lock !== null || this.stopped) {
      lock.release()
      return this.lock !== null
    }
    this.lock = lock
    this.logger.info('took the leader lock (a fresh database to migrate)')
    this.gained()
    return true
  }

  /** Stops asking and lets go of the lock (after everything it guards has stopped: it is low in the stack). */
  async stop (): Promise<void> {
    this.stopped = true
    this.controller.abort()
    await this.loop
    this.lock?.release()
    this.lock = null
  }
}

/** The running bot, whose `done` rejects (after the bot stopped) when the election gives up leading (onLost). */
export function stopOnLostLead<R extends { done: Promise<void>, stop: () => Promise<void> }> (running: R, election: LeaderElection): R {
  let lost: AppError | undefined
  election.onLost = (err) => {
    lost = err
    void running.stop()
  }
  const done = running.done.then(() => { if (lost !== undefined) throw lost })
  done.catch(() => {})
  return { ...running, done }
}

/**
 * A take-over with a plan that changes the database (a deploy's migration) waits for the leader
 * lock, as a hand-over does, so that one instance migrates while no other migrates. A sibling of
 * the same version that waits too goes on without the lock once the plan is carried out (its
 * result recorded): then the schema is current and it serves like any instance that does not lead.
 */
export async function waitForLeadOrPlan (config: Pick<Config, 'database' | 'databaseFile' | 'handoverWaitS'>, version: string, o: { signal?: AbortSignal, pollMs?: number }): Promise<InstanceLock | null> {
  const started = performance.now()
  for (;;) {
    if (o.signal?.aborted === true) throw new AppError('EABORTED', 'stopped while standing by for the leader lock')
    const lock = await tryDatabaseLock(config)
    if (lock !== null) return lock
    if (pendingPlan(config.databaseFile, version) === null) return null
    if (performance.now() - started >= config.handoverWaitS * 1000) {
      throw new AppError('ELOCKED', `the hand-over plan needs the leader lock to change the schema, and the leading instance did not let go within ${config.handoverWaitS} s: stop the instances of the old version (npm run reload replaces them one by one)`)
    }
    await sleep(o.pollMs ?? 50, undefined, o.signal === undefined ? {} : { signal: o.signal }).catch(() => {})
  }
}

/** A fresh database (nothing applied) is migrated by whoever holds the leader lock, once: the others wait for it. */
export const FRESH_SCHEMA_WAIT_MS = 30_000

/**
 * The schema check of an instance that does not lead: a fresh database is left to the leader
 * (which migrates it at its take-over) and waited for; should nobody lead, this instance takes
 * the lock and migrates it. Anything else is as for one instance (ensureSchemaCurrent: pending
 * migrations on data are refused with the command to run).
 */
export async function schemaAsInstance<S> (election: LeaderElection, fresh: () => Promise<boolean>, ensure: () => Promise<S>, o: { signal?: AbortSignal, waitMs?: number } = {}): Promise<S> {
  const until = performance.now() + (o.waitMs ?? FRESH_SCHEMA_WAIT_MS)
  while (!election.isLeader && await fresh()) {
    if (o.signal?.aborted === true) throw new AppError('EABORTED', 'stopped while waiting for the leader to migrate a fresh database')
    if (await election.tryNow()) break
    if (performance.now() > until) throw new AppError('ESCHEMA_PENDING', `the database is empty and the leading instance did not migrate it within ${Math.round((o.waitMs ?? FRESH_SCHEMA_WAIT_MS) / 1000)} s: see the leading instance's log`)
    await sleep(200)
  }
  return await ensure()
}
