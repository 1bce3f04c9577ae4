// @ts-check
// Releases side by side: each deployed commit lives in releases/<stamp>-<sha7>/ (a git worktree of
// the checkout, git-ignored) with its own node_modules (a link to storage/deps/<key>/node_modules,
// shared by releases whose dependencies are the same), and releases/current names the one PM2 runs
// (bot/pm2-entry.mjs follows it). Nothing in a release directory changes once it runs; a rollback
// is a hand-over to a directory that is still on disk. Before the first deploy there is no
// releases/current and PM2 runs the checkout itself.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { OpsError } from './cli.mjs'
import { DEPS_DIR, depsKey, hasStaged, stageDeps } from './deps.mjs'
import { git, gitIn } from './git.mjs'
import { CODE_ROOT } from './paths.mjs'

export const RELEASES_DIR = path.join(CODE_ROOT, 'releases')
export const CURRENT_LINK = path.join(RELEASES_DIR, 'current')
export const KEEP_RELEASES = 5

/** @typedef {{ dir: string, name: string, commit: string }} Release */

/** The release PM2 runs: the directory releases/current points at, or the checkout itself. */
export function currentReleaseDir () {
  try {
    return fs.realpathSync(CURRENT_LINK)
  } catch {
    return CODE_ROOT
  }
}

/** The commit checked out in a release directory. @param {string} dir */
export async function commitOf (dir) {
  return git(dir, 'rev-parse', 'HEAD')
}

/** Release directories, oldest first (their names start with a UTC stamp). @returns {Release[]} */
export function listReleases () {
  if (!fs.existsSync(RELEASES_DIR)) return []
  return fs.readdirSync(RELEASES_DIR)
    .filter((name) => /^\d{8}-\d{6}-[0-9a-f]{7}$/.test(name))
    .sort()
    .map((name) => {
      const dir = path.join(RELEASES_DIR, name)
      let commit = ''
      try {
        commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
      } catch { /* a half-made directory: pruned like any other */ }
      return { dir, name, commit }
    })
}

/**
 * Makes sure `commit`'s dependencies are in storage/deps/<key>: reused when there, taken from the
 * checkout's node_modules when the checkout is at a commit with the same key (hard links: nothing
 * is copied, and npm replacing files in the checkout later does not change them), else npm ci.
 * @param {string} commit @param {{ progress?: import('./progress.mjs').Progress }} [o]
 * @returns {Promise<{ key: string, modules: string, how: 'reused' | 'linked' | 'installed' }>}
 */
export async function depsFor (commit, o = {}) {
  const key = await depsKey(CODE_ROOT, commit)
  const dir = path.join(CODE_ROOT, DEPS_DIR, key)
  const modules = path.join(dir, 'node_modules')
  if (hasStaged(CODE_ROOT, key)) return { key, modules, how: 'reused' }
  const live = path.join(CODE_ROOT, 'node_modules')
  const head = await git(CODE_ROOT, 'rev-parse', 'HEAD')
  if (fs.existsSync(live) && await depsKey(CODE_ROOT, head) === key) {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (fs.lstatSync(live).isSymbolicLink()) fs.symlinkSync(fs.realpathSync(live), modules)
    else execFileSync('cp', ['-al', live, modules])
    fs.writeFileSync(path.join(dir, 'complete'), new Date().toISOString() + '\n')
    return { key, modules, how: 'linked' }
  }
  o.progress?.update(`npm ci for ${commit.slice(0, 7)} in storage/deps`)
  const r = await stageDeps(CODE_ROOT, commit, o.progress === undefined ? {} : { progress: o.progress })
  return { key, modules: r.modules, how: 'installed' }
}

/** The release directory for `commit` that is on disk, newest first. @param {string} commit */
export function findRelease (commit) {
  return listReleases().reverse().find((r) => r.commit === commit) ?? null
}

/**
 * A release directory for `commit` with its dependencies: an existing one, or a new worktree.
 * @param {string} commit @param {{ progress?: import('./progress.mjs').Progress }} [o]
 * @returns {Promise<Release & { deps: string, created: boolean }>}
 */
export async function prepareRelease (commit, o = {}) {
  const deps = await depsFor(commit, o)
  const found = findRelease(commit)
  if (found !== null && fs.existsSync(path.join(found.dir, 'node_modules'))) return { ...found, deps: deps.how, created: false }
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')
  const name = `${stamp}-${commit.slice(0, 7)}`
  const dir = path.join(RELEASES_DIR, name)
  fs.mkdirSync(RELEASES_DIR, { recursive: true, mode: 0o755 })
  await git(CODE_ROOT, 'worktree', 'add', '--detach', '--force', dir, commit).catch((err) => {
    throw new OpsError('release', `git worktree add for ${commit.slice(0, 7)} failed: ${err.stderr?.trim() ?? err}`, { hint: 'git worktree list; git worktree prune' })
  })
  fs.rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true })
  fs.symlinkSync(deps.modules, path.join(dir, 'node_modules'))
  return { dir, name, commit, deps: deps.how, created: true }
}

/** Removes a release directory that does not run. @param {string} dir */
export async function removeRelease (dir) {
  if (dir === currentReleaseDir() || dir === CODE_ROOT) return
  await gitIn(CODE_ROOT)({ nothrow: true })`git worktree remove --force ${dir}`
  fs.rmSync(dir, { recursive: true, force: true })
  await gitIn(CODE_ROOT)({ nothrow: true })`git worktree prune`
}

/** Points releases/current at `dir` in one rename (never a moment without it). @param {string} dir */
export function pointCurrent (dir) {
  fs.mkdirSync(RELEASES_DIR, { recursive: true, mode: 0o755 })
  const tmp = `${CURRENT_LINK}.${process.pid}.tmp`
  fs.rmSync(tmp, { force: true })
  fs.symlinkSync(path.relative(RELEASES_DIR, dir) || '.', tmp)
  fs.renameSync(tmp, CURRENT_LINK)
}

/**
 * Keeps the newest `keep` releases (and any in `also`, e.g. the current and the previous one) and
 * the dependency folders they and the checkout use; removes the rest.
 * @param {{ keep?: number, also?: string[] }} [o] @returns {Promise<string[]>} the removed release names
 */
export async function pruneReleases (o = {}) {
  const keep = o.keep ?? KEEP_RELEASES
  const all = listReleases()
  const current = currentReleaseDir()
  const kept = new Set([...all.slice(-keep).map((r) => r.dir), current, ...(o.also ?? [])])
  const removed = []
  for (const r of all) {
    if (kept.has(r.dir)) continue
    await removeRelease(r.dir)
    removed.push(r.name)
  }
  const usedKeys = new Set()
  for (const r of listReleases()) {
    const link = path.join(r.dir, 'node_modules')
    const target = fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink() === true ? fs.readlinkSync(link) : ''
    const key = path.basename(path.dirname(target))
    if (key !== '') usedKeys.add(key)
  }
  usedKeys.add(await depsKey(CODE_ROOT, await git(CODE_ROOT, 'rev-parse', 'HEAD')))
  const depsRoot = path.join(CODE_ROOT, DEPS_DIR)
  for (const name of fs.existsSync(depsRoot) ? fs.readdirSync(depsRoot) : []) {
    if (!usedKeys.has(name)) fs.rmSync(path.join(depsRoot, name), { recursive: true, force: true })
  }
  return removed
}
