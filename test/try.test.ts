// `npm run try`: a newcomer chats with the real bot in the terminal, buttons included.
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { PROJECT_ROOT } from '../bot/config.js'

t.test('try: a terminal chat adds, lists and completes with a button press', async (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'dev/try.ts'], {
    cwd: PROJECT_ROOT,
    input: 'buy milk\n/list\n!1\n/quit\n',
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
    timeout: 30_000,
  })
  t.equal(r.status, 0, r.stderr)
  const out = r.stdout
  t.match(out, /🤖 bot: Added:\n {3}#1 buy milk/)
  t.match(out, /🤖 bot: Your tasks \(1 open\)\n {3}\n {3}#1 buy milk\n {3}\[1\] ✓ 1 {3}\[2\] 🗑 1/)
  t.match(out, /💬 ✅ Done: #1/)
  t.match(out, /✎ bot \(edited\): Nothing to do 🎉/)
  t.match(out, /Bye\.\n$/)
})
