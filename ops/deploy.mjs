// @ts-check
// ops/deploy.mjs: the deploy checklist, one step after another; stops at the first failure and,
// once the bot has been stopped, rolls back by itself.
//
// Lock → preflight (clean checkout, fetch, fast-forward only, .env valid for the incoming code,
// token, disk) → npm ci of the incoming dependencies in storage/deps if they changed → tests of the
// incoming commit (in a temp worktree) → backup and a rehearsal of the incoming migrations on a
// copy → plan and "Proceed? [y/N]" → [announce] → stop (pm2) → final backup (what a rollback
// restores) → switch code (ff-only) → swap in the staged node_modules (rename) → migrate → start (waits for ready) → watch the log → verify (health, version, integrity,
// row counts) → journal (storage/deploys.jsonl) → a notice to the owner's chat. A failure after
// the stop, or Ctrl-C, restores the previous code and data, starts it, verifies it and marks the
// release bad.
//
// When: to put what origin/main holds into production.
//
// Usage: npx zx ops/deploy.mjs [flags]
//   --yes                    do not ask (also: roll back without asking if the deploy fails)
//   --dry-run                run the checks, print the plan and the commands, change nothing
//   --branch <remote/branch> what to deploy (default origin/main); --remote <name> sets the remote
//   --test-command "<cmd>"   the incoming tests (default: $DEPLOY_TEST_COMMAND or "npm test")
//   --skip-tests             skip the tests (asks; recorded in the journal)
//   --watch <seconds>        follow the log after the start (default 20)
//   --ready-timeout <s>      how long the new version may take to signal ready (default 30)
//   --offline                do not ask Telegram getMe
//   --announce [text]        send a maintenance notice to the allowed users' chats before the stop
//   --force-unlock           clear a stale storage/deploy.lock first (never a live one)
//   --history                print the journal of deploys and rollbacks
//   --help                   this text
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { backup, DEFAULT_KEEP } from './backup.mjs'
import { migrateLatest, rehearse } from './migrate.mjs'
import { DEFAULT_BRANCH, preflight } from './preflight.mjs'
import { confirm, info, intFlag, isMain, ok, OpsError, parseFlags, refuseWithoutTerminal, runMain, scriptArgs, warn } from './lib/cli.mjs'
import { DEPS_DIR, depsDiffer, depsKey, pruneDeps, stageDeps } from './lib/deps.mjs'
import { headCommit } from './lib/git.mjs'
import { acquireLock } from './lib/lock.mjs'
import { declaredDataChange } from './lib/migrations.mjs'
import { CODE_ROOT, resolvePaths, shown } from './lib/paths.mjs'
import { appendRelease, historyTable, newId, readReleases, who } from './lib/releases.mjs'
import { announce, notifyOwner } from './lib/notices.mjs'
import { createRunner, DEFAULT_READY_S, formatMs, installDeps, logOffset, preparePm2Stop, releasePm2, reported, runTests, startBot, stopBot, switchCode, verifyBot, watchBot } from './lib/steps.mjs'
import { rollBack } from './rollback.mjs'

export const DEFAULT_WATCH_S = 20

const FLAGS = /** @type {const} */ ({
  yes: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, branch: { type: 'string' }, remote: { type: 'string' },
  'test-command': { type: 'string' }, 'skip-tests': { type: 'boolean' }, watch: { type: 'string' }, offline: { type: 'boolean' },
  announce: { type: 'string' }, 'force-unlock': { type: 'boolean' }, history: { type: 'boolean' }, 'ready-timeout': { type: 'string' },
})

function ignoreSignal () {}

/**
 * Takes storage/deploy.lock; a refusal (held, or stale) is recorded in the journal too.
 * @param {import('./lib/paths.mjs').Paths} paths @param {boolean} dryRun @param {boolean} force
 */
function lockOrRecord (paths, dryRun, force) {
  try {
    return acquireLock(paths.storageDir + '/deploy.lock', `ops/deploy.mjs ${scriptArgs().join(' ')}`.trim(), { force, rerun: 'npx zx ops/deploy.mjs' })
  } catch (err) {
    const now = new Date().toISOString()
    if (!dryRun) appendRelease(paths.journalFile, { id: newId(), kind: 'deploy', start: now, end: now, from: null, to: null, backup: null, migrations: [], steps: [], outcome: 'failed', reason: err instanceof Error ? err.message : String(err), who: who() })
    throw err
  }
}

