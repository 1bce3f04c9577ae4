// The exactly-once ledger becomes a set: one row per handled update id (the primary key is the
// guard), instead of one "last id" row in bot_state. Two processes handling updates at once (a
// webhook, several instances) then cannot both apply one update: the second insert of an id
// fails, or waits for the first transaction and then fails. Rows older than Telegram's 24 h
// redelivery window are pruned by the bot (the newest is always kept: polling resumes after it).
// Portable as written: bigint and an index, the same on SQLite and PostgreSQL.
import type { Knex } from 'knex'

export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('handled_updates', (t) => {
    t.bigInteger('update_id').primary()
    t.bigInteger('handled_at').notNullable()
    t.index(['handled_at'])
  })
  const last = await knex('bot_state').where({ key: 'last_update_id' }).first('value') as { value: string } | undefined
  if (last !== undefined) {
    await knex('handled_updates').insert({ update_id: Number(last.value), handled_at: Date.now() })
    await knex('bot_state').where({ key: 'last_update_id' }).delete()
  }
}

export async function down (knex: Knex): Promise<void> {
  const row = await knex('handled_updates').max({ last: 'update_id' }).first() as { last: number | string | null } | undefined
  if (row?.last !== null && row?.last !== undefined) {
    await knex('bot_state').insert({ key: 'last_update_id', value: String(Number(row.last)) })
  }
  await knex.schema.dropTable('handled_updates')
}
