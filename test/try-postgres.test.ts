// `npm run try -- --pg`: the same terminal chat with the data in a throwaway PostgreSQL server,
// which is gone after /quit.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import t from 'tap'
import { PROJECT_ROOT } from '../bot/config.js'
import { NOT_INSTALLED, postgresBin } from './support/postgres.js'

const serverPids = (): string[] => execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).split('\n').filter((l) => /postgres -D \S*mister-todo-pg-/.test(l))

t.test('try --pg: the terminal chat runs on a throwaway PostgreSQL server, stopped at /quit', { skip: postgresBin() === null ? NOT_INSTALLED : false }, async (t) => {
  const before = serverPids()
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'dev/try.ts', '--pg'], { cwd: PROJECT_ROOT, input: 'buy milk\n/list\n/quit\n', encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 60_000 })
  t.equal(r.status, 0, r.stderr)
  const server = /\(throwaway PostgreSQL server on 127\.0\.0\.1:(\d+); log in (\S+)\)/.exec(r.stdout)
  t.ok(server, 'it says where the server runs')
  t.match(r.stdout, /🤖 bot: Added:\n {3}#1 buy milk/)
  t.match(r.stdout, /🤖 bot: Your tasks \(1 open\)/)
  t.match(r.stdout, /Bye\.\n$/)
  t.same(serverPids(), before, 'no server is left running')
  t.notOk(fs.existsSync(server?.[2] ?? '/nonexistent'), 'the throwaway folder is gone')
})
