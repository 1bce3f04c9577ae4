// The one-deploy-at-a-time lock (ops/lib/lock.mjs) on real files, with real processes as holders:
// this one (alive), a child that has exited (dead), and a holder on another host (unknown).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { acquireLock, readLock } from '../ops/lib/lock.mjs'
import { tempDir } from './support/bot-harness.js'

const HOST = os.hostname()
/** A pid that was a real process a moment ago and has exited. */
const deadPid = (): number => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout)

function lockFile (t: Test): string {
  const dir = tempDir('mister-todo-lock-')
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 'storage', 'deploy.lock')
}
function holderFile (t: Test, holder: Record<string, unknown> | string): string {
  const file = lockFile(t)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, typeof holder === 'string' ? holder : JSON.stringify(holder) + '\n')
  return file
}
const mode = (file: string): string => (fs.statSync(file).mode & 0o777).toString(8)
const STARTED = '2026-12-01T10:00:00.000Z'

t.test('lock: taken exclusively, owner-only, naming this process; released once', async (t) => {
  const file = lockFile(t)
  const before = Date.now()
  const lock = acquireLock(file, 'ops/deploy.mjs --yes')
  t.same(lock.info, { pid: process.pid, host: HOST, command: 'ops/deploy.mjs --yes', startedAt: lock.info.startedAt })
  t.ok(Date.parse(lock.info.startedAt) >= before - 1 && Date.parse(lock.info.startedAt) <= Date.now(), 'started now')
  t.equal(lock.cleared, null)
  t.equal(fs.readFileSync(file, 'utf8'), JSON.stringify(lock.info) + '\n', 'the file holds exactly the info')
  t.equal(mode(file), '600')
  t.equal(mode(path.dirname(file)), '700', 'the folder is created owner-only')
  lock.release()
  t.notOk(fs.existsSync(file), 'released: the file is gone')
  const again = acquireLock(file, 'ops/rollback.mjs')
  lock.release() // a second release of the first lock leaves the new holder alone
  t.same(readLock(file), again.info, 'a second release of an old lock removes nothing')
  again.release()
})

t.test('lock: a live holder is named, with the command to run when it is gone; nothing changes', async (t) => {
  const holder = { pid: process.pid, host: HOST, command: 'ops/rollback.mjs --yes', startedAt: STARTED }
  const file = holderFile(t, holder)
  const before = fs.readFileSync(file, 'utf8')
  t.throws(() => acquireLock(file, 'ops/deploy.mjs', { rerun: 'npx zx ops/deploy.mjs' }), {
    name: 'OpsError',
    step: 'lock',
    code: 'ELOCKED',
    message: `another deploy or rollback holds deploy.lock: "ops/rollback.mjs --yes" (pid ${process.pid} on ${HOST}, since ${STARTED})`,
    hint: 'wait for it to finish; if it is gone: npx zx ops/deploy.mjs --force-unlock',
  })
  t.throws(() => acquireLock(file, 'ops/deploy.mjs', { force: true }), {
    step: 'lock',
    code: 'ELOCKED',
    message: `"ops/rollback.mjs --yes" (pid ${process.pid} on ${HOST}, since ${STARTED}) is still running; --force-unlock only clears a stale lock`,
    hint: `wait for it to finish (pid ${process.pid})`,
  }, '--force-unlock never clears a live holder')
  t.equal(fs.readFileSync(file, 'utf8'), before, 'the lock file is untouched')
})

t.test('lock: a holder that died is reported as stale with the command that clears it; --force-unlock clears it', async (t) => {
  const pid = deadPid()
  const holder = { pid, host: HOST, command: 'ops/deploy.mjs', startedAt: STARTED }
  const file = holderFile(t, holder)
  t.throws(() => acquireLock(file, 'ops/deploy.mjs'), {
    step: 'lock',
    code: 'ESTALELOCK',
    message: `stale lock deploy.lock: "ops/deploy.mjs" (pid ${pid} on ${HOST}, since ${STARTED}) is no longer running`,
    hint: 'check `git status` and `npm run status`, then clear it: the same command --force-unlock',
  })
  t.same(readLock(file), holder, 'the stale lock is left for the operator to look at')
  const lock = acquireLock(file, 'ops/deploy.mjs', { force: true })
  t.same(lock.cleared, holder, 'the cleared holder is returned, for the warning line')
  t.same(readLock(file), lock.info, 'the lock is ours now')
  lock.release()
})

t.test('lock: an unreadable lock counts as stale; --force-unlock clears it', async (t) => {
  const file = holderFile(t, 'not json')
  t.throws(() => acquireLock(file, 'ops/deploy.mjs'), { code: 'ESTALELOCK', message: 'stale lock deploy.lock: an unreadable lock is no longer running' })
  const lock = acquireLock(file, 'ops/deploy.mjs', { force: true })
  t.equal(lock.cleared, null, 'nothing readable was cleared')
  t.equal(readLock(file)?.pid, process.pid)
  lock.release()
})

t.test('lock: a holder on another host is never taken for dead', async (t) => {
  const pid = deadPid()
  const file = holderFile(t, { pid, host: `not-${HOST}`, command: 'ops/deploy.mjs', startedAt: STARTED })
  t.throws(() => acquireLock(file, 'ops/deploy.mjs'), { code: 'ELOCKED', message: `another deploy or rollback holds deploy.lock: "ops/deploy.mjs" (pid ${pid} on not-${HOST}, since ${STARTED})` })
})

t.test('lock: --force-unlock clears a holder on another host (its pid says nothing about this one)', async (t) => {
  const holder = { pid: process.pid, host: `not-${HOST}`, command: 'ops/deploy.mjs', startedAt: STARTED }
  const file = holderFile(t, holder)
  const lock = acquireLock(file, 'ops/deploy.mjs', { force: true })
  t.same(lock.cleared, holder)
  t.equal(readLock(file)?.host, HOST)
  lock.release()
})

t.test('lock: a file that cannot be created is the system error, not a lock held by someone', async (t) => {
  const file = path.join(path.dirname(lockFile(t)), 'x'.repeat(300))
  t.throws(() => acquireLock(file, 'ops/deploy.mjs'), { code: 'ENAMETOOLONG' })
})

t.test('lock: release leaves a lock that another process took in the meantime', async (t) => {
  const file = lockFile(t)
  const lock = acquireLock(file, 'ops/deploy.mjs')
  const other = { pid: process.pid + 100_000, host: HOST, command: 'ops/rollback.mjs', startedAt: STARTED }
  fs.writeFileSync(file, JSON.stringify(other))
  lock.release()
  t.same(readLock(file), other, 'not ours: left in place')
  t.equal(readLock(path.join(path.dirname(file), 'missing.lock')), null, 'no file reads as no holder')
})
