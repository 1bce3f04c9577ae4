// ops/lib/releases.mjs on its own: the deploy journal's records (written to a real file in a temp
// folder) and the questions rollback asks of them, with the exact --history table an operator reads.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { appendRelease, badCommits, badDeployIds, deployToUndo, deploysBetween, historyTable, newId, readReleases, who, type Release } from '../ops/lib/releases.mjs'

const C = (n: number): string => String(n).repeat(40).slice(0, 40)

/** A release record with the fields rollback reads; the rest as deploy.mjs writes them. */
function rec (id: string, kind: 'deploy' | 'rollback', from: string | null, to: string | null, outcome: Release['outcome'], extra: Partial<Release> = {}): Release {
  return { id, kind, start: '2026-12-01T10:00:00.000Z', from, to, backup: null, migrations: [], steps: [], outcome, reason: null, who: 'op@host', ...extra }
}

t.test('releases: a new id is the UTC time to the second and four hex digits, different each time', async (t) => {
  const stamp = (d: Date): string => d.toISOString().replace(/[-:]/g, '').slice(0, 15)
  const before = stamp(new Date())
  const ids = Array.from({ length: 20 }, () => newId())
  const after = stamp(new Date())
  for (const id of ids) t.match(id, /^\d{8}T\d{6}-[0-9a-f]{4}$/)
  t.ok(ids.every((id) => id.slice(0, 15) >= before && id.slice(0, 15) <= after), `${ids[0]} is between ${before} and ${after}`)
  t.ok(new Set(ids).size > 1, 'the random part differs')
})

t.test('releases: who is user@host', async (t) => {
  t.equal(who(), `${os.userInfo().username}@${os.hostname()}`)
})

t.test('releases: appendRelease writes one JSON line per record to an owner-only file, making its folder', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-releases-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'storage', 'deploys.jsonl')
  const a = rec('a', 'deploy', C(1), C(2), 'good')
  const b = rec('b', 'rollback', C(2), C(1), 'good', { undoes: 'a' })
  appendRelease(file, a)
  appendRelease(file, b)
  t.equal(fs.readFileSync(file, 'utf8'), `${JSON.stringify(a)}\n${JSON.stringify(b)}\n`)
  t.equal(fs.statSync(file).mode & 0o777, 0o600)
  t.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700)
  t.strictSame(readReleases(file), [a, b])
  const open = fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === file } catch { return false } })
  t.same(open, [], 'the file is closed after each append')
})

t.test('releases: readReleases keeps only deploy and rollback records, skips torn lines, and a missing file is empty', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-releases-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'deploys.jsonl')
  t.strictSame(readReleases(file), [])
  const a = rec('a', 'deploy', C(1), C(2), 'good')
  fs.writeFileSync(file, `${JSON.stringify({ kind: 'backup', file: 'x' })}\n${JSON.stringify(a)}\n{"kind":"depl`)
  t.strictSame(readReleases(file), [a])
})

t.test('releases: bad deploys are the ones that did not end good, and the ones a good rollback undid', async (t) => {
  const list = [
    rec('d1', 'deploy', C(1), C(2), 'good'),
    rec('d2', 'deploy', C(2), C(3), 'failed'),
    rec('d3', 'deploy', C(2), C(4), 'good'),
    rec('d4', 'deploy', C(4), C(5), 'good'),
    rec('d5', 'deploy', C(5), C(6), 'good'),
    rec('d6', 'deploy', C(6), C(7), 'good'),
    rec('r1', 'rollback', C(4), C(2), 'good', { undoes: 'd3' }),
    rec('r2', 'rollback', C(7), C(5), 'good', { undoes: ['d6', 'd5'] }),
    rec('r3', 'rollback', C(5), C(4), 'failed', { undoes: 'd4' }),
    rec('r4', 'rollback', C(5), C(4), 'good', { undoes: null }),
    rec('r5', 'rollback', C(5), C(4), 'good'),
  ]
  t.strictSame([...badDeployIds(list)].sort(), ['d2', 'd3', 'd5', 'd6'])
  t.strictSame([...badCommits(list)].sort(), [C(3), C(4), C(6), C(7)])
  t.strictSame([...badCommits([rec('x', 'deploy', C(1), null, 'failed')])], [], 'a deploy without a target names no commit')
  t.strictSame([...badDeployIds([rec('r', 'rollback', null, null, 'failed')])], [], 'a rollback is never a bad deploy itself')
  t.strictSame([...badDeployIds([rec('d1', 'deploy', C(1), C(2), 'good'), rec('d2', 'deploy', C(2), C(3), 'good', { undoes: 'd1' })])], [], 'only a rollback\'s undoes counts, not a field on a deploy')
})

