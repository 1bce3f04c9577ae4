// The exactly-once ledger: the id of a handled update (a row of handled_updates, its primary key
// the guard) and the replies the update produced are written in the same transaction as the
// change the update made. A crash before commit leaves nothing (Telegram redelivers the update);
// after commit, the update is never applied again — not even by a second process handling it at
// the same moment — and its replies wait in the outbox until they are delivered.
import type { Knex } from 'knex'
import { engineOf } from '../db.js'

/** Telegram keeps an update for 24 h; an id older than that can never come back. */
export const HANDLED_KEEP_MS = 24 * 3600_000
/** Handled ids are pruned once in this many updates (one indexed delete). */
const PRUNE_EVERY = 1000

/** A Bot API request to make after commit. `file`: the bytes of an upload (sendDocument), stored
 * in the row and read back only when that row is delivered. */
export type Outgoing = { method: string, params: Record<string, unknown>, file?: Uint8Array }
export type OutboxRow = { method: string, params: Record<string, unknown>, id: number, updateId: number, hasFile: boolean }

// ---- Several instances (issue 15): advisory locks in the two-key space (the instance lock uses one bigint key). ----
/** Per chat: an update's transaction holds it, so two processes never apply one chat's updates side by side. */
export const CHAT_LOCK_SPACE = 0x4d540002
/** The outbox drain: one drain at a time across every process, so a reply is sent by one of them, in order. */
export const DRAIN_LOCK_SPACE = 0x4d540003
// ---- end several instances ----

export type LedgerOptions = {
  /**
   * This process is the only one handling updates and draining the outbox: polling mode, where the
   * instance lock keeps every other bot off the database until this one has stopped (its last
   * drain included). Then the chat locks and the drain lock are round trips for nothing. Webhook
   * mode is never alone: several instances may share the database.
   */
  alone?: boolean
}

/** The chat an update came from: its lock and `read`, taken with the update's claim. */
export type ChatClaim = { id: number, read: (trx: Knex.Transaction) => Knex.QueryBuilder }
type PgResult = { rows?: unknown[] }
type OutboxInsert = { update_id: number, method: string, params: string, created_at: number, file: Buffer | null }
/** Rows per outbox insert: SQLite takes at most 32 766 bound values, five a row; an upload's bytes
 * are bound too, so a page stays small. */
const OUTBOX_ROWS_PER_INSERT = 100

/** A batch's open transaction (each update a savepoint in it) and its updates' replies so far,
 * written to the outbox together before its commit. */
export type LedgerBatch = { readonly trx: Knex.Transaction, readonly replies: OutboxInsert[] }

/** Thrown inside the transaction to roll it back when the update was already handled. */
class AlreadyHandled extends Error {}

/**
 * A batch's update whose chat another process holds (webhook mode, several instances): nothing of
 * it was kept; apply it again alone, after the batch has committed. In a batch a claim never waits
 * for a chat's lock: the batch holds the locks of its other chats until its commit, and two
 * batches each waiting for a chat the other holds would deadlock.
 */
export class ChatBusy extends Error {
  constructor (readonly chatId: number) {
    super(`chat ${chatId} is being handled by another process`)
  }
}

function isDuplicateKey (err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505'
}

/** PostgreSQL's deadlock_detected: two batches each waited for an id the other had claimed. */
function isDeadlock (err: unknown): boolean {
  return (err as { code?: unknown }).code === '40P01'
}

export class UpdateLedger {
  private sincePrune = 0
  /** The polled batch in hand (see batch()): each handleOnce not given a batch of its own joins it. */
  private current: LedgerBatch | undefined
  private readonly postgres: boolean
  /** No other process handles updates or drains the outbox of this database (see LedgerOptions). */
  private readonly alone: boolean

  constructor (private readonly db: Knex, private readonly now: () => number = Date.now, options: LedgerOptions = {}) {
    this.postgres = engineOf(db) === 'postgres'
    this.alone = options.alone ?? false
  }

  /** The newest handled update id: polling resumes after it. */
  async lastUpdateId (): Promise<number | undefined> {
    const row = await this.db('handled_updates').max({ last: 'update_id' }).first() as { last: number | null } | undefined
    return row?.last === null || row?.last === undefined ? undefined : Number(row.last)
  }

