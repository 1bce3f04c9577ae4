// The rate limit is one count per person across processes (issue 15): two database handles on one
// database (two bot processes, as in webhook mode on PostgreSQL) counting the same person at once
// let exactly RATE_LIMIT_PER_MINUTE through and say "Slow down" once, not once per process.
// PostgreSQL only: on SQLite one process holds the database (the instance lock), and the restart
// case is in open-mode.test.ts.
import t from 'tap'
import { openGate, slowDownText } from '../bot/open/rate-limit.js'
import { ensureSchemaCurrent } from '../bot/db.js'
import { UpdateLedger, type Outgoing } from '../bot/updates/ledger.js'
import { forEachEngine } from './support/engines.js'

const MINUTE = Date.UTC(2026, 11, 1, 12, 0, 0)
const PERSON = 4242
const OWNER = 1

forEachEngine(t, 'rate limit: two processes on one PostgreSQL share the count', async (t, e) => {
  const first = e.open()
  t.teardown(() => first.destroy())
  await ensureSchemaCurrent(first)
  const second = e.open()
  t.teardown(() => second.destroy())
  const config = { openToAll: true, ownerUserId: OWNER, limits: { ratePerMinute: 30, maxTasksPerChat: 10_000 } }
  const now = (): number => MINUTE + 15_000
  const processes = [first, second].map((db) => ({ ledger: new UpdateLedger(db, now), gate: openGate(config, now) }))
  const replies: Outgoing[][] = []
  let applied = 0
  // 40 updates from one person, alternating between the two processes, all in flight at once.
  await Promise.all(Array.from({ length: 40 }, async (_, i) => {
    const p = processes[i % 2]
    if (p === undefined) return
    const update = { update_id: 1000 + i, message: { message_id: i, date: 0, chat: { id: PERSON, type: 'private' as const }, from: { id: PERSON, is_bot: false, first_name: 'p' }, text: `t${i}` } }
    await p.ledger.handleOnce(update.update_id, async (trx) => {
      const limited = await p.gate.overLimit(trx, PERSON, PERSON, update)
      if (limited !== null) {
        replies.push(limited)
        return limited
      }
      applied++
      return []
    })
  }))
  t.equal(applied, 30, 'exactly the limit got through')
  t.same(replies.filter((r) => r.length > 0), [[{ method: 'sendMessage', params: { chat_id: PERSON, text: slowDownText(30, now()), parse_mode: 'HTML' } }]], 'one "Slow down" in all')
  t.equal(replies.length, 10, 'the other 9 were dropped')
  t.equal(slowDownText(30, now()), 'Slow down: you sent more than 30 messages this minute, so I am ignoring the rest of them. Send again in 45 s.')
  t.same((await first('rate_limits').select('user_id', 'minute', 'count')).map((r: Record<string, unknown>) => ({ ...r, count: Number(r.count), minute: Number(r.minute), user_id: Number(r.user_id) })), [{ user_id: PERSON, minute: MINUTE / 60_000, count: 40 }])
  t.equal(Number((await first('handled_updates').count({ n: '*' }))[0]?.n), 40, 'every update is recorded as handled')
}, ['postgres'])
