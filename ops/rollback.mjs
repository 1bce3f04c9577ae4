// @ts-check
// ops/rollback.mjs: puts the previous release back: code, dependencies and data.
//
// By default it undoes the newest deploy in storage/deploys.jsonl that is not marked bad: the
// commit before it, with the backup that deploy took after stopping the bot. It shows the plan
// (commits, backup, how many tasks were added or changed since that backup) and asks. Then: stop →
// database (restore the backup, keeping the current database as a _pre-restore backup; or, with
// --keep-data, undo only that deploy's migrations) → check out the commit (detached) → npm ci if
// package-lock.json differs → start → watch → verify → journal (the deploy is marked bad, so a
// second rollback goes one release further back).
//
// When: a deploy went wrong after it finished, or deploy's own rollback could not run.
//
// Usage: npx zx ops/rollback.mjs [flags]
//   --list              releases: commit, date, backup, good/bad
//   --to <commit>       go to this commit instead
//   --backup <file>     restore this backup instead of the deploy's
//   --keep-data         undo the deploy's migrations instead of restoring the backup
//   --yes               do not ask;  --dry-run  print the plan and commands, change nothing
//   --watch <seconds>   follow the log after the start (default 10)
//   --force-unlock      clear a stale storage/deploy.lock first
//   --offline, --branch, --remote   accepted for symmetry with deploy
//   --help              this text
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { migrateRollback } from './migrate.mjs'
import { restore } from './restore.mjs'
import { readManifest } from './lib/backups.mjs'
import { confirm, info, intFlag, isMain, ok, OpsError, parseFlags, refuseWithoutTerminal, runMain, scriptArgs } from './lib/cli.mjs'
import { git, headCommit } from './lib/git.mjs'
import { acquireLock } from './lib/lock.mjs'
import { CODE_ROOT, resolvePaths, shown } from './lib/paths.mjs'
import { appendRelease, deployToUndo, historyTable, newId, readReleases, who } from './lib/releases.mjs'
import { createRunner, installDeps, logOffset, reported, startBot, stopBot, switchCode, verifyBot, watchBot } from './lib/steps.mjs'

/**
 * The rollback steps, shared with deploy's automatic rollback. `from` is the code now on disk.
 * @param {ReturnType<typeof createRunner>} run
 * @param {{ from: string, to: string, backupFile: string | null, migrations: string[], migrated: boolean, keepData?: boolean, watchS: number, how: 'reset' | 'detach' }} o
 */
export async function rollBack (run, o) {
  const paths = resolvePaths()
  await run.step('rollback stop', () => stopBot(process.env))
  if (o.keepData === true || (o.migrated && o.migrations.length > 0)) {
    await run.step('rollback db', async () => {
      const r = await migrateRollback({ botStopped: true, yes: true, quiet: true, ...(o.backupFile === null ? {} : { backupFile: o.backupFile }) })
      return r.undone.length === 0 ? 'no migrations to undo' : `undid ${r.undone.join(', ')} (data kept)`
    })
  } else if (o.migrated && o.backupFile !== null) {
    const backupFile = o.backupFile
    await run.step('rollback db', async () => {
      const r = await restore({ backupFile, stoppedByRollback: true, yes: true, quiet: true })
      return `restored ${path.basename(r.restored)}; the replaced database is kept as ${r.preRestore === null ? '(none)' : path.basename(r.preRestore)}`
    })
  }
  await run.step('rollback switch', () => switchCode(o.to, o.how === 'detach' ? { detach: true } : { reset: true }))
  await run.step('rollback deps', () => installDeps(o.from, o.to, false))
  const offset = logOffset(path.join(paths.logsDir, 'bot.log'))
  await run.step('rollback start', () => startBot(process.env))
  if (o.watchS > 0) await run.step('rollback watch', () => watchBot({ env: process.env, logFile: path.join(paths.logsDir, 'bot.log'), fromOffset: offset, seconds: o.watchS }))
  await run.step('rollback verify', () => verifyBot({ env: process.env, commit: o.to, databaseFile: paths.databaseFile, before: null }))
}

/** Tasks added or changed since a backup was taken (by their updated_at). @param {string} dbFile @param {string | null} backupFile */
function changedSince (dbFile, backupFile) {
  const takenAt = backupFile === null ? NaN : Date.parse(readManifest(backupFile)?.createdAt ?? '')
  if (Number.isNaN(takenAt) || !fs.existsSync(dbFile)) return null
  const db = new Database(dbFile, { readonly: true })
  try {
    return Number(db.prepare('select count(*) from tasks where updated_at > ?').pluck().get(takenAt))
  } catch {
    return null
  } finally {
    db.close()
  }
}