  /**
   * Runs `apply` and records the update as handled, atomically. Returns false (and keeps nothing
   * `apply` did) when the update was already handled. The id is claimed first, so a second
   * process with the same update waits for this transaction and then finds it taken. With a
   * `chat`, the chat's lock is then taken (PostgreSQL: held until the transaction ends, so two
   * processes never apply one chat's updates side by side; SQLite has one writer already) and
   * `chat.read` run under it, in the claim's round trip on PostgreSQL; `apply` gets its rows.
   * `inBatch`: a savepoint of that batch (a webhook group, see group()); without it, of the polled
   * batch in hand, else a transaction of its own.
   */
  async handleOnce (updateId: number, apply: (trx: Knex.Transaction, chatRows: readonly unknown[]) => Promise<Outgoing[]>, chat?: ChatClaim, inBatch?: LedgerBatch): Promise<boolean> {
    const at = this.now()
    const batch = inBatch ?? this.current
    try {
      await this.inTransaction(updateId, at, chat, batch, async (trx, chatRows) => {
        const outgoing = await apply(trx, chatRows)
        const rows = outgoing.map((o) => ({ update_id: updateId, method: o.method, params: JSON.stringify(o.params), created_at: at, file: o.file === undefined ? null : Buffer.from(o.file) }))
        if (batch !== undefined) batch.replies.push(...rows)
        else if (rows.length > 0) await trx('outbox').insert(rows)
        if (++this.sincePrune >= PRUNE_EVERY) {
          this.sincePrune = 0
          await this.prune(trx, updateId)
        }
      })
    } catch (err) {
      if (err instanceof AlreadyHandled) return false
      throw err
    }
    return true
  }

  // ---- Several instances (issue 15) ----
  /** Whether a claim takes the chat's lock: on PostgreSQL, unless this process is alone. */
  private locksChats (): boolean {
    return this.postgres && !this.alone
  }

