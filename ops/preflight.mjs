// @ts-check
// ops/preflight.mjs: the checks deploy runs before anything is stopped; also runs alone.
//
// The live checkout is clean (data folders are git-ignored) and on the deploy branch (a checkout
// left detached by a rollback is put back on the branch when the branch contains it); `git fetch`;
// the incoming commits are listed; "already up to date" is success; a diverged branch is refused.
// The incoming commit is checked out in a temp worktree and .env (plus the environment, which wins)
// is validated with the INCOMING bot/config.ts; the token is asked with getMe unless --offline;
// free disk space is checked; a .env readable by others is a warning.
//
// When: before a deploy, to see what it would do; deploy runs it first.
//
// Usage: npx zx ops/preflight.mjs [flags]
//   --branch <remote/branch>   what to deploy (default origin/main)
//   --offline                  do not ask Telegram getMe
//   --help                     this text
import fs from 'node:fs'
import path from 'node:path'
import { TelegramApiError } from 'node-telegram-bot-api'
import { $ } from './lib/shell.mjs'
import { freeBytes } from './lib/backups.mjs'
import { isMain, ok, OpsError, parseFlags, reporter, runMain, scriptArgs, warn } from './lib/cli.mjs'
import { formatBytes } from './lib/format.mjs'
import { addWorktree, commitsBetween, currentBranch, dirtyFiles, git, headCommit, isAncestor, splitRemoteBranch } from './lib/git.mjs'
import { CODE_ROOT, resolvePaths } from './lib/paths.mjs'
import { botEnvironment } from './lib/settings.mjs'
import { databaseBytes } from './lib/sqlite.mjs'
import { botApi, unreachableReason } from './lib/telegram.mjs'

export const DEFAULT_BRANCH = 'origin/main'
/** Below this much free space (besides room for two copies of the DB) a deploy is refused. */
export const MIN_FREE_BYTES = 50_000_000

/**
 * @typedef {{ cwd?: string, env?: NodeJS.ProcessEnv, branch?: string, offline?: boolean, dryRun?: boolean, keepWorktree?: boolean, quiet?: boolean }} PreflightOptions
 * @typedef {{
 *   from: string, to: string, upToDate: boolean, commits: string[], remote: string, branch: string,
 *   worktree: { dir: string, remove: () => Promise<void> } | null, botEnv: NodeJS.ProcessEnv, botName: string | null
 * }} PreflightResult
 */

export { botEnvironment }

/**
 * Validates an environment with the bot/config.ts of another checkout (the incoming commit).
 * @param {string} dir @param {NodeJS.ProcessEnv} env @returns {Promise<string[]>} problems
 */
export async function validateWith (dir, env) {
  const code = "const { checkEnvironment } = await import(process.argv[1]); process.stdout.write(JSON.stringify(checkEnvironment(process.env).problems))"
  const childEnv = { ...env }
  delete childEnv.NODE_OPTIONS
  const out = await $({ cwd: dir, env: childEnv, quiet: true, nothrow: true })`node --import tsx --input-type=module -e ${code} ${path.join(dir, 'bot', 'config.ts')}`
  if (out.exitCode !== 0) return [`bot/config.ts of the incoming commit does not load: ${out.stderr.trim().split('\n').slice(-1)[0] ?? ''}`]
  return JSON.parse(out.stdout)
}

/** getMe with the token, one try of at most 10 s; the token never appears in the error. @param {NodeJS.ProcessEnv} env */
export async function checkToken (env) {
  const { api, apiRoot } = await botApi(env, { timeoutMs: 10_000, maxRetries: 0 })
  try {
    return (await api.getMe()).username ?? null
  } catch (err) {
    if (err instanceof TelegramApiError) throw new OpsError('env', `Telegram refuses TELEGRAM_BOT_TOKEN (${err.errorCode} ${err.description}): the token is wrong or revoked`, { hint: 'copy the token again from @BotFather into .env' })
    throw new OpsError('env', `cannot reach ${apiRoot} for getMe: ${unreachableReason(err)}`, { hint: 'check the network, or rerun with --offline' })
  }
}

