// Due dates, repeats and reminders. A task's next reminder is a column (`remind_at`), not a timer,
// so it survives restarts; every reminder or digest sent is a row, claimed before it is sent, so a
// crash never sends the same (task, occurrence) twice.
import type { Knex } from 'knex'

export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('tasks', (t) => {
    t.bigInteger('due_at')
    // 0: a whole day ("call mom friday"); 1: a time of day ("tomorrow 9am").
    t.integer('due_has_time').notNullable().defaultTo(0)
    // JSON of a repeat rule (bot/time/repeat.ts), e.g. {"unit":"weekday","every":1}.
    t.text('repeat')
    // Minutes before the due time; null means the chat's default.
    t.integer('remind_before_min')
    // When the next reminder fires; null when none is pending.
    t.bigInteger('remind_at')
    t.index(['remind_at'])
  })
  await knex.schema.alterTable('chats', (t) => {
    t.integer('remind_before_min').notNullable().defaultTo(0)
    // "HH:MM" local time of the morning digest, or null when off.
    t.string('digest_time', 5)
  })
  await knex.schema.createTable('reminders', (t) => {
    t.increments('id')
    t.integer('task_id').notNullable().references('tasks.id').onDelete('CASCADE')
    t.bigInteger('chat_id').notNullable()
    t.bigInteger('fire_at').notNullable()
    // 'sending' (claimed), 'sent', 'failed' (Telegram refused for good), 'unknown' (a crash or a
    // lost connection while sending: not sent again, at most once).
    t.string('status', 16).notNullable()
    t.integer('message_id')
    t.bigInteger('created_at').notNullable()
    t.bigInteger('sent_at')
    t.unique(['task_id', 'fire_at'])
  })
  // One row per chat and local date: the claim that makes a day's digest go out once.
  await knex.schema.createTable('digests', (t) => {
    t.increments('id')
    t.bigInteger('chat_id').notNullable()
    t.string('local_date', 10).notNullable()
    t.string('status', 16).notNullable()
    t.integer('message_id')
    t.bigInteger('created_at').notNullable()
    t.bigInteger('sent_at')
    t.unique(['chat_id', 'local_date'])
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTable('digests')
  await knex.schema.dropTable('reminders')
  await knex.schema.alterTable('chats', (t) => {
    t.dropColumn('digest_time')
    t.dropColumn('remind_before_min')
  })
  await knex.schema.alterTable('tasks', (t) => {
    t.dropIndex(['remind_at'])
    t.dropColumn('remind_at')
    t.dropColumn('remind_before_min')
    t.dropColumn('repeat')
    t.dropColumn('due_has_time')
    t.dropColumn('due_at')
  })
}
