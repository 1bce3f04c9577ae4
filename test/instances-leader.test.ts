// Several instances: what leads. The leader killed with -9 → another instance sends the reminders
// still due, within 10 s of their time, none twice. The leader's lock session ended under it
// while someone else took the lock → it stops (exit 1, saying why) instead of leading beside
// another, and the other instance leads once the lock is free.
import t from 'tap'
import pg from 'pg'
import { ADVISORY_LOCK_KEY } from '../bot/instance-lock-postgres.js'
import { exited, OWNER } from './support/bot-harness.js'
import { healthz, startCluster } from './support/instance-cluster.js'
import { NOT_INSTALLED, postgresBin } from './support/postgres.js'
import { waitUntil } from './support/wait.js'

const skip = postgresBin() === null ? NOT_INSTALLED : false

t.test('instances: the leader killed with -9 → another sends the reminders still due within 10 s, none twice', { skip }, async (t) => {
  const c = await startCluster(t, 2)
  const REMINDERS = 8
  for (let k = 0; k < REMINDERS; k++) {
    const waiting = c.emu.waitForMessage(OWNER)
    c.emu.sendText(OWNER, OWNER, `call ${k}`)
    await waiting
  }
  const base = Date.now() + 3000
  const dueAt = (n: number): number => base + (n - 1) * 1000
  for (let n = 1; n <= REMINDERS; n++) await c.db('tasks').where({ chat_id: OWNER, number: n }).update({ remind_at: dueAt(n) })
  const seenAt = new Map<number, number>()
  const watch = setInterval(() => {
    for (const m of c.emu.messages(OWNER)) {
      const n = /⏰ #(\d+)/.exec(m.rendered)?.[1]
      if (n !== undefined && !seenAt.has(Number(n))) seenAt.set(Number(n), Date.now())
    }
  }, 25)
  t.teardown(() => clearInterval(watch))
  const health = await Promise.all(c.instances.map((i) => healthz(i.healthPort)))
  const leaderIndex = health.findIndex((h) => h.instance.leads)
  const leader = c.instances[leaderIndex]
  const other = c.instances[1 - leaderIndex]
  if (leader === undefined || other === undefined) throw new Error(`one leader expected: ${JSON.stringify(health.map((h) => h.instance))}`)
  await waitUntil(() => seenAt.has(1), { what: 'the first reminder, from the leader', timeoutMs: 10_000 })
  // Killed between two reminders, once the first is recorded: one killed between its send and its
  // record is 'unknown', never sent again (at most once, reminders-crash.test.ts), and the 25 ms
  // watch above sees a message before the leader has recorded it.
  await waitUntil(async () => {
    const statuses = (await c.db('reminders').select('status') as Array<{ status: string }>).map((r) => r.status)
    return statuses.includes('sent') && !statuses.includes('sending')
  }, { what: 'the first reminder recorded as sent', timeoutMs: 5000 })
  leader.child.kill('SIGKILL')
  const killedAt = Date.now()
  await exited(leader.child)
  await waitUntil(() => seenAt.size === REMINDERS, { what: `all ${REMINDERS} reminders`, timeoutMs: 25_000, seen: () => [...seenAt.keys()].join(',') })
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const late = [...seenAt].filter(([n, at]) => at - Math.max(dueAt(n), 0) > 10_000).map(([n, at]) => `#${n} ${at - dueAt(n)} ms late`)
  t.same(late, [], 'every reminder within 10 s of its time')
  const afterKill = [...seenAt].filter(([, at]) => at > killedAt).length
  t.ok(afterKill >= 3, `${afterKill} reminders sent by the other instance after the kill`)
  const counts = Array.from({ length: REMINDERS }, (_, k) => c.emu.messages(OWNER).filter((m) => m.rendered.startsWith(`⏰ #${k + 1} `)).length)
  t.same(counts, counts.map(() => 1), 'each reminder sent once')
  const rows = await c.db('reminders').select('status') as Array<{ status: string }>
  t.same(rows.map((r) => r.status).sort(), Array.from({ length: REMINDERS }, () => 'sent').sort(), 'recorded as sent, once each')
  const survivor = await healthz(other.healthPort)
  t.equal(survivor.instance.leads, true, 'the survivor leads')
  t.match(other.child.output(), /"msg":"took the leader lock: this instance now runs the reminders, digests, backups and outbox retries"/)
})

t.test('instances: a leader whose lock session ends while another takes the lock stops, saying why; the other then leads', { skip }, async (t) => {
  const c = await startCluster(t, 2)
  const health = await Promise.all(c.instances.map((i) => healthz(i.healthPort)))
  const leaderIndex = health.findIndex((h) => h.instance.leads)
  const leader = c.instances[leaderIndex]
  const other = c.instances[1 - leaderIndex]
  if (leader === undefined || other === undefined) throw new Error(`one leader expected: ${JSON.stringify(health.map((h) => h.instance))}`)
  // Someone else (here the test) ends the leader's lock session and takes the lock at once. The
  // thief queues for the lock first, so the server hands it over the moment the leader's backend
  // has gone: pg_terminate_backend returns before that, and a try-lock sent after it could find
  // the lock still held and leave it to the old leader, which (rightly) takes it again.
  const thief = new pg.Client({ connectionString: c.url })
  const killer = new pg.Client({ connectionString: c.url })
  await thief.connect()
  await killer.connect()
  t.teardown(() => Promise.all([thief.end(), killer.end()]).catch(() => {}))
  const thiefPid = (await thief.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid
  const taking = thief.query('select pg_advisory_lock($1)', [ADVISORY_LOCK_KEY])
  await waitUntil(async () => (await killer.query('select 1 from pg_locks where pid = $1 and locktype = \'advisory\' and not granted', [thiefPid])).rowCount === 1, { what: 'the thief queued for the lock', timeoutMs: 5000 })
  const ended = await killer.query<{ n: number }>("select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = current_database() and application_name like '% lock ' || $1 || '@%'", [String(leader.child.pid)])
  t.equal(ended.rows[0]?.n, 1, 'the leader\'s lock session ended')
  await taking
  // pg_locks is server-wide: other test files' bots hold the same key in their own databases.
  const holder = await killer.query<{ pid: number }>("select pid from pg_locks where locktype = 'advisory' and granted and objsubid = 1 and objid = $1 and database = (select oid from pg_database where datname = current_database())", [ADVISORY_LOCK_KEY])
  t.same(holder.rows.map((r) => r.pid), [thiefPid], 'the lock taken by someone else')
  // Bounded: an old leader that does not stop fails here, not at tap's file timeout 20 min later.
  const stopped = await Promise.race([exited(leader.child), new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 15_000))])
  t.same(stopped, { code: 1, signal: null }, 'the old leader stopped with an error')
  if (stopped === 'still running') leader.child.kill('SIGKILL')
  t.match(leader.child.output(), /"msg":"lost the leader lock: its database session ended and another instance leads now; stopping this one so that two never run the reminders and backups \(a supervisor such as PM2 restarts it as a non-leader\)"/)
  t.match(leader.child.output(), /mister_todo: stopped on a fatal error: lost the leader lock/)
  t.equal((await healthz(other.healthPort)).instance.leads, false, 'the other does not lead while the lock is held elsewhere')
  await thief.query('select pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY])
  await waitUntil(async () => (await healthz(other.healthPort)).instance.leads, { what: 'the other instance leading', timeoutMs: 5000 })
  t.pass('the other instance leads once the lock is free')
})
