// `npm run try`: a newcomer chats with the real bot in the terminal, buttons included.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import t from 'tap'
import { PROJECT_ROOT } from '../bot/config.js'

/** `npm run try` with `input` typed into it, to the end. */
function runTry (input: string, args: string[] = []): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', 'tsx', 'dev/try.ts', ...args], {
    cwd: PROJECT_ROOT,
    input,
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
    timeout: 30_000,
  })
}

t.test('try: a terminal chat adds, lists and completes with a button press', async (t) => {
  const r = runTry('buy milk\n/list\n!1\n/quit\n')
  t.equal(r.status, 0, r.stderr)
  const out = r.stdout
  t.match(out, /🤖 bot: Added:\n {3}#1 buy milk/)
  t.match(out, /🤖 bot: Your tasks \(1 open\)\n {3}\n {3}#1 buy milk\n {3}\[1\] ✓ 1 {3}\[2\] 🗑 1/)
  t.match(out, /💬 ✅ Done: #1/)
  t.match(out, /✎ bot \(edited\): Nothing to do 🎉/)
  t.match(out, /Bye\.\n$/)
})

t.test('try: with a set clock, a day of reminders fits in a few lines', async (t) => {
  const r = runTry('pay rent tomorrow 9am\n!time 2026-11-25T09:00\n!1\n!time nonsense\n/quit\n', ['--at', '2026-11-24T21:00', '--tz', 'Europe/Berlin'])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /🕒 Tue 24 Nov 21:00 \(Europe\/Berlin\)/)
  t.match(r.stdout, /🤖 bot: Added:\n {3}#1 pay rent — due Wed 25 Nov 09:00/)
  t.match(r.stdout, /🕒 Wed 25 Nov 09:00 \(Europe\/Berlin\)\n🤖 bot: ⏰ #1 pay rent\n {3}due 09:00\n {3}\[1\] ✅ Done/)
  t.match(r.stdout, /✎ bot \(edited\): ✅ Done: #1 pay rent/)
  t.match(r.stdout, /\(say !time \+2h, !time \+30m or !time 2026-11-25T09:00\)/)
})
