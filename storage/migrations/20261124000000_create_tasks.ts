// The first schema: chats, their tasks (numbered per chat, never reused), the stored polling
// offset, and the outbox of replies that belong to a handled update.
import type { Knex } from 'knex'

export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('chats', (t) => {
    t.bigInteger('id').primary()
    t.integer('next_number').notNullable().defaultTo(1)
    t.string('timezone', 64)
    t.bigInteger('created_at').notNullable()
  })
  await knex.schema.createTable('tasks', (t) => {
    t.increments('id')
    t.bigInteger('chat_id').notNullable().references('chats.id').onDelete('CASCADE')
    t.integer('number').notNullable()
    t.text('text').notNullable()
    t.bigInteger('created_at').notNullable()
    t.bigInteger('updated_at').notNullable()
    t.bigInteger('done_at')
    t.bigInteger('deleted_at')
    // The update that deleted the task, so its Undo button restores exactly that batch.
    t.bigInteger('deleted_batch')
    t.unique(['chat_id', 'number'])
    t.index(['chat_id', 'deleted_at', 'done_at'])
  })
  await knex.schema.createTable('bot_state', (t) => {
    t.string('key', 64).primary()
    t.text('value').notNullable()
  })
  await knex.schema.createTable('outbox', (t) => {
    t.increments('id')
    t.bigInteger('update_id').notNullable()
    t.string('method', 64).notNullable()
    t.text('params').notNullable()
    t.bigInteger('created_at').notNullable()
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTable('outbox')
  await knex.schema.dropTable('bot_state')
  await knex.schema.dropTable('tasks')
  await knex.schema.dropTable('chats')
}
