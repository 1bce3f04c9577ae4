// Per-user update counts for open mode's rate limit (issue 15): one row per user and clock minute,
// counted in the update's own transaction, so the limit holds across a restart and across several
// processes on one PostgreSQL (the primary key serialises two processes counting the same user).
// A user's rows older than the previous minute are deleted as they count; /forget deletes them all.
import type { Knex } from 'knex'

export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('rate_limits', (t) => {
    t.bigInteger('user_id').notNullable()
    /** Minutes since the epoch (UTC). */
    t.bigInteger('minute').notNullable()
    t.integer('count').notNullable()
    t.primary(['user_id', 'minute'])
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limits')
}
