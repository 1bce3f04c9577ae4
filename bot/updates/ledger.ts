// The exactly-once ledger: the last handled update_id and the replies an update produced are
// written in the same SQLite transaction as the change the update made. A crash before commit
// leaves nothing (Telegram redelivers the update); after commit, the update is never applied again
// and its replies wait in the outbox until they are delivered.
import type { Knex } from 'knex'

const LAST_UPDATE_KEY = 'last_update_id'

/** A Bot API request to make after commit. `file`: the bytes of an upload (sendDocument), stored
 * in the row and read back only when that row is delivered. */
export type Outgoing = { method: string, params: Record<string, unknown>, file?: Uint8Array }
export type OutboxRow = { method: string, params: Record<string, unknown>, id: number, updateId: number, hasFile: boolean }

export class UpdateLedger {
  /**
   * The last handled update id as committed, once read: the bot is the only writer of bot_state
   * (the instance lock keeps a second bot off the file, and ops change the database only while the
   * bot is stopped), so after the first read it is known without asking SQLite on every update.
   */
  private committed: number | null | undefined

  constructor (private readonly db: Knex, private readonly now: () => number = Date.now) {}

  async lastUpdateId (): Promise<number | undefined> {
    const row = await this.db('bot_state').where({ key: LAST_UPDATE_KEY }).first('value') as { value: string } | undefined
    this.committed = row === undefined ? null : Number(row.value)
    return this.committed ?? undefined
  }

  /**
   * Runs `apply` and records the update as handled, atomically. Returns false (and runs nothing)
   * when the update was already handled.
   */
  async handleOnce (updateId: number, apply: (trx: Knex.Transaction) => Promise<Outgoing[]>): Promise<boolean> {
    if (this.committed !== undefined && this.committed !== null && this.committed >= updateId) return false
    const handled = await this.db.transaction(async (trx) => {
      if (this.committed === undefined) {
        const last = await trx('bot_state').where({ key: LAST_UPDATE_KEY }).first('value') as { value: string } | undefined
        if (last !== undefined && Number(last.value) >= updateId) return false
      }
      const outgoing = await apply(trx)
      await trx('bot_state').insert({ key: LAST_UPDATE_KEY, value: String(updateId) }).onConflict('key').merge()
      if (outgoing.length > 0) {
        const at = this.now()
        await trx('outbox').insert(outgoing.map((o) => ({ update_id: updateId, method: o.method, params: JSON.stringify(o.params), created_at: at, file: o.file === undefined ? null : Buffer.from(o.file) })))
      }
      return true
    })
    // Only after the commit: a rolled-back transaction leaves the known id as it was.
    if (handled) this.committed = updateId
    return handled
  }

  async pending (limit = 100): Promise<OutboxRow[]> {
    // The file bytes stay on disk here: a page of exports would otherwise be read into memory at once.
    const rows = await this.db('outbox').orderBy('id').limit(limit).select('id', 'update_id', 'method', 'params', this.db.raw('file is not null as has_file')) as Array<{ id: number, update_id: number, method: string, params: string, has_file: number }>
    return rows.map((r) => ({ id: r.id, updateId: r.update_id, method: r.method, params: JSON.parse(r.params) as Record<string, unknown>, hasFile: r.has_file === 1 }))
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
