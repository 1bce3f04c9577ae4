// A reply can carry a file (/export sends one): its bytes live in the outbox row beside the
// request, so the file commits with the update that made it and is deleted with the row once
// Telegram has it. Only the delivery of that one row reads the column.
import type { Knex } from 'knex'

export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox', (t) => {
    t.binary('file')
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox', (t) => {
    t.dropColumn('file')
  })
}
