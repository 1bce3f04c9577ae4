// The exactly-once ledger: the last handled update_id and the replies an update produced are
// written in the same SQLite transaction as the change the update made. A crash before commit
// leaves nothing (Telegram redelivers the update); after commit, the update is never applied again
// and its replies wait in the outbox until they are delivered.
import type { Knex } from 'knex'

const LAST_UPDATE_KEY = 'last_update_id'

export type Outgoing = { method: string, params: Record<string, unknown> }
export type OutboxRow = Outgoing & { id: number, updateId: number }

export class UpdateLedger {
  constructor (private readonly db: Knex, private readonly now: () => number = Date.now) {}

  async lastUpdateId (): Promise<number | undefined> {
    const row = await this.db('bot_state').where({ key: LAST_UPDATE_KEY }).first('value') as { value: string } | undefined
    return row === undefined ? undefined : Number(row.value)
  }

  /**
   * Runs `apply` and records the update as handled, atomically. Returns false (and runs nothing)
   * when the update was already handled.
   */
  async handleOnce (updateId: number, apply: (trx: Knex.Transaction) => Promise<Outgoing[]>): Promise<boolean> {
    return await this.db.transaction(async (trx) => {
      const last = await trx('bot_state').where({ key: LAST_UPDATE_KEY }).first('value') as { value: string } | undefined
      if (last !== undefined && Number(last.value) >= updateId) return false
      const outgoing = await apply(trx)
      await trx('bot_state').insert({ key: LAST_UPDATE_KEY, value: String(updateId) }).onConflict('key').merge()
      if (outgoing.length > 0) {
        const at = this.now()
        await trx('outbox').insert(outgoing.map((o) => ({ update_id: updateId, method: o.method, params: JSON.stringify(o.params), created_at: at })))
      }
      return true
    })
  }

  async pending (limit = 100): Promise<OutboxRow[]> {
    const rows = await this.db('outbox').orderBy('id').limit(limit).select('id', 'update_id', 'method', 'params') as Array<{ id: number, update_id: number, method: string, params: string }>
    return rows.map((r) => ({ id: r.id, updateId: r.update_id, method: r.method, params: JSON.parse(r.params) as Record<string, unknown> }))
  }

  async delivered (id: number): Promise<void> {
    await this.db('outbox').where({ id }).delete()
  }

  async backlog (): Promise<number> {
    const row = await this.db('outbox').count({ n: '*' }).first() as { n: number }
    return Number(row.n)
  }
}