/**
 * A backup that could not be written (disk full, a file-size limit, an I/O error) says so in words
 * the operator can act on; SQLite reports all of these as an I/O error.
 * @param {unknown} err @returns {never}
 */
function explainWriteError (err) {
  const code = String(/** @type {{ code?: unknown }} */ (err)?.code ?? '')
  if (err instanceof OpsError || !/^(SQLITE_IOERR|SQLITE_FULL|ENOSPC|EFBIG|EDQUOT)/.test(code)) throw err
  throw new OpsError('backup', `the backup could not be written (${code}: ${err instanceof Error ? err.message : String(err)}): the disk may be full or a file-size limit reached`, { hint: 'df -h storage/backups; ulimit -f', cause: err })
}

/** `--announce` may come without its text: give it an empty one (the default notice). @param {string[]} args */
function withAnnounceText (args) {
  return args.flatMap((a, i) => a === '--announce' && (args[i + 1] === undefined || args[i + 1]?.startsWith('--')) ? [a, ''] : [a])
}

async function main () {
  const flags = parseFlags('deploy', withAnnounceText(scriptArgs()), FLAGS, import.meta.url)
  if (flags === null) return
  const v = flags.values
  const paths = resolvePaths()
  if (v.history === true) return info(historyTable(readReleases(paths.journalFile)))
  const yes = v.yes === true
  const dryRun = v['dry-run'] === true
  const watchS = intFlag('deploy', v.watch, '--watch', 0) ?? DEFAULT_WATCH_S
  const readyS = intFlag('deploy', v['ready-timeout'], '--ready-timeout', 1) ?? DEFAULT_READY_S
  const branchFlag = typeof v.branch === 'string' ? v.branch : DEFAULT_BRANCH
  const branch = typeof v.remote === 'string' ? `${v.remote}/${branchFlag.split('/').slice(-1)[0]}` : branchFlag
  const testCommand = typeof v['test-command'] === 'string' ? v['test-command'] : (process.env.DEPLOY_TEST_COMMAND?.trim() || 'npm test')
  refuseWithoutTerminal('deploy', 'deploy', { yes, dryRun })

  const lock = lockOrRecord(paths, dryRun, v['force-unlock'] === true)
  if (lock.cleared !== null) warn('lock', `cleared a stale lock of pid ${lock.cleared?.pid ?? '?'} (--force-unlock)`)
  // Ctrl-C: the step in hand finishes, no further deploy step starts, and the rollback (which a
  // second Ctrl-C does not interrupt) brings the old version back if the bot was stopped.
  let interrupted = false
  let rollingBack = false
  const onSigint = () => {
    if (!interrupted) warn('deploy', 'Ctrl-C: finishing the step in hand, then leaving a consistent state')
    interrupted = true
  }
  process.on('SIGINT', onSigint)
  // A file-size limit (ulimit -f) must fail the write with EFBIG, not kill the deploy half-way: a
  // listener of our own keeps signal-exit (loaded by our dependencies) from re-raising SIGXFSZ.
  process.on('SIGXFSZ', ignoreSignal)
  const run = createRunner({ interrupted: () => interrupted && !rollingBack })
  /** @type {import('./lib/releases.mjs').Release} */
  const record = { id: newId(), kind: 'deploy', start: new Date().toISOString(), from: null, to: null, backup: null, migrations: [], steps: run.steps, outcome: 'failed', reason: null, who: who() }
  /** @type {Awaited<ReturnType<typeof preflight>> | null} */
  let pf = null
  let stoppedAt = 0
  // From the moment the stop starts (an interrupted stop may still have stopped the bot).
  let stopping = false
  let downtimeMs = 0
  let journal = !dryRun
  /** @type {Record<string, number> | null} */
  let before = null
  let migrated = false
  // Known before the stop, so the rollback of an unchanged-dependency deploy asks git nothing.
  let depsUnchanged = false
  try {
    record.from = await headCommit(CODE_ROOT)
    // Checks: nothing is stopped until all of these pass.
    pf = await run.step('preflight', async () => {
      const r = await preflight({ branch, offline: v.offline === true, dryRun, keepWorktree: true, quiet: true })
      return { ...r, detail: r.upToDate ? `already up to date at ${r.from.slice(0, 7)}` : `${r.commits.length} incoming commit(s) ${r.from.slice(0, 7)} → ${r.to.slice(0, 7)}, .env valid${v.offline === true ? ' (offline)' : ', token works'}` }
    })
    if (pf.upToDate || pf.worktree === null) {
      journal = false
      return ok('deploy', `nothing to deploy: already at ${pf.from.slice(0, 7)}`)
    }
    const incoming = pf.worktree.dir
    const { from, to } = pf
    Object.assign(record, { from, to })
    for (const c of pf.commits) info(`    ${c}`)
    // Changed dependencies are installed now, beside the running bot's, and the tests use them.
    const depsChange = await depsDiffer(CODE_ROOT, from, to)
    /** @type {{ differ: boolean, fromKey?: string, toKey?: string }} */
    const deps = { differ: depsChange }
    depsUnchanged = !depsChange
    if (depsChange && !dryRun) {
      await run.step('install', async () => {
        const r = await stageDeps(CODE_ROOT, to)
        Object.assign(deps, { fromKey: await depsKey(CODE_ROOT, from), toKey: r.key })
        const link = path.join(incoming, 'node_modules')
        fs.rmSync(link, { force: true })
        fs.symlinkSync(r.modules, link)
        return `${r.reused ? 'already installed' : 'npm ci done'} in ${DEPS_DIR}/${r.key}; the running bot's node_modules untouched`
      })
    }
    if (v['skip-tests'] === true) {
      await confirm('deploy', 'deploy WITHOUT running the tests of the incoming commit', { yes })
      record.skippedTests = true
      warn('tests', 'skipped (--skip-tests), recorded in the journal')
    } else if (!dryRun) {
      await run.step('tests', () => runTests(incoming, testCommand))
    }
    const first = await run.step('backup', async () => {
      const r = await backup({ keep: DEFAULT_KEEP, yes, dryRun, quiet: true }).catch(explainWriteError)
      return { ...r, detail: r.file === null ? 'would take a verified backup (dry run)' : `${shown(paths, r.file)} (${r.manifest?.counts.tasks ?? 0} tasks, integrity ok)` }
    })
    const rehearsal = dryRun || first.file === null
      ? null
      : await run.step('rehearse', async () => {
        const r = await rehearse({ root: incoming, env: { ...process.env, DATABASE_FILE: paths.databaseFile }, backupFile: first.file ?? '', quiet: true })
        return { ...r, detail: r.ran.length === 0 ? 'no incoming migrations' : `${r.ran.length} migration(s) ran on a copy, rows as expected` }
      })

    // Plan, then ask.
    info(`\n  plan: ${from.slice(0, 7)} → ${to.slice(0, 7)} (${pf.commits.length} commit(s))`)
    info(`    migrations: ${rehearsal === null ? 'checked at migrate' : rehearsal.ran.length === 0 ? 'none' : rehearsal.ran.join(', ')}`)
    info(`    dependencies: ${depsChange ? `changed: ${dryRun ? 'npm ci in storage/deps before the stop' : 'installed'}, swapped in by rename after the stop` : 'unchanged'}`)
    info(`    backup: ${first.file === null ? '(dry run)' : shown(paths, first.file)}, plus a final one after the stop`)
    if (dryRun) {
      info('  commands it would run:')
      for (const c of ['pm2 stop ecosystem.config.js', 'backup (online, verified)', `git merge --ff-only ${to}`, ...(depsChange ? ['mv node_modules storage/deps/<old>; mv storage/deps/<new>/node_modules node_modules'] : []), 'knex migrate:latest', 'pm2 start ecosystem.config.js --update-env', `watch storage/logs/bot.log ${watchS} s`, 'health + version + integrity + row counts']) info(`    ${c}`)
      return ok('deploy', 'dry run: nothing was changed')
    }
    await confirm('deploy', `stop the bot and deploy ${to.slice(0, 7)}`, { yes })
    if (typeof v.announce === 'string') await run.step('announce', () => announce(pf?.botEnv ?? process.env, String(v.announce)))

    await preparePm2Stop(process.env)
    // Changes: from here on a failure rolls back.
    stopping = true
    await run.step('stop', () => stopBot(process.env))
    stoppedAt = performance.now()
    const final = await run.step('backup', async () => {
      const r = await backup({ keep: null, quiet: true }).catch(explainWriteError)
      return { ...r, detail: `${shown(paths, r.file ?? '')} (the database as the bot left it)` }
    })
    record.backup = final.file
    before = final.manifest?.counts ?? null
    await run.step('switch', () => switchCode(to, { branch: pf?.branch }))
    await run.step('deps', () => installDeps(from, to, false, deps))
    migrated = true
    const m = await run.step('migrate', async () => {
      const r = await migrateLatest({ botStopped: true, yes: true, rehearsed: true, backupFile: final.file ?? undefined, quiet: true })
      return { ...r, detail: r.ran.length === 0 ? 'nothing pending' : `applied ${r.ran.join(', ')}` }
    })
    record.migrations = m.ran
    const offset = logOffset(paths.logsDir + '/bot.log')
    await run.step('start', () => startBot(process.env, { readyS }))
    downtimeMs = performance.now() - stoppedAt
    await run.step('watch', () => watchBot({ env: process.env, logFile: paths.logsDir + '/bot.log', fromOffset: offset, seconds: watchS }))
    await run.step('verify', async () => verifyBot({ env: process.env, commit: to, databaseFile: paths.databaseFile, before, declared: await declaredDataChange(paths.migrationsDir, m.ran) }))
    record.outcome = 'good'
    if (depsChange) pruneDeps(CODE_ROOT, [await depsKey(CODE_ROOT, from)])
    ok('deploy', `${to.slice(0, 7)} is live; downtime ${formatMs(downtimeMs)}; ${run.tally()}`)
    await notifyOwner(pf.botEnv, `Mister Todo ${to.slice(0, 7)} is deployed and verified (downtime ${formatMs(downtimeMs)}).`)
  } catch (err) {
    record.reason = err instanceof Error ? err.message : String(err)
    if (err instanceof OpsError && err.code === 'ECANCELLED') record.outcome = 'cancelled'
    if (interrupted) {
      record.outcome = 'interrupted'
      record.reason = `interrupted (Ctrl-C)${stopping ? ' after the bot was stopped' : ''}: ${record.reason}`
    }
    if (stopping && pf !== null) {
      if (!reported.has(/** @type {object} */ (err))) warn('deploy', `failed: ${record.reason}`)
      // Ctrl-C already said "stop": asking again would leave the bot down, so roll back.
      if (!interrupted) await confirm('rollback', `roll back to ${pf.from.slice(0, 7)}`, { yes })
      rollingBack = true
      await rollBack(run, { from: pf.to, to: pf.from, db: migrated ? (record.migrations.length > 0 ? 'undo' : 'restore') : 'none', backupFile: record.backup, watchS: Math.min(watchS, 5), how: 'reset', ...(depsUnchanged ? { deps: { differ: false } } : {}) })
        .then(() => {
          record.reason += `; rolled back to ${pf?.from.slice(0, 7)}`
          if (record.outcome !== 'interrupted') record.outcome = 'rolled-back'
        }, (rollbackErr) => {
          record.outcome = 'failed'
          record.reason += `; the rollback failed too: ${rollbackErr instanceof Error ? rollbackErr.message : String(rollbackErr)}`
        })
      await notifyOwner(pf.botEnv, `Mister Todo: the deploy of ${pf.to.slice(0, 7)} failed${record.outcome === 'failed' ? ' and so did the rollback' : ` and was rolled back to ${pf.from.slice(0, 7)}`}. Reason: ${record.reason}`)
    }
    const summary = record.outcome === 'failed' && stopping ? 'the rollback failed too: the bot may be down' : stopping ? `rolled back to ${pf?.from.slice(0, 7)}, release marked bad` : `nothing was deployed: ${record.reason}`
    if (interrupted) throw new OpsError('deploy', `interrupted (Ctrl-C); ${summary}; ${run.tally()}`, { hint: 'npx zx ops/deploy.mjs --history', code: 'EINTERRUPTED' })
    throw reported.has(/** @type {object} */ (err)) ? new OpsError('deploy', `${summary}; ${run.tally()}`, { hint: 'npx zx ops/deploy.mjs --history' }) : err
  } finally {
    if (journal && record.from !== null) appendRelease(paths.journalFile, { ...record, end: new Date().toISOString(), ...(downtimeMs > 0 ? { downtimeMs: Math.round(downtimeMs) } : {}) })
    await pf?.worktree?.remove()
    releasePm2()
    lock.release()
    process.off('SIGINT', onSigint)
    process.off('SIGXFSZ', ignoreSignal)
  }
}

if (isMain(import.meta.url)) await runMain('deploy', main)
