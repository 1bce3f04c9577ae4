// ops/lib/npm-progress.mjs: npm ci shown by its phases — with the real npm on a package whose
// install script takes a while, and with a stand-in on PATH that fetches, builds, fails, or is
// interrupted by Ctrl-C.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import t from 'tap'
import { lockedPackageCount, npmCi } from '../ops/lib/npm-progress.mjs'
import { FIXTURES, frames, gone, runStep } from './support/step-run.js'
import { waitUntil } from './support/wait.js'

type Dir = { dir: string, env: Record<string, string> }

/** A project folder with a lockfile of three packages (and one for another platform), and the stand-in npm first on PATH. */
function standIn (t: { teardown: (fn: () => void) => void }): Dir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-npm-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.mkdirSync(path.join(dir, 'bin'))
  fs.writeFileSync(path.join(dir, 'bin', 'npm'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(FIXTURES, 'fake-npm.mjs'))} "$@"\n`, { mode: 0o755 })
  const packages = {
    '': { name: 'x', version: '1.0.0' },
    'node_modules/a': { version: '1.0.0' },
    'node_modules/b': { version: '1.0.0' },
    'node_modules/better-sqlite3': { version: '12.11.1', hasInstallScript: true },
    'node_modules/@esbuild/win32-x64': { version: '0.28.2', optional: true, os: ['win32'], cpu: ['x64'] },
  }
  fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'x', lockfileVersion: 3, packages }))
  return { dir, env: { PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}`, NODE_OPTIONS: '--no-warnings' } }
}

t.test('npm ci: the real npm on a package whose install script runs a while shows resolving, then building it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-npm-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.mkdirSync(path.join(dir, 'src', 'package'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'src', 'package', 'package.json'), JSON.stringify({ name: 'slowdep', version: '1.0.0', scripts: { install: 'node -e "setTimeout(() => {}, 1500)"' } }))
  const { execFileSync } = await import('node:child_process')
  execFileSync('tar', ['czf', 'slowdep-1.0.0.tgz', '-C', 'src', 'package'], { cwd: dir })
  const dependencies = { slowdep: 'file:slowdep-1.0.0.tgz' }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'x', version: '1.0.0', private: true, dependencies }))
  fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'x', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'x', version: '1.0.0', dependencies }, 'node_modules/slowdep': { version: '1.0.0', resolved: 'file:slowdep-1.0.0.tgz', hasInstallScript: true } } }))
  const run = await runStep(['npm', dir], { env: { MISTER_TODO_PROGRESS_INTERVAL_S: '0.3', npm_config_loglevel: 'error' } })
  t.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trimEnd().split('\n')
  t.match(lines.pop(), /^✓ npm {2}npm ci: resolving \d\.\d s, (fetching 1 package \d\.\d s, )?building slowdep [12]\.\d s \(\d\.\d s\)$/, 'the ✓ line says where the time went')
  t.ok(lines.some((l) => /^ {2}install {2}building slowdep \(install script\) · 0:0\d$/.test(l)), 'the install script shows while it runs')
  t.same([...new Set(lines.map((l) => l.replace(/ · 0:\d\d$/, '').replace(/ · \d+\/1 \(\d+ %\)$/, '')))].filter((l) => !l.includes('fetching')), ['  install  resolving the dependency tree', '  install  building slowdep (install script)'].filter((l) => lines.some((x) => x.startsWith(l))), 'phases in order')
  t.ok(fs.existsSync(path.join(dir, 'node_modules', 'slowdep', 'package.json')), 'installed')
})

t.test('npm ci: on a terminal the line goes through fetching n/m packages and building better-sqlite3, then the ✓ line', async (t) => {
  const box = standIn(t)
  t.equal(lockedPackageCount(box.dir), 3, 'the other platform\'s optional package is not counted')
  const run = await runStep(['npm', box.dir], { tty: { columns: 120 }, env: box.env, cwd: box.dir })
  t.equal(run.code, 0, run.stdout)
  const seen = frames(run.stdout).map((f) => stripVTControlCharacters(f))
  t.match(seen.pop(), /^✓ npm {2}npm ci: resolving \d\.\d s, fetching 3 packages \d\.\d s, building better-sqlite3 \d\.\d s \(\d\.\d s\)\n$/)
  const phases = [...new Set(seen.map((f) => f.replace(/ · 0:0\d$/, '')))]
  const canonical = [
    '  install  resolving the dependency tree',
    '  install  fetching packages · 1/3 (33 %)',
    '  install  fetching packages · 2/3 (66 %)',
    '  install  fetching packages · 3/3 (100 %)',
    '  install  building better-sqlite3 (install script)',
  ]
  t.same(phases, canonical.filter((p) => phases.includes(p)), 'only these lines, in this order')
  // The line first shows after 300 ms, so on a busy machine the quick resolving phase may be over by then.
  t.ok(phases.includes(canonical[4] ?? '') && phases.some((p) => p.includes('fetching')), `fetching and building show (${phases.length} of 5 states caught)`)
  t.equal(fs.readFileSync(path.join(box.dir, 'npm-args'), 'utf8').split('\n')[0], 'ci --no-audit --no-fund --loglevel=info', 'npm ci as deps.mjs runs it, with npm\'s info log to read')
})

t.test('npm ci: a failing npm ci gives back its error lines, not its info log, and npm runs without NODE_OPTIONS', async (t) => {
  const box = standIn(t)
  const out = await npmCi(box.dir, { env: { ...process.env, ...box.env, FAKE_NPM: 'fail' } })
  t.match(out, { exitCode: 1, signal: null, stdout: '', interrupted: false, stderr: 'npm error code ETARGET\nnpm error notarget No matching version found for zod@^99.0.0.\n' })
  t.same(out.phases.map((p) => p.phase), ['resolving'])
  // (tap's process-info hook puts its own NODE_OPTIONS back into every child; ours must be gone.)
  t.notMatch(fs.readFileSync(path.join(box.dir, 'npm-args'), 'utf8'), /--no-warnings/, 'the caller\'s NODE_OPTIONS do not reach npm')
})

t.test('npm ci: Ctrl-C while it builds ends npm and what it started, and says it was interrupted', async (t) => {
  const box = standIn(t)
  const pids = path.join(box.dir, 'pids')
  const started = performance.now()
  const run = await runStep(['npm', box.dir], {
    env: { ...box.env, FAKE_NPM_PIDS: pids, MISTER_TODO_PROGRESS_INTERVAL_S: '0.1' },
    cwd: box.dir,
    when: { output: /building better-sqlite3/, then: (pid) => process.kill(-pid, 'SIGINT') },
  })
  t.ok(performance.now() - started < 5000)
  t.equal(run.code, 1)
  t.match(run.stderr, /^✗ npm: npm ci failed \(interrupted\), stderr "interrupted \(Ctrl-C\)\\n" \(\d\.\d s\)\n$/)
  const [npm, child] = fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number)
  // Killed, they may take a moment to be reaped: wait for it, bounded (CI saw one still there).
  const bothGone = await waitUntil(() => gone(npm ?? 0) && gone(child ?? 0), { what: 'npm and its child gone', timeoutMs: 3000 }).catch(() => false)
  t.ok(bothGone, 'npm and its child are gone')
})
