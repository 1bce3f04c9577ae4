// ops/lib/deps.mjs on its own, the quick half: the key of a commit's dependencies, read from a real
// small git repository, and what counts as staged. stageDeps with the real npm: deps-stage.test.ts.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { DEPS_DIR, depsKey, hasStaged } from '../ops/lib/deps.mjs'
import { pkg, repo } from './support/package-repo.js'

/** The key as deps.mjs documents it: sha256 of the lockfile, a NUL, and the dependency fields in their order. */
function expectedKey (lock: string, p: Record<string, unknown>): string {
  const fields = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'overrides', 'bundleDependencies'].map((f) => p[f] ?? null)
  return crypto.createHash('sha256').update(lock).update('\0').update(JSON.stringify(fields)).digest('hex').slice(0, 16)
}

t.test('deps: the key hashes the lockfile and the dependency fields of package.json, nothing else', async (t) => {
  const r = repo(t)
  const fields = { dependencies: { a: '1.0.0' }, devDependencies: { b: '2.0.0' } }
  const first = r.commit({ 'package.json': pkg(fields), 'package-lock.json': '{"lockfileVersion":3}' })
  const key = await depsKey(r.dir, first)
  t.equal(key, expectedKey('{"lockfileVersion":3}', fields))
  t.match(key, /^[0-9a-f]{16}$/)
  const scripts = r.commit({ 'package.json': pkg({ ...fields, scripts: { start: 'node x' }, description: 'changed' }), 'README.md': 'x' })
  t.equal(await depsKey(r.dir, scripts), key, 'scripts, description and other files do not change it')
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'overrides', 'bundleDependencies']) {
    const changed = r.commit({ 'package.json': pkg({ ...fields, [field]: { c: '3.0.0' } }) })
    t.not(await depsKey(r.dir, changed), key, `a change of ${field} changes it`)
  }
  const lock = r.commit({ 'package.json': pkg(fields), 'package-lock.json': '{"lockfileVersion":3,"x":1}' })
  t.not(await depsKey(r.dir, lock), key, 'a change of the lockfile changes it')
  t.equal(await depsKey(r.dir, first), key, 'an older commit is read from git, not from the work tree')
})

t.test('deps: the lockfile and the fields are hashed apart (a NUL between them)', async (t) => {
  const r = repo(t)
  const c = r.commit({ 'package.json': pkg({}), 'package-lock.json': 'L' })
  t.equal(await depsKey(r.dir, c), expectedKey('L', {}))
  const joined = crypto.createHash('sha256').update('L').update(JSON.stringify([null, null, null, null, null, null])).digest('hex').slice(0, 16)
  t.not(await depsKey(r.dir, c), joined)
})

t.test('deps: a commit without package-lock.json or with an unreadable package.json still has a key of its own', async (t) => {
  const r = repo(t)
  const none = r.commit({ 'other.txt': 'x' })
  t.equal(await depsKey(r.dir, none), expectedKey('', {}), 'no files: the empty lock and no fields')
  const broken = r.commit({ 'package.json': '{ not json' })
  const brokenKey = await depsKey(r.dir, broken)
  t.equal(brokenKey, expectedKey('', {}), 'an unreadable package.json has none of the fields either')
  const noLock = r.commit({ 'package.json': pkg({ dependencies: { a: '1.0.0' } }) })
  t.equal(await depsKey(r.dir, noLock), expectedKey('', { dependencies: { a: '1.0.0' } }))
})

t.test('deps: hasStaged needs both the finished mark and the node_modules folder', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-deps-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const at = path.join(dir, DEPS_DIR, 'k')
  t.equal(DEPS_DIR, path.join('storage', 'deps'))
  t.equal(hasStaged(dir, 'k'), false)
  fs.mkdirSync(path.join(at, 'node_modules'), { recursive: true })
  t.equal(hasStaged(dir, 'k'), false, 'node_modules without the mark: an install that did not finish')
  fs.writeFileSync(path.join(at, 'complete'), 'x')
  t.equal(hasStaged(dir, 'k'), true)
  fs.rmSync(path.join(at, 'node_modules'), { recursive: true })
  t.equal(hasStaged(dir, 'k'), false, 'the mark without node_modules')
})
