// ops/lib/test-run.mjs: the incoming tests read from their TAP stream as it comes — files done,
// failing names printed at once, the run ended at the first failing file, Ctrl-C — with a stand-in
// that prints tap's stream over a few seconds, and once with tap itself.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import t from 'tap'
import { frames, gone, runStep, TAP_STREAM } from './support/step-run.js'

const FAILS = '    not ok: test/b.test.ts > area: fails > one is two\n'
const tapStream = (...files: string[]): string => `node ${TAP_STREAM} ${files.join(' ')}`
const at = (run: { chunks: Array<{ at: number, text: string }> }, text: string): number => run.chunks.find((c) => c.text.includes(text))?.at ?? -1

t.test('tests: a passing run counts files as tap reports them and returns "<command>: passed"', async (t) => {
  const command = tapStream('pass:400', 'pass:400', 'pass:400', 'pass:400')
  const run = await runStep(['tests', '.', command], { env: { MISTER_TODO_PROGRESS_INTERVAL_S: '0.5' } })
  t.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trimEnd().split('\n')
  t.match(lines.pop(), new RegExp(`^✓ tests {2}${command.replaceAll('.', '\\.')}: passed \\(\\d\\.\\d s\\)$`))
  t.ok(lines.length >= 2, `a plain line every half second (${lines.length})`)
  for (const line of lines) t.match(line, /^ {2}tests {2}(running node .*|[0-4]\/4 files) · 0:0[0-3]$/)
  t.ok(lines.some((l) => /^ {2}tests {2}[1-3]\/4 files · /.test(l)), 'the count of files done shows')
  t.equal(run.stderr, '')
})

t.test('tests: a failing test is named the moment tap reports it, long before the run ends (--no-stop)', async (t) => {
  const command = tapStream('pass:100', 'fail:200', 'pass:1500')
  const run = await runStep(['tests', '.', command, '--no-stop'])
  t.equal(run.code, 1)
  t.equal(run.stderr.split('\n')[0] + '\n', FAILS)
  t.match(run.stderr.split('\n')[1], new RegExp(`^✗ tests: ${command.replaceAll('.', '\\.')} failed \\(exit 1\\): 1 failing test\\(s\\); nothing was stopped or changed \\(\\d\\.\\d s\\)$`))
  const named = at(run, 'not ok:')
  const ended = at(run, '✗ tests')
  t.ok(named > 0 && ended - named >= 1200, `named ${Math.round(ended - named)} ms before the step ended`)
})

t.test('tests: stop-on-failure ends the run at the first failing file, kills its whole process group, and says so', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-tests-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pids = path.join(dir, 'pids')
  const command = tapStream('pass:100', 'fail:200', 'pass:5000', 'pass:5000')
  const run = await runStep(['tests', '.', command], { env: { PIDFILE: pids } })
  t.equal(run.code, 1)
  t.equal(run.stdout, '')
  const [named, failed] = run.stderr.split('\n')
  t.equal(named + '\n', FAILS)
  t.match(failed, new RegExp(`^✗ tests: ${command.replaceAll('.', '\\.')} failed \\(stopped at the first failing file, test/b\\.test\\.ts, 2/4 files\\): 1 failing test\\(s\\); nothing was stopped or changed \\((\\d\\.\\d) s\\)$`))
  const took = Number(/\((\d\.\d) s\)$/.exec(failed ?? '')?.[1])
  t.ok(took < 3, `ended after ${took} s, not after the 10 s the other files would take`)
  const [stream, child] = fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number)
  t.ok(gone(stream ?? 0) && gone(child ?? 0), 'the test command and the process it started are gone')
})

t.test('tests: Ctrl-C during the run kills the tests and reports cleanly', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-tests-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pids = path.join(dir, 'pids')
  const command = tapStream('pass:100', 'pass:6000', 'pass:6000')
  const started = performance.now()
  const run = await runStep(['tests', '.', command], {
    env: { PIDFILE: pids, MISTER_TODO_PROGRESS_INTERVAL_S: '0.2' },
    // As a terminal does: SIGINT to the whole foreground process group.
    when: { output: /1\/3 files/, then: (pid) => process.kill(-pid, 'SIGINT') },
  })
  t.ok(performance.now() - started < 5000, 'the step ended at once, not after the tests')
  t.equal(run.code, 1)
  t.match(run.stderr, new RegExp(`^✗ tests: ${command.replaceAll('.', '\\.')} interrupted \\(Ctrl-C\\) after 1/3 files; nothing was stopped or changed \\(\\d\\.\\d s\\)\\n$`))
  const [stream, child] = fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number)
  t.ok(gone(stream ?? 0) && gone(child ?? 0), 'the test command and the process it started are gone')
})

t.test('tests: on a terminal the live line shows files and failing tests, and the ✗ line replaces it', async (t) => {
  const command = tapStream('pass:800', 'fail:800', 'pass:800')
  const run = await runStep(['tests', '.', command, '--no-stop'], { tty: { columns: 200 } })
  t.equal(run.code, 1)
  const seen = frames(run.stdout).map((f) => stripVTControlCharacters(f))
  t.match(seen.at(-1), /^✗ tests: .* failed \(exit 1\): 1 failing test\(s\); nothing was stopped or changed \(\d\.\d s\)\n$/)
  const named = seen.findIndex((f) => f.startsWith(FAILS))
  t.ok(named > 0, 'the failing name is printed while the step runs')
  t.ok(seen.slice(named + 1, -1).some((f) => /^ {2}tests {2}[23]\/3 files · 1 failing · 0:0\d$/.test(f)), 'then the line counts it')
  t.ok(seen.slice(0, named).some((f) => /^ {2}tests {2}1\/3 files · 0:0\d$/.test(f)), 'before, files done')
})

t.test('tests: with tap itself, the failing test is named and the run stops at its file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-tap-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.mkdirSync(path.join(dir, 'test'))
  fs.symlinkSync(path.resolve(import.meta.dirname, '..', 'node_modules'), path.join(dir, 'node_modules'))
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', tap: { 'disable-coverage': true, jobs: 1 } }))
  fs.writeFileSync(path.join(dir, 'test', 'a.test.mjs'), "import t from 'tap'\nt.test('sums: one and one', async (t) => { t.equal(1 + 1, 3, 'is three') })\n")
  fs.writeFileSync(path.join(dir, 'test', 'b.test.mjs'), "import t from 'tap'\nt.test('waits', async (t) => { await new Promise((r) => setTimeout(r, 20000)); t.pass() })\n")
  const run = await runStep(['tests', dir, 'node_modules/.bin/tap'])
  t.equal(run.code, 1)
  t.match(run.stderr, /^ {4}not ok: test\/a\.test\.mjs > sums: one and one > is three\n✗ tests: node_modules\/\.bin\/tap failed \(stopped at the first failing file, test\/a\.test\.mjs, 1\/2 files\): 1 failing test\(s\); nothing was stopped or changed \((\d+\.\d) s\)\n$/)
  t.ok(Number(/\((\d+\.\d) s\)\n$/.exec(run.stderr)?.[1]) < 20, 'it did not wait for the slow file')
})
