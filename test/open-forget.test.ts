// /forget (issue 15): after its confirm button, nothing in any table names the chat or its user;
// Cancel changes nothing; other chats are untouched. Tables are listed from the schema itself,
// so a table added later is checked too. On both engines.
import type { Knex } from 'knex'
import t from 'tap'
import { forgetChat } from '../bot/commands/forget.js'
import { OWNER, startHarness, type Harness } from './support/bot-harness.js'
import { forEachEngine } from './support/engines.js'
import { waitUntil } from './support/wait.js'

// Ids no timestamp or counter will contain by chance (matched as whole numbers).
const USER = 555_000_111
const NEIGHBOUR = 555_000_222

async function tableNames (db: Knex): Promise<string[]> {
  if (db.client.config.client === 'pg') {
    const r = await db.raw("select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1") as { rows: Array<{ name: string }> }
    return r.rows.map((row) => row.name)
  }
  const rows = await db.raw("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by 1") as Array<{ name: string }>
  return rows.map((row) => row.name)
}

/** Every row of every table, as `table: json`, for the rows that name `id` as a whole number. */
async function rowsNaming (db: Knex, id: number): Promise<string[]> {
  const found: string[] = []
  const pattern = new RegExp(`(?<![0-9])${id}(?![0-9])`)
  for (const table of await tableNames(db)) {
    for (const row of await db(table).select('*') as Array<Record<string, unknown>>) {
      const json = JSON.stringify(row, (_k, v: unknown) => Buffer.isBuffer(v) ? v.toString('latin1') : typeof v === 'bigint' ? v.toString() : v)
      if (pattern.test(json)) found.push(`${table}: ${json}`)
    }
  }
  return found
}

async function idle (h: Harness): Promise<void> {
  await waitUntil(async () => Number((await h.bot.db('outbox').count({ n: '*' }))[0]?.n) === 0, { what: 'the outbox delivered' })
}

forEachEngine(t, 'forget: /forget deletes everything about the chat after the confirm button; Cancel changes nothing; other chats untouched', async (t, e) => {
  const h = await startHarness({ ...e.env, ALLOWED_USER_IDS: '*', OWNER_USER_ID: String(OWNER), BACKUP_SCHEDULE: 'off', DRILL_SCHEDULE: 'off' })
  t.teardown(() => h.close())
  t.same(await tableNames(h.bot.db), ['bot_state', 'chats', 'digests', 'handled_updates', 'knex_migrations', 'knex_migrations_lock', 'outbox', 'owner_notices', 'rate_limits', 'reminders', 'scheduled_jobs', 'tasks'], 'the dump sees every table')

  t.equal((await h.say('pay rent tomorrow 9am\ncall mom\nsecret plan', USER)).rendered.split('\n')[0], 'Added 3 tasks:')
  t.match((await h.say('/tz Europe/Berlin', USER)).rendered, /Europe\/Berlin/)
  t.match((await h.say('/digest 8:00', USER)).rendered, /8:00/)
  t.match((await h.say('/del 2', USER)).rendered, /Deleted/)
  t.match((await h.say('/done 3', USER)).rendered, /Done/)
  // A reminder row and a reply still waiting, as a busy chat would have.
  const [task] = await h.bot.db('tasks').where({ chat_id: USER, number: 1 }).select('id')
  await h.bot.db('reminders').insert({ task_id: task.id, chat_id: USER, fire_at: Date.now(), status: 'sent', created_at: Date.now(), sent_at: Date.now() })
  await h.bot.db('digests').insert({ chat_id: USER, local_date: '2000-01-01', status: 'sent', created_at: Date.now() })
  t.equal((await h.say('neighbour task', NEIGHBOUR)).rendered, 'Added:\n#1 neighbour task')
  t.match((await h.say('/tz Asia/Tokyo', NEIGHBOUR)).rendered, /Asia\/Tokyo/)
  await idle(h)
  const neighbourBefore = (await rowsNaming(h.bot.db, NEIGHBOUR)).filter((r) => !r.startsWith('rate_limits'))
  const before = await rowsNaming(h.bot.db, USER)
  t.ok(['chats', 'tasks', 'reminders', 'digests', 'rate_limits'].every((table) => before.some((r) => r.startsWith(`${table}:`))), 'the dump finds the chat in chats, tasks, reminders, digests and rate_limits')

  const ask = await h.say('/forget', USER)
  t.equal(ask.rendered, 'Delete everything stored about this chat? This cannot be undone.')
  t.same(ask.reply_markup?.inline_keyboard.flat().map((b) => b.text), ['Delete everything', 'Cancel'])
  const [yes, no] = ask.reply_markup?.inline_keyboard.flat().map((b) => b.callback_data ?? '') ?? []

  h.emu.pressButton(USER, USER, ask.message_id, no ?? '')
  await h.emu.waitFor(() => h.emu.messages(USER).find((m) => m.message_id === ask.message_id && m.rendered === 'Nothing was deleted.'))
  await idle(h)
  const afterCancel = await rowsNaming(h.bot.db, USER)
  const stable = (rows: string[]): string[] => rows.filter((r) => !r.startsWith('rate_limits'))
  t.same(stable(afterCancel), stable(before), 'Cancel changed nothing')

  // Replies still waiting for the chat are deleted with it, others' are kept (checked in a
  // transaction that is rolled back: a queued row would be delivered before a button press).
  await h.bot.db.transaction(async (trx) => {
    const queued = (chat: number, text: string): Record<string, unknown> => ({ update_id: 1, method: 'sendMessage', params: JSON.stringify({ chat_id: chat, text }), created_at: Date.now() })
    await trx('outbox').insert([queued(USER, 'waiting for the user'), queued(NEIGHBOUR, 'waiting for the neighbour')])
    t.equal(await forgetChat(trx, USER, USER), 3)
    t.same((await trx('outbox').select('params')).map((r: { params: string }) => JSON.parse(r.params) as unknown), [{ chat_id: NEIGHBOUR, text: 'waiting for the neighbour' }], 'the chat\'s waiting replies are deleted, the neighbour\'s kept')
    await trx.rollback()
  }).catch((err: unknown) => { if (err !== undefined) throw err })
  t.equal((await rowsNaming(h.bot.db, USER)).filter((r) => r.startsWith('tasks:')).length, 3, 'rolled back')

  h.emu.pressButton(USER, USER, ask.message_id, yes ?? '')
  await h.emu.waitFor(() => h.emu.messages(USER).find((m) => m.message_id === ask.message_id && m.rendered !== 'Nothing was deleted.' && m.rendered !== ask.rendered))
  t.equal(h.emu.messages(USER).find((m) => m.message_id === ask.message_id)?.rendered, '🗑 Deleted everything stored about this chat (3 tasks, reminders, settings). Backups made before now still hold it until they age out: /privacy says when.')
  await idle(h)
  t.same(await rowsNaming(h.bot.db, USER), [], 'no row in any table names the chat or its user')
  t.same((await rowsNaming(h.bot.db, NEIGHBOUR)).filter((r) => !r.startsWith('rate_limits')), neighbourBefore, 'the other chat is untouched')
  t.equal((await h.say('fresh start', USER)).rendered, 'Added:\n#1 fresh start', 'the chat starts again from #1')
})