/** @param {PreflightOptions} [options] @returns {Promise<PreflightResult>} */
export async function preflight (options = {}) {
  const cwd = options.cwd ?? CODE_ROOT
  const env = options.env ?? process.env
  const paths = resolvePaths({ env })
  const say = reporter(options.quiet)
  const { remote, branch } = splitRemoteBranch(options.branch ?? DEFAULT_BRANCH)

  // The live checkout: clean, on the branch.
  const dirty = await dirtyFiles(cwd)
  if (dirty.length > 0) throw new OpsError('preflight', `the live checkout has uncommitted changes: ${dirty.slice(0, 5).map((l) => l.slice(3)).join(', ')}${dirty.length > 5 ? ', …' : ''}`, { hint: 'git status; commit or git stash them (data folders are ignored)' })
  const onBranch = await currentBranch(cwd)
  if (onBranch !== branch) {
    const head = await headCommit(cwd)
    if (onBranch === null && await isAncestor(cwd, head, branch)) {
      // Left detached by a rollback. Nothing moves before the stop: the switch step puts the
      // checkout back on the branch, so HEAD keeps naming the code that runs until then.
      say.warn('preflight', `HEAD is detached at ${head.slice(0, 7)} (after a rollback); the switch step will put it back on ${branch}, which contains it`)
    } else {
      throw new OpsError('preflight', onBranch === null ? `HEAD is detached at ${head.slice(0, 7)} and ${branch} does not contain it` : `the live checkout is on ${onBranch}, not ${branch}`, { hint: `git checkout ${branch}` })
    }
  }

  // What is incoming.
  await git(cwd, 'fetch', '--quiet', remote, branch).catch((err) => {
    throw new OpsError('preflight', `git fetch ${remote} ${branch} failed: ${err.stderr?.trim() ?? err}`, { hint: `git fetch ${remote}` })
  })
  const from = await git(cwd, 'rev-parse', 'HEAD')
  const to = await git(cwd, 'rev-parse', `${remote}/${branch}`)
  const upToDate = from === to || await isAncestor(cwd, to, from)
  if (upToDate) {
    say.ok('preflight', `already up to date at ${from.slice(0, 7)} (${remote}/${branch})`)
    return { from, to: from, upToDate, commits: [], remote, branch, worktree: null, botEnv: env, botName: null }
  }
  if (!await isAncestor(cwd, from, to) || !await isAncestor(cwd, branch, to)) throw new OpsError('preflight', `${branch} and ${remote}/${branch} have diverged: a fast-forward is not possible`, { hint: `git log --oneline --graph ${branch} ${remote}/${branch}` })
  const commits = await commitsBetween(cwd, from, to)
  say.info(`  incoming ${commits.length} commit(s) ${from.slice(0, 7)} → ${to.slice(0, 7)}:`)
  for (const c of commits) say.info(`    ${c}`)

  // .env, checked by the incoming code.
  const worktree = await addWorktree(cwd, to)
  let botName = null
  try {
    ({ botName } = await checkConfiguration({ dir: worktree.dir, root: paths.root, env, offline: options.offline, label: to.slice(0, 7), quiet: options.quiet, incoming: true }))

    // Disk: two copies of the database (backup + rehearsal) and some room.
    const needed = 2 * databaseBytes(paths.databaseFile) + MIN_FREE_BYTES
    const free = freeBytes(paths.backupsDir, env)
    if (free < needed) throw new OpsError('disk', `${formatBytes(free)} free, ${formatBytes(needed)} needed for the backups`, { hint: `df -h ${paths.storageDir}` })
    say.ok('disk', `${formatBytes(free)} free`)
  } catch (err) {
    await worktree.remove()
    throw err
  }
  if (options.keepWorktree !== true) await worktree.remove()
  return { from, to, upToDate, commits, remote, branch, worktree: options.keepWorktree === true ? worktree : null, botEnv: botEnvironment(paths.root, env), botName }
}

/**
 * .env (plus the environment, which wins) validated by the bot/config.ts in `dir`; the token asked
 * with getMe unless offline; a warning when .env is readable by group or others.
 * @param {{ dir: string, root: string, env: NodeJS.ProcessEnv, offline?: boolean, label: string, quiet?: boolean, incoming?: boolean }} o
 * @returns {Promise<{ botName: string | null }>}
 */
export async function checkConfiguration (o) {
  const say = reporter(o.quiet)
  const dotEnv = path.join(o.root, '.env')
  const stat = fs.statSync(dotEnv, { throwIfNoEntry: false })
  if (stat !== undefined && (stat.mode & 0o077) !== 0) say.warn('preflight', `.env is readable by others: chmod 600 ${dotEnv}`)
  const botEnv = botEnvironment(o.root, o.env)
  const problems = await validateWith(o.dir, botEnv)
  if (problems.length > 0) {
    const missing = stat === undefined ? `there is no .env at ${dotEnv} and ` : ''
    throw new OpsError('env', `${missing}the ${o.incoming === true ? 'incoming version' : 'bot'} rejects the configuration: ${problems.join('; ')}`, { hint: `${stat === undefined ? 'cp .env.example .env, fill it in' : 'fix .env'}, then run: npx zx ops/preflight.mjs` })
  }
  const botName = o.offline === true ? null : await checkToken(botEnv)
  say.ok('env', `.env valid for ${o.label}${botName === null ? ' (token not checked: --offline)' : `, token works (@${botName})`}`)
  return { botName }
}

async function main () {
  const flags = parseFlags('preflight', scriptArgs(), { branch: { type: 'string' }, offline: { type: 'boolean' } }, import.meta.url)
  if (flags === null) return
  const offline = flags.values.offline === true
  const result = await preflight({ branch: typeof flags.values.branch === 'string' ? flags.values.branch : DEFAULT_BRANCH, offline })
  if (!result.upToDate) {
    ok('preflight', `ready to deploy ${result.commits.length} commit(s): npx zx ops/deploy.mjs`)
    return
  }
  // Nothing incoming: the running code's own check of .env is still worth having.
  await checkConfiguration({ dir: CODE_ROOT, root: resolvePaths().root, env: process.env, offline, label: result.from.slice(0, 7) })
  warn('preflight', 'nothing to deploy')
}

if (isMain(import.meta.url)) await runMain('preflight', main)