async function main () {
  const flags = parseFlags('rollback', scriptArgs(), {
    list: { type: 'boolean' }, to: { type: 'string' }, backup: { type: 'string' }, 'keep-data': { type: 'boolean' }, yes: { type: 'boolean' },
    'dry-run': { type: 'boolean' }, watch: { type: 'string' }, 'force-unlock': { type: 'boolean' }, offline: { type: 'boolean' }, branch: { type: 'string' }, remote: { type: 'string' },
  }, import.meta.url)
  if (flags === null) return
  const v = flags.values
  const paths = resolvePaths()
  const releases = readReleases(paths.journalFile)
  if (v.list === true) return info(historyTable(releases.filter((r) => r.kind === 'deploy')))
  const yes = v.yes === true
  const dryRun = v['dry-run'] === true
  const keepData = v['keep-data'] === true
  refuseWithoutTerminal('rollback', 'roll back', { yes, dryRun })

  // What to go back to.
  const current = await headCommit(CODE_ROOT)
  const undo = deployToUndo(releases)
  const target = typeof v.to === 'string' ? await git(CODE_ROOT, 'rev-parse', '--verify', `${v.to}^{commit}`).catch(() => { throw new OpsError('rollback', `unknown commit ${v.to}`, { hint: 'npx zx ops/rollback.mjs --list' }) }) : undo?.from ?? null
  if (target === null || target === undefined) throw new OpsError('rollback', 'no good deploy in storage/deploys.jsonl to undo', { hint: 'npx zx ops/rollback.mjs --list, then --to <commit>' })
  const backupArg = typeof v.backup === 'string' ? v.backup : null
  const backupFile = backupArg === null ? (typeof v.to === 'string' ? null : undo?.backup ?? null) : [path.resolve(backupArg), path.join(paths.backupsDir, backupArg)].find((f) => fs.existsSync(f)) ?? backupArg
  if (!keepData && backupFile === null) throw new OpsError('rollback', 'no backup to restore: give one with --backup <file>, or keep the data with --keep-data', { hint: 'npx zx ops/backup.mjs --list' })
  if (target === current) throw new OpsError('rollback', `already at ${target.slice(0, 7)}`, { hint: 'npx zx ops/rollback.mjs --list' })

  info(`  plan: ${current.slice(0, 7)} → ${target.slice(0, 7)}${undo !== null && typeof v.to !== 'string' ? ` (undoing the deploy of ${undo.start.slice(0, 19).replace('T', ' ')} UTC)` : ''}`)
  if (keepData) info(`    database: undo the last migration batch${undo !== null && undo.migrations.length > 0 ? ` (${undo.migrations.join(', ')})` : ''}, data kept`)
  else {
    const since = changedSince(paths.databaseFile, backupFile)
    info(`    database: restore ${shown(paths, backupFile ?? '')}; the current one is kept as a _pre-restore backup`)
    info(`    tasks added or changed since that backup (lost from the live DB, kept in the _pre-restore copy): ${since === null ? 'unknown' : since}`)
  }
  if (dryRun) {
    info('  commands it would run: pm2 stop ecosystem.config.js; ' + (keepData ? 'knex migrate:rollback' : 'restore') + `; git checkout --detach ${target}; npm ci if package-lock.json differs; pm2 start ecosystem.config.js --update-env; verify`)
    return ok('rollback', 'dry run: nothing was changed')
  }
  await confirm('rollback', `stop the bot and roll back to ${target.slice(0, 7)}`, { yes })

  const lock = acquireLock(path.join(paths.storageDir, 'deploy.lock'), `ops/rollback.mjs ${scriptArgs().join(' ')}`.trim(), { force: v['force-unlock'] === true })
  const run = createRunner()
  /** @type {import('./lib/releases.mjs').Release} */
  const record = { id: newId(), kind: 'rollback', start: new Date().toISOString(), from: current, to: target, backup: keepData ? null : backupFile, migrations: [], steps: run.steps, outcome: 'failed', reason: null, who: who(), undoes: typeof v.to === 'string' ? null : undo?.id ?? null }
  try {
    await rollBack(run, { from: current, to: target, backupFile, migrations: keepData ? undo?.migrations ?? [] : [], migrated: true, keepData, watchS: intFlag('rollback', v.watch, '--watch', 0) ?? 10, how: 'detach' })
    record.outcome = 'good'
    ok('rollback', `${target.slice(0, 7)} is running and verified; ${run.tally()}`)
  } catch (err) {
    record.reason = err instanceof Error ? err.message : String(err)
    throw reported.has(/** @type {object} */ (err)) ? new OpsError('rollback', `failed; ${run.tally()}`, { hint: 'npm run status; npx zx ops/rollback.mjs --list' }) : err
  } finally {
    appendRelease(paths.journalFile, { ...record, end: new Date().toISOString() })
    lock.release()
  }
}

if (isMain(import.meta.url)) await runMain('rollback', main)
