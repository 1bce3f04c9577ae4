// The database half of health (bot/db-check.ts): on SQLite it reads in a worker thread with its own
// read-only connection; what it reports must still be the live database, read fresh.
import fs from 'node:fs'
import t from 'tap'
import { FRIEND, OWNER, startHarness } from './support/bot-harness.js'

t.test('health: task counts are the live ones at each call, and the check says ok', async (t) => {
  const h = await startHarness()
  t.teardown(() => h.close())
  t.match(await h.bot.health(), { database: { ok: true, check: 'ok' }, tasks: { chats: 0, open: 0, done: 0 } })
  await h.say('buy milk')
  await h.say('call mum', FRIEND)
  await h.say('walk the dog', FRIEND)
  await h.say('/done 1', FRIEND)
  t.match(await h.bot.health(), { status: 'ok', database: { ok: true, check: 'ok' }, tasks: { chats: 2, open: 2, done: 1 } })
  await h.say('/done 1', OWNER)
  t.match((await h.bot.health()).tasks, { chats: 2, open: 1, done: 2 }, 'read again, not kept from the call before')
})

t.test('health: a database file that is gone or unreadable is reported, not thrown', async (t) => {
  const h = await startHarness()
  t.teardown(() => h.close())
  await h.say('buy milk')
  // The bot keeps its open connection (and its -wal and -shm, moved aside with the file); the
  // health reader opens the file by name and finds garbage.
  const file = h.config.databaseFile
  const parts = ['', '-wal', '-shm'].filter((x) => fs.existsSync(file + x))
  for (const x of parts) fs.renameSync(file + x, `${file}.moved${x}`)
  fs.writeFileSync(file, 'this is not a database, and it is long enough to have a header of sorts....')
  try {
    const health = await h.bot.health()
    t.equal(health.status, 'failing')
    t.equal(health.database.ok, false)
    t.match(health.problems, [/^database check failed: file is not a database/])
  } finally {
    fs.rmSync(file)
    for (const x of parts) fs.renameSync(`${file}.moved${x}`, file + x)
  }
})
