// Webhook mode's group commit. Telegram keeps up to max_connections requests open; applied each in
// its own transaction, every update paid a commit (an fsync on PostgreSQL) before its 200. Here the
// updates that arrive while one transaction runs are applied together in the next, each in a
// savepoint (UpdateLedger.group, as a polled batch is), and every request is answered once that
// transaction has committed. An update alone is applied at once: nothing waits for company.
// A chat has at most one update in hand (the webhook server queues a chat's updates behind each
// other), so a group never holds two of one chat. See docs/decisions.md, "Webhook group commit".
import type * as T from 'node-telegram-bot-api/types'
import type { Logger } from '../logger.js'
import { ChatBusy, type LedgerBatch } from '../updates/ledger.js'

/** Updates per transaction: a group's replies go into the outbox in one statement of this many rows. */
export const MAX_GROUP = 100

type Waiting = { update: T.Update, resolve: () => void, reject: (err: unknown) => void }

export type GroupCommitOptions = {
  /** Runs `work` in one transaction (the write gate held on SQLite): UpdateLedger.group. */
  batch: (work: (batch: LedgerBatch) => Promise<void>) => Promise<void>
  /** Applies one update: given a batch, a savepoint of it; without, a transaction of its own. */
  apply: (update: T.Update, batch?: LedgerBatch) => Promise<void>
  /** What an update needs from outside before it joins a group (an /import's file: Pipeline.prefetch). */
  prefetch?: (update: T.Update) => Promise<void>
  logger?: Logger
  maxGroup?: number
}

export class GroupCommit {
  private readonly waiting: Waiting[] = []
  private running = false

  constructor (private readonly o: GroupCommitOptions) {}

  /** Resolves once the update is committed (or known as a duplicate); rejects when it could not be recorded. */
  readonly apply = async (update: T.Update): Promise<void> => {
    await this.o.prefetch?.(update)
    await new Promise<void>((resolve, reject) => {
      this.waiting.push({ update, resolve, reject })
      if (!this.running) void this.run()
    })
  }

  private async run (): Promise<void> {
    this.running = true
    // `running` is cleared in the same turn as the last look at `waiting` (the loop and the finally
    // are one function): an update queued after that look starts a new run, never waits unseen.
    try {
      while (this.waiting.length > 0) await this.nextGroup()
    } finally {
      this.running = false
    }
  }

  private async nextGroup (): Promise<void> {
    const group = this.waiting.splice(0, this.o.maxGroup ?? MAX_GROUP)
    const busy: Waiting[] = []
    const applied: Waiting[] = []
    try {
      await this.o.batch(async (batch) => {
        for (const item of group) {
          try {
            await this.o.apply(item.update, batch)
            applied.push(item)
          } catch (err) {
            // Rolled back to its savepoint: nothing of it is in the group.
            if (err instanceof ChatBusy) busy.push(item)
            else item.reject(err)
          }
        }
      })
    } catch (err) {
      // The transaction itself failed (the database is failing): none of it is kept; Telegram retries.
      for (const item of [...applied, ...busy]) item.reject(err)
      return
    }
    this.o.logger?.debug({ updates: group.length, busy: busy.length }, 'webhook group committed')
    for (const item of applied) item.resolve()
    // Another process held their chats: each again in a transaction of its own, which waits for
    // the chat's lock while holding nothing else (so no two processes wait for each other), beside
    // the next groups.
    for (const item of busy) void this.o.apply(item.update).then(item.resolve, item.reject)
  }
}
