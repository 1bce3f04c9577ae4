// @ts-check
// The dependencies of a commit, kept beside the live checkout: storage/deps/<key>/node_modules
// (git-ignored), where <key> hashes the commit's package-lock.json and the dependency fields of its
// package.json. A release directory links its node_modules there (ops/lib/release-dirs.mjs), so
// releases with the same dependencies share one copy and a rollback never reinstalls while the
// folder of an older release is kept. `npm ci` runs there before any hand-over.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { npmCi } from './npm-progress.mjs'
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
 * `progress` shows npm's phases (resolving, fetching, building better-sqlite3) while it runs.
 * @param {string} cwd @param {string} commit @param {{ progress?: import('./progress.mjs').Progress }} [options]
 * @returns {Promise<{ key: string, modules: string, reused: boolean }>}
 */
export async function stageDeps (cwd, commit, options = {}) {
  const { lock, pkgText, key } = await depsOf(cwd, commit)
  const dir = path.join(cwd, DEPS_DIR, key)
  if (hasStaged(cwd, key)) return { key, modules: modulesFor(cwd, key), reused: true }
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.writeFileSync(path.join(dir, 'package.json'), pkgText)
  if (lock !== '') fs.writeFileSync(path.join(dir, 'package-lock.json'), lock)
  const out = await npmCi(dir, options.progress === undefined ? {} : { progress: options.progress })
  if (out.exitCode !== 0) {
    const why = out.stderr.split('\n').map((l) => l.replace(/^npm (error|ERR!)\s*/, '').trim()).find((l) => l !== '' && !/^code E|Unknown user config/.test(l)) ?? `exit ${out.exitCode}`
    fs.rmSync(dir, { recursive: true, force: true })
    throw new OpsError('deps', `npm ci for ${commit.slice(0, 7)} failed: ${why}; nothing was stopped or changed`, { hint: 'fix package.json / package-lock.json in the incoming commit (npm install, commit the lockfile)' })
  }
  fs.writeFileSync(path.join(dir, 'complete'), new Date().toISOString() + '\n')
  return { key, modules: modulesFor(cwd, key), reused: false }
}