  /**
   * Runs `work` while no other process drains the outbox (PostgreSQL: a transaction holding the
   * drain lock, on a connection of its own; `work` reads and deletes on others). What one drain
   * read and sent it deletes before the next one starts, so each reply goes out once.
   */
  async exclusively<T> (work: () => Promise<T>): Promise<T> {
    // Alone, the drains are one at a time already (OutboxDelivery runs one, then the next).
    if (!this.postgres || this.alone) return await work()
    return await this.db.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?, 0)', [DRAIN_LOCK_SPACE])
      return await work()
    })
  }
  // ---- end several instances ----

  /**
   * Claims `updateId` (AlreadyHandled when it is taken) and takes `chat` along, then runs `body`,
   * in a transaction of its own or in a savepoint of the batch's. The savepoint is written out
   * rather than a nested Knex transaction: Knex builds a whole transactor object for each (its
   * makeKnex and property definitions were ~6 % of the bot's CPU under load, once per update).
   */
  private async inTransaction (updateId: number, at: number, chat: ChatClaim | undefined, batch: LedgerBatch | undefined, body: (trx: Knex.Transaction, chatRows: readonly unknown[]) => Promise<void>): Promise<void> {
    const trx = batch?.trx
    if (trx === undefined) {
      await this.db.transaction(async (trx) => { await body(trx, await this.claim(trx, updateId, at, chat, false)()) })
      return
    }
    const claim = this.claim(trx, updateId, at, chat, true)
    let chatRows: readonly unknown[]
    try {
      chatRows = await claim()
    } catch (err) {
      await trx.raw('rollback to savepoint handle_once')
      if (!this.postgres) await trx.raw('release savepoint handle_once')
      throw err
    }
    const replied = batch?.replies.length ?? 0
    try {
      await body(trx, chatRows)
    } catch (err) {
      // Undoes this update alone (its claim, changes and replies); on PostgreSQL it also ends the
      // aborted state the error left.
      batch?.replies.splice(replied)
      await trx.raw('rollback to savepoint handle_once')
      if (!this.postgres) await trx.raw('release savepoint handle_once')
      throw err
    }
    // PostgreSQL keeps a savepoint until the transaction ends either way (a released one still
    // holds its subtransaction id), so the release is a round trip saved. SQLite's is kept: an
    // open savepoint keeps its statement journal growing for the rest of the batch.
    if (!this.postgres) await trx.raw('release savepoint handle_once')
  }

  /**
   * The savepoint (in a batch), the claim of the id, the chat's lock and read: the statements
   * every update starts with. On PostgreSQL they go as one simple-protocol query, one round trip
   * instead of four; its values are inlined, so only integers are taken (checked here).
   */
  private claim (trx: Knex.Transaction, updateId: number, at: number, chat: ChatClaim | undefined, savepoint: boolean): () => Promise<readonly unknown[]> {
    const read = chat?.read(trx)
    const duplicateIsHandled = (err: unknown): never => { throw isDuplicateKey(err) ? new AlreadyHandled() : err }
    if (!this.postgres) {
      return async () => {
        if (savepoint) await trx.raw('savepoint handle_once')
        await trx('handled_updates').insert({ update_id: updateId, handled_at: at }).catch(duplicateIsHandled)
        return read === undefined ? [] : await read as unknown[]
      }
    }
    // Checked before anything is sent: a refused claim leaves no savepoint to roll back to.
    const bound = read?.toSQL().bindings ?? []
    if (![updateId, at, chat?.id ?? 0, ...bound].every((v) => Number.isSafeInteger(v))) {
      throw new Error(`update ${updateId}: a claim inlines integers only (time ${at}, chat ${chat?.id}, read ${JSON.stringify(bound)})`)
    }
    // In a batch (savepoint) the chat's lock is tried, never waited for (see ChatBusy).
    const lock = chat !== undefined && this.locksChats()
      ? savepoint ? `select pg_try_advisory_xact_lock(${CHAT_LOCK_SPACE}, hashtext('${chat.id}')) as chat_free` : `select pg_advisory_xact_lock(${CHAT_LOCK_SPACE}, hashtext('${chat.id}'))`
      : undefined
    const statements = [
      ...(savepoint ? ['savepoint handle_once'] : []),
      `insert into handled_updates (update_id, handled_at) values (${updateId}, ${at})`,
      ...(lock === undefined ? [] : [lock]),
      ...(read === undefined ? [] : [read.toString()]),
    ]
    // The chat whose lock is tried (in a batch), and where its answer is among the results.
    const tried = savepoint && lock !== undefined ? chat : undefined
    const lockAt = lock === undefined ? -1 : statements.indexOf(lock)
    return async () => {
      const result = await trx.raw(statements.join('; ')).catch((err: unknown) => {
        if (tried !== undefined && isDeadlock(err)) throw new ChatBusy(tried.id)
        return duplicateIsHandled(err)
      }) as PgResult | PgResult[]
      const results = Array.isArray(result) ? result : [result]
      if (tried !== undefined && (results[lockAt]?.rows?.[0] as { chat_free?: boolean } | undefined)?.chat_free !== true) throw new ChatBusy(tried.id)
      return read === undefined ? [] : results[results.length - 1]?.rows ?? []
    }
  }

  /**
   * Runs `work` (the updates of one getUpdates answer) in one transaction, each handleOnce a
   * savepoint inside it: one commit per batch instead of one per update (a commit writes every
   * page the update touched to the WAL; a batch writes a page touched by many updates once).
   * Exactly-once holds as before: the ids, changes and replies of the batch commit together, and
   * polling asks for the next ones only after the commit; a crash before it leaves nothing, and
   * Telegram sends the whole batch again. The caller holds the write gate for the whole batch.
   */
  async batch<T> (work: () => Promise<T>): Promise<T> {
    if (this.current !== undefined) return await work()
    return await this.group(async (batch) => {
      this.current = batch
      try {
        return await work()
      } finally {
        this.current = undefined
      }
    })
  }

  /**
   * batch() with the batch named, not in hand: only the handleOnce calls given it join it, so
   * updates applied alone meanwhile (webhook mode) keep transactions of their own.
   */
  async group<T> (work: (batch: LedgerBatch) => Promise<T>): Promise<T> {
    return await this.db.transaction(async (trx) => {
      const batch: LedgerBatch = { trx, replies: [] }
      const result = await work(batch)
      // The batch's replies in one statement, in the order they were made, before its commit.
      const rows = batch.replies
      for (let i = 0; i < rows.length; i += OUTBOX_ROWS_PER_INSERT) await trx('outbox').insert(rows.slice(i, i + OUTBOX_ROWS_PER_INSERT))
      return result
    })
  }

  /** Forgets ids past Telegram's redelivery window; the newest one stays (polling resumes after it). */
  async prune (db: Knex = this.db, keep?: number): Promise<number> {
    const newest = keep ?? await this.lastUpdateId()
    if (newest === undefined) return 0
    return await db('handled_updates').where('handled_at', '<', this.now() - HANDLED_KEEP_MS).andWhere('update_id', '<', newest).delete()
  }

  async pending (limit = 100): Promise<OutboxRow[]> {
    // The file bytes stay on disk here: a page of exports would otherwise be read into memory at once.
    const rows = await this.db('outbox').orderBy('id').limit(limit).select('id', 'update_id', 'method', 'params', this.db.raw('file is not null as has_file')) as Array<{ id: number, update_id: number, method: string, params: string, has_file: number | boolean }>
    // SQLite answers 1/0, PostgreSQL a boolean.
    return rows.map((r) => ({ id: r.id, updateId: r.update_id, method: r.method, params: JSON.parse(r.params) as Record<string, unknown>, hasFile: r.has_file === 1 || r.has_file === true }))
  }

  /** The bytes of a queued upload. */
  async fileOf (id: number): Promise<Buffer | undefined> {
    const row = await this.db('outbox').where({ id }).first('file') as { file: Buffer | null } | undefined
    return row?.file ?? undefined
  }

  /** Forgets delivered replies, a page of them in one statement. */
  async delivered (ids: readonly number[]): Promise<void> {
    if (ids.length > 0) await this.db('outbox').whereIn('id', ids).delete()
  }

  async backlog (): Promise<number> {
    const row = await this.db('outbox').count({ n: '*' }).first() as { n: number }
    return Number(row.n)
  }
}
