// @ts-check
// The git questions and moves of deploy and rollback, always in one checkout (cwd): state of the
// tree, fetch, what is incoming, fast-forward, checkout, and a throwaway worktree of a commit.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { $ } from './shell.mjs'

/** @param {string} cwd */
export function gitIn (cwd) {
  return $({ cwd, quiet: true, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })
}

/** @param {string} cwd @param {string[]} args @returns {Promise<string>} */
export async function git (cwd, ...args) {
  return (await gitIn(cwd)`git ${args}`).stdout.trim()
}

/** @param {string} cwd @param {string[]} args @returns {Promise<boolean>} exit code 0 */
export async function gitOk (cwd, ...args) {
  return (await gitIn(cwd)({ nothrow: true })`git ${args}`).exitCode === 0
}

/** @param {string} cwd */
export async function headCommit (cwd) {
  return git(cwd, 'rev-parse', 'HEAD')
}

/** The branch checked out, or null when HEAD is detached. @param {string} cwd */
export async function currentBranch (cwd) {
  const out = await gitIn(cwd)({ nothrow: true })`git symbolic-ref --quiet --short HEAD`
  return out.exitCode === 0 ? out.stdout.trim() : null
}

/** Changed or untracked files (ignored ones, the data folders, do not count). @param {string} cwd */
export async function dirtyFiles (cwd) {
  const out = await git(cwd, 'status', '--porcelain')
  return out === '' ? [] : out.split('\n')
}

/** Commits in `to` not in `from`, newest first: "<sha7> <subject>". @param {string} cwd @param {string} from @param {string} to */
export async function commitsBetween (cwd, from, to) {
  const out = await git(cwd, 'log', '--format=%h %s', `${from}..${to}`)
  return out === '' ? [] : out.split('\n')
}

/** @param {string} cwd @param {string} ancestor @param {string} commit */
export async function isAncestor (cwd, ancestor, commit) {
  return gitOk(cwd, 'merge-base', '--is-ancestor', ancestor, commit)
}

/** Files changed between two commits under a path. @param {string} cwd @param {string} from @param {string} to @param {string} pathspec */
export async function changedFiles (cwd, from, to, pathspec) {
  const out = await git(cwd, 'diff', '--name-only', from, to, '--', pathspec)
  return out === '' ? [] : out.split('\n')
}

/** Names of the migration files a commit has (storage/migrations/*.ts|js). @param {string} cwd @param {string} commit */
export async function migrationsAt (cwd, commit) {
  const out = await git(cwd, 'ls-tree', '--name-only', `${commit}:storage/migrations`)
  return out === '' ? [] : out.split('\n').filter((n) => /\.(ts|js|mjs)$/.test(n))
}

/**
 * A detached worktree of `commit` in a temp folder with node_modules linked from the checkout.
 * @param {string} cwd @param {string} commit @returns {Promise<{ dir: string, remove: () => Promise<void> }>}
 */
export async function addWorktree (cwd, commit) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-incoming-'))
  await git(cwd, 'worktree', 'add', '--detach', '--force', dir, commit)
  const modules = path.join(cwd, 'node_modules')
  if (fs.existsSync(modules) && !fs.existsSync(path.join(dir, 'node_modules'))) fs.symlinkSync(fs.realpathSync(modules), path.join(dir, 'node_modules'))
  return {
    dir,
    remove: async () => {
      await gitIn(cwd)({ nothrow: true })`git worktree remove --force ${dir}`
      fs.rmSync(dir, { recursive: true, force: true })
      await gitIn(cwd)({ nothrow: true })`git worktree prune`
    },
  }
}

/** "origin/main" → { remote: 'origin', branch: 'main' }. @param {string} spec */
export function splitRemoteBranch (spec) {
  const slash = spec.indexOf('/')
  return slash < 0 ? { remote: 'origin', branch: spec } : { remote: spec.slice(0, slash), branch: spec.slice(slash + 1) }
}
