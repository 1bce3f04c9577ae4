// Scheduled backups and drills: when each job last ran (so a run missed while the bot was down is
// made up once after start), and the owner's notices about backup problems (so each problem is
// told once, not on every check).
import type { Knex } from 'knex'

export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('scheduled_jobs', (t) => {
    // 'backup' or 'drill'.
    t.string('name', 16).primary()
    // When this database first had the schedule: "no backup for two days" counts from here at the earliest.
    t.bigInteger('since_at').notNullable()
    // The schedule's firing time the last run was for (ms): the next run is the next firing after it.
    t.bigInteger('slot_at').notNullable()
    // Set while a run is under way; a run that never finished (a crash) is made up after start.
    t.bigInteger('started_at')
    t.bigInteger('finished_at')
    // 'ok' or 'failed'; null before the first run.
    t.string('outcome', 16)
    // JSON: what the run reported (file, size, copies, or the failed step and why). Never task text.
    t.text('detail')
  })
  await knex.schema.createTable('owner_notices', (t) => {
    // 'backup-failed', 'copy-failed', 'drill-failed', 'backup-stale'.
    t.string('problem', 32).primary()
    t.text('message').notNullable()
    t.bigInteger('raised_at').notNullable()
    // Null until Telegram accepted the notice; a notice is sent once while the problem stands.
    t.bigInteger('notified_at')
    // Set when the problem went away; the next occurrence is a new notice.
    t.bigInteger('cleared_at')
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTable('owner_notices')
  await knex.schema.dropTable('scheduled_jobs')
}
