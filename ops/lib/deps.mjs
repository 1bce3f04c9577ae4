// @ts-check
// The dependencies of a commit, kept beside the live checkout so a deploy never installs while the
// bot is down: storage/deps/<key>/node_modules (git-ignored), where <key> hashes the commit's
// package-lock.json and the dependency fields of its package.json. The incoming commit's modules
// are installed there with `npm ci` before the stop; after the stop node_modules is swapped by two
// renames, and the running version's modules are parked under their own key, so a rollback swaps
// them back in the same way. The live node_modules is only ever renamed, never deleted.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { $ } from 'zx'
import { OpsError } from './cli.mjs'
import { git } from './git.mjs'

export const DEPS_DIR = path.join('storage', 'deps')
const DEP_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'overrides', 'bundleDependencies']

/** @param {string} cwd @param {string} commit @param {string} file */
async function showFile (cwd, commit, file) {
  return git(cwd, 'show', `${commit}:${file}`).catch(() => '')
}

/** What decides a commit's node_modules. @param {string} cwd @param {string} commit */
async function depsOf (cwd, commit) {
  const lock = await showFile(cwd, commit, 'package-lock.json')
  const pkgText = await showFile(cwd, commit, 'package.json')
  /** @type {Record<string, unknown>} */
  let pkg = {}
  try {
    pkg = JSON.parse(pkgText)
  } catch {
    pkg = { unreadable: pkgText }
  }
  const fields = JSON.stringify(DEP_FIELDS.map((f) => pkg[f] ?? null))
  return { lock, pkgText, key: crypto.createHash('sha256').update(lock).update('\0').update(fields).digest('hex').slice(0, 16) }
}

/** The folder that holds (or will hold) a commit's node_modules. @param {string} cwd @param {string} commit */
export async function depsKey (cwd, commit) {
  return (await depsOf(cwd, commit)).key
}

/** Do two commits need different node_modules? @param {string} cwd @param {string} from @param {string} to */
export async function depsDiffer (cwd, from, to) {
  return await depsKey(cwd, from) !== await depsKey(cwd, to)
}

/** @param {string} cwd @param {string} key */
function modulesFor (cwd, key) {
  return path.join(cwd, DEPS_DIR, key, 'node_modules')
}

/** A staged node_modules that finished installing. @param {string} cwd @param {string} key */
export function hasStaged (cwd, key) {
  return fs.existsSync(path.join(cwd, DEPS_DIR, key, 'complete')) && fs.existsSync(modulesFor(cwd, key))
}

/**
 * Installs `commit`'s dependencies with `npm ci` in storage/deps/<key> (reused when already there);
 * the running bot's node_modules is not touched. Returns the staged node_modules folder.
 * @param {string} cwd @param {string} commit @returns {Promise<{ key: string, modules: string, reused: boolean }>}
 */
export async function stageDeps (cwd, commit) {
  const { lock, pkgText, key } = await depsOf(cwd, commit)
  const dir = path.join(cwd, DEPS_DIR, key)
  if (hasStaged(cwd, key)) return { key, modules: modulesFor(cwd, key), reused: true }
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.writeFileSync(path.join(dir, 'package.json'), pkgText)
  if (lock !== '') fs.writeFileSync(path.join(dir, 'package-lock.json'), lock)
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const out = await $({ cwd: dir, env, quiet: true, nothrow: true })`npm ci --no-audit --no-fund`
  if (out.exitCode !== 0) {
    const why = out.stderr.split('\n').map((l) => l.replace(/^npm (error|ERR!)\s*/, '').trim()).find((l) => l !== '' && !/^code E|Unknown user config/.test(l)) ?? `exit ${out.exitCode}`
    fs.rmSync(dir, { recursive: true, force: true })
    throw new OpsError('deps', `npm ci for ${commit.slice(0, 7)} failed: ${why}; nothing was stopped or changed`, { hint: 'fix package.json / package-lock.json in the incoming commit (npm install, commit the lockfile)' })
  }
  fs.writeFileSync(path.join(dir, 'complete'), new Date().toISOString() + '\n')
  return { key, modules: modulesFor(cwd, key), reused: false }
}

/**
 * Puts the staged node_modules of `toKey` in place and parks the live one under `fromKey`.
 * @param {string} cwd @param {string} fromKey @param {string} toKey
 */
export function swapDeps (cwd, fromKey, toKey) {
  const live = path.join(cwd, 'node_modules')
  const incoming = modulesFor(cwd, toKey)
  if (!hasStaged(cwd, toKey)) throw new OpsError('deps', `no staged node_modules for ${toKey}`, { hint: 'rerun the deploy (it installs them before the stop)' })
  const parked = modulesFor(cwd, fromKey)
  fs.mkdirSync(path.dirname(parked), { recursive: true, mode: 0o700 })
  // A leftover parked copy is older than the live one: the live one wins.
  if (fs.lstatSync(live, { throwIfNoEntry: false }) !== undefined) {
    fs.rmSync(parked, { recursive: true, force: true })
    fs.renameSync(live, parked)
    fs.writeFileSync(path.join(path.dirname(parked), 'complete'), new Date().toISOString() + '\n')
  }
  fs.renameSync(incoming, live)
  fs.rmSync(path.join(cwd, DEPS_DIR, toKey), { recursive: true, force: true })
}

/** Removes staged folders other than `keep` (the versions a rollback may need). @param {string} cwd @param {string[]} keep */
export function pruneDeps (cwd, keep) {
  const root = path.join(cwd, DEPS_DIR)
  for (const name of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    if (!keep.includes(name)) fs.rmSync(path.join(root, name), { recursive: true, force: true })
  }
}