t.test('releases: a plain rollback undoes the newest good deploy not undone yet, never a dry run', async (t) => {
  const d1 = rec('d1', 'deploy', C(1), C(2), 'good')
  const d2 = rec('d2', 'deploy', C(2), C(3), 'good')
  const dry = rec('d3', 'deploy', C(3), C(4), 'good', { dryRun: true })
  const failed = rec('d4', 'deploy', C(3), C(5), 'failed')
  t.equal(deployToUndo([d1, d2, dry, failed]), d2)
  t.equal(deployToUndo([d1, d2, rec('r', 'rollback', C(3), C(2), 'good', { undoes: 'd2' })]), d1, 'then the one before it')
  t.equal(deployToUndo([dry, failed]), null)
  t.equal(deployToUndo([]), null)
})

t.test('releases: deploysBetween is the chain of good deploys from the target to the current commit, newest first', async (t) => {
  const d1 = rec('d1', 'deploy', C(1), C(2), 'good')
  const d2 = rec('d2', 'deploy', C(2), C(3), 'good')
  const side = rec('side', 'deploy', C(2), C(8), 'good')
  const d3 = rec('d3', 'deploy', C(3), C(4), 'good')
  const first = rec('first', 'deploy', null, C(1), 'good')
  const list = [first, d1, d2, side, d3]
  t.strictSame(deploysBetween(list, C(4), C(3)).map((r) => r.id), ['d3'])
  t.strictSame(deploysBetween(list, C(4), C(1)).map((r) => r.id), ['d3', 'd2', 'd1'])
  t.strictSame(deploysBetween(list, C(4), C(4)), [], 'already there')
  t.strictSame(deploysBetween(list, C(4), C(9)), [], 'a commit no deploy started from')
  t.strictSame(deploysBetween(list, C(1), C(4)), [], 'a newer commit')
  t.strictSame(deploysBetween(list, C(1), C(0)), [], 'the first deploy has no from: the chain ends there')
  const undone = [...list, rec('r', 'rollback', C(4), C(3), 'good', { undoes: 'd3' }), rec('d5', 'deploy', C(3), C(4), 'good', { dryRun: true })]
  t.strictSame(deploysBetween(undone, C(4), C(2)), [], 'an undone deploy and a dry run are not links')
  const back = rec('r2', 'rollback', C(4), C(2), 'good', { undoes: [] })
  t.strictSame(deploysBetween([d1, back], C(2), C(4)), [], 'a rollback is not a link (it went from 4 to 2; no deploy did)')
  t.strictSame(deploysBetween([d1, rec('dry', 'deploy', C(2), C(5), 'good', { dryRun: true })], C(5), C(2)), [], 'a dry run is not a link')
})

t.test('releases: the --history table, and --list with one kind', async (t) => {
  const list = [
    rec('d1', 'deploy', 'aaaaaaa111', 'bbbbbbb222', 'good', { start: '2026-12-01T10:00:05.123Z', backup: '/srv/todo/storage/backups/todo_2026-12-01_10-00-00.sqlite' }),
    rec('d2', 'deploy', 'bbbbbbb222', 'ccccccc333', 'good', { start: '2026-12-01T11:30:00.000Z', who: 'deploy@box' }),
    rec('r1', 'rollback', 'ccccccc333', 'bbbbbbb222', 'good', { start: '2026-12-01T11:31:00.000Z', undoes: 'd2' }),
    rec('d3', 'deploy', null, null, 'failed', { start: '2026-12-01T12:00:00.000Z' }),
    rec('r2', 'rollback', 'bbbbbbb222', null, 'failed', { start: '2026-12-01T12:05:00.000Z' }),
  ]
  t.equal(historyTable(list), [
    '  date (UTC)           kind      commits            release       backup                           who',
    '  2026-12-01 10:00:05  deploy    aaaaaaa → bbbbbbb  good          todo_2026-12-01_10-00-00.sqlite  op@host',
    '  2026-12-01 11:30:00  deploy    bbbbbbb → ccccccc  bad (good)    -                                deploy@box',
    '  2026-12-01 11:31:00  rollback  ccccccc → bbbbbbb  good          -                                op@host',
    '  2026-12-01 12:00:00  deploy    - → -              bad (failed)  -                                op@host',
    '  2026-12-01 12:05:00  rollback  bbbbbbb → -        failed        -                                op@host',
  ].join('\n'))
  t.equal(historyTable(list, 'rollback'), [
    '  date (UTC)           kind      commits            release  backup  who',
    '  2026-12-01 11:31:00  rollback  ccccccc → bbbbbbb  good     -       op@host',
    '  2026-12-01 12:05:00  rollback  bbbbbbb → -        failed   -       op@host',
  ].join('\n'), 'only rollbacks, each with its own outcome')
  t.equal(historyTable(list, 'deploy').split('\n').length, 4)
  t.match(historyTable(list, 'deploy'), '  2026-12-01 11:30:00  deploy  bbbbbbb → ccccccc  bad (good)  ', 'only deploys; the one a rollback undid is still bad')
})
