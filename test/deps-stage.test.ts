// ops/lib/deps.mjs on its own, stageDeps with the real npm on a package whose one dependency is a
// local tarball (no registry needed): installed beside the checkout, reused, redone when half-done,
// and a failing `npm ci` that names npm's reason and leaves nothing behind. The key: deps-lib.test.ts.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { depsKey, hasStaged, stageDeps } from '../ops/lib/deps.mjs'
import { pkg, repo } from './support/package-repo.js'

/** A tarball package `tinydep` in a temp folder, and package.json / lockfile texts that depend on it. */
function tinyDep (t: Test): { json: string, lock: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-tinydep-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.mkdirSync(path.join(dir, 'src', 'package'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'src', 'package', 'package.json'), JSON.stringify({ name: 'tinydep', version: '1.0.0' }))
  execFileSync('tar', ['czf', 'tinydep-1.0.0.tgz', '-C', 'src', 'package'], { cwd: dir })
  const spec = `file:${path.join(dir, 'tinydep-1.0.0.tgz')}`
  const dependencies = { tinydep: spec }
  return {
    json: pkg({ dependencies }),
    lock: JSON.stringify({ name: 'x', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'x', version: '1.0.0', dependencies }, 'node_modules/tinydep': { version: '1.0.0', resolved: spec } } }),
  }
}

const env = { npm_config_loglevel: 'error' }

t.test('deps: stageDeps installs a commit\'s dependencies beside the checkout, once; the next call reuses them', async (t) => {
  Object.assign(process.env, env)
  const r = repo(t)
  const { json, lock } = tinyDep(t)
  const c = r.commit({ 'package.json': json, 'package-lock.json': lock })
  const key = await depsKey(r.dir, c)
  const staged = await stageDeps(r.dir, c)
  const dir = path.join(r.dir, 'storage', 'deps', key)
  t.strictSame(staged, { key, modules: path.join(dir, 'node_modules'), reused: false })
  t.equal(fs.readFileSync(path.join(dir, 'node_modules', 'tinydep', 'package.json'), 'utf8'), '{"name":"tinydep","version":"1.0.0"}')
  t.equal(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'), json)
  t.equal(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'), lock)
  t.match(fs.readFileSync(path.join(dir, 'complete'), 'utf8'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$/)
  t.equal(fs.statSync(dir).mode & 0o777, 0o700, 'the folder is the owner\'s only')
  t.equal(fs.existsSync(path.join(r.dir, 'node_modules')), false, 'the checkout\'s own node_modules is not touched')
  const marker = path.join(dir, 'node_modules', 'tinydep', 'mark')
  fs.writeFileSync(marker, 'still here')
  t.strictSame(await stageDeps(r.dir, c), { key, modules: path.join(dir, 'node_modules'), reused: true })
  t.equal(fs.readFileSync(marker, 'utf8'), 'still here', 'reused, not reinstalled')
})

t.test('deps: an install that did not finish is thrown away and done again', async (t) => {
  Object.assign(process.env, env)
  const r = repo(t)
  const { json, lock } = tinyDep(t)
  const c = r.commit({ 'package.json': json, 'package-lock.json': lock })
  const key = await depsKey(r.dir, c)
  const dir = path.join(r.dir, 'storage', 'deps', key)
  fs.mkdirSync(path.join(dir, 'node_modules', 'half'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'leftover'), 'x')
  const staged = await stageDeps(r.dir, c)
  t.equal(staged.reused, false)
  t.same(fs.readdirSync(dir).sort(), ['complete', 'node_modules', 'package-lock.json', 'package.json'])
  t.same(fs.readdirSync(path.join(dir, 'node_modules')).filter((n) => !n.startsWith('.')), ['tinydep'])
})

t.test('deps: a commit without a lockfile is staged without one (npm ci then says why it cannot)', async (t) => {
  Object.assign(process.env, env)
  const r = repo(t)
  const c = r.commit({ 'package.json': pkg({}) })
  const key = await depsKey(r.dir, c)
  const err = await stageDeps(r.dir, c).then(() => null, (e: unknown) => e) as { message: string, step: string, hint: string } | null
  t.equal(err?.step, 'deps')
  t.equal(err?.message, `npm ci for ${c.slice(0, 7)} failed: The \`npm ci\` command can only install with an existing package-lock.json or; nothing was stopped or changed`, 'npm\'s first line of explanation, without its "npm error" prefix and code line')
  t.equal(fs.existsSync(path.join(r.dir, 'storage', 'deps', key)), false)
})

t.test('deps: a failing npm ci names npm\'s reason and the fix, and leaves no half-installed folder', async (t) => {
  Object.assign(process.env, env)
  const r = repo(t)
  const { lock } = tinyDep(t)
  const c = r.commit({ 'package.json': pkg({ dependencies: { other: '1.0.0' } }), 'package-lock.json': lock })
  const key = await depsKey(r.dir, c)
  const err = await stageDeps(r.dir, c).then(() => null, (e: unknown) => e) as { name: string, message: string, step: string, hint: string } | null
  t.equal(err?.name, 'OpsError')
  t.equal(err?.step, 'deps')
  t.equal(err?.message, `npm ci for ${c.slice(0, 7)} failed: \`npm ci\` can only install packages when your package.json and package-lock.json or npm-shrinkwrap.json are in sync. Please update your lock file with \`npm install\` before continuing.; nothing was stopped or changed`)
  t.equal(err?.hint, 'fix package.json / package-lock.json in the incoming commit (npm install, commit the lockfile)')
  t.equal(fs.existsSync(path.join(r.dir, 'storage', 'deps', key)), false, 'the folder is removed')
  t.equal(hasStaged(r.dir, key), false)
})

t.test('deps: stageDeps shows npm\'s phases on the progress it is given', async (t) => {
  Object.assign(process.env, env)
  const r = repo(t)
  const { json, lock } = tinyDep(t)
  const c = r.commit({ 'package.json': json, 'package-lock.json': lock })
  const updates: string[] = []
  const started = performance.now()
  const progress = { name: 'deps', update: (text: string) => { updates.push(text) }, log: () => {}, stop: () => {}, get elapsedMs () { return performance.now() - started } }
  const staged = await stageDeps(r.dir, c, { progress })
  t.equal(staged.reused, false)
  t.equal(updates[0], 'resolving the dependency tree', `the phases shown: ${updates.join(', ')}`)
})
