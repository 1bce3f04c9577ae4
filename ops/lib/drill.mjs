// @ts-check
// The restore drill: proves a backup brings back a working bot, without touching the live one.
// verify (sha256 against the manifest) → restore (copy into a scratch folder) → integrity
// (integrity_check, foreign keys, row counts = manifest) → migrations (status against this
// release; pending ones applied, as a real restore would) → start (the real bot, in this process,
// on the copy, against a private Bot API emulator on 127.0.0.1: never Telegram) → list (/list in
// the owner's chat, its count compared with the manifest). The scratch folder is always removed.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { listBackupFiles, verifyBackup } from './backups.mjs'
import { OpsError, reporter } from './cli.mjs'
import { ownerIdFrom } from './copies.mjs'
import { formatBytes, formatCount } from './format.mjs'
import { openKnex, reinstateKeptOf, schemaStatusOf } from './migrations.mjs'
import { CODE_ROOT, resolvePaths, shown } from './paths.mjs'
import { fsyncPath, inspectDatabase, openTasksOf, sha256File } from './sqlite.mjs'
import { silentProgress, startProgress } from './progress.mjs'
import { importTs } from './ts.mjs'

/** How long the drill's bot may take to answer /list. */
export const LIST_TIMEOUT_MS = 30_000

/**
 * @typedef {{ root?: string, env?: NodeJS.ProcessEnv, backupFile?: string, quiet?: boolean }} DrillOptions
 * @typedef {{
 *   file: string, size: number, tasks: number, openTasks: number, chatId: number, applied: string[],
 *   schema: string | null, durationMs: number, steps: Record<string, number>
 * }} DrillResult
 */

/** @param {unknown} err */
function messageOf (err) {
  return err instanceof Error ? err.message : String(err)
}

/** The newest backup in a folder that has a manifest (never a _pre-restore copy). @param {string} dir */
function newestIn (dir) {
  return listBackupFiles(dir).find((b) => b.kind === 'backup' && fs.existsSync(`${b.file}.json`))?.file ?? null
}

/** @param {import('./paths.mjs').Paths} paths @param {string | undefined} pick */
function chooseFile (paths, pick) {
  if (pick === undefined) {
    const newest = newestIn(paths.backupsDir)
    if (newest === null) throw new OpsError('drill verify', `no backup in ${shown(paths, paths.backupsDir)} to drill`, { hint: 'npx zx ops/backup.mjs' })
    return newest
  }
  const target = [path.resolve(pick), path.join(paths.backupsDir, pick)].find((f) => fs.existsSync(f))
  if (target === undefined) throw new OpsError('drill verify', `no backup ${pick}`, { hint: 'npx zx ops/backup.mjs --list' })
  if (!fs.statSync(target).isDirectory()) return target
  const newest = newestIn(target)
  if (newest === null) throw new OpsError('drill verify', `no backup with a manifest in ${target}`, { hint: `ls ${target}` })
  return newest
}

/** @param {DrillOptions} [options] @returns {Promise<DrillResult>} */
export async function drill (options = {}) {
  // One live line (or a plain line every 15 s in a log) naming the drill step under way.
  const progress = options.quiet === true ? silentProgress('drill') : startProgress('drill')
  try {
    return await drillWith(options, progress)
  } finally {
    progress.stop()
  }
}

/** @param {DrillOptions} options @param {import('./progress.mjs').Progress} progress @returns {Promise<DrillResult>} */
async function drillWith (options, progress) {
  const paths = resolvePaths(options)
  const say = reporter(options.quiet)
  const started = performance.now()
  /** @type {Record<string, number>} */
  const steps = {}
  const doing = { verify: 'checking the backup against its manifest', restore: 'restoring into a scratch folder', integrity: 'integrity_check of the restored copy', migrations: 'migrations status and pending migrations', start: 'starting the bot on the copy (private emulator)', list: '/list in the owner\'s chat' }
  /** @template T @param {string} name @param {() => Promise<T> | T} fn @returns {Promise<T>} */
  const step = async (name, fn) => {
    const at = performance.now()
    progress.update(/** @type {Record<string, string>} */ (doing)[name] ?? name)
    try {
      return await fn()
    } catch (err) {
      if (err instanceof OpsError) throw err
      throw new OpsError(`drill ${name}`, messageOf(err), { cause: err })
    } finally {
      steps[name] = Math.round(performance.now() - at)
    }
  }

  const file = chooseFile(paths, options.backupFile)
  const name = path.basename(file)
  if (name.endsWith('.pgdump')) throw new OpsError('drill verify', `${name} is a PostgreSQL dump: the drill runs on SQLite backups only (a PostgreSQL backup is restored into a scratch database and counted when it is taken)`, { hint: 'on PostgreSQL set DRILL_SCHEDULE=off in .env' })
  const verified = await step('verify', () => verifyBackup(file, { deep: false }))
  const manifest = verified.manifest
  if (!verified.ok || manifest === null) throw new OpsError('drill verify', `${name}: ${verified.problem}`, { hint: 'npx zx ops/backup.mjs --list' })

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-drill-'))
  /** @type {Array<() => Promise<unknown>>} */
  const cleanup = []
  try {
    const copy = path.join(scratch, 'db', 'todo.sqlite')
    await step('restore', async () => {
      fs.mkdirSync(path.dirname(copy), { recursive: true, mode: 0o700 })
      fs.copyFileSync(file, copy)
      fsyncPath(copy)
      if (await sha256File(copy) !== manifest.sha256) throw new Error(`the copy of ${name} in ${scratch} does not match the manifest's sha256`)
    })
    const inspection = await step('integrity', () => inspectDatabase(copy))
    if (!inspection.ok) throw new OpsError('drill integrity', `${name}: ${inspection.problem}`, { hint: 'take a fresh backup: npx zx ops/backup.mjs' })
    const differ = Object.keys({ ...manifest.counts, ...inspection.counts }).filter((t) => manifest.counts[t] !== inspection.counts[t])
    if (differ.length > 0) throw new OpsError('drill integrity', `${name}: row counts differ from the manifest in ${differ.map((t) => `${t} (${inspection.counts[t] ?? 0} vs ${manifest.counts[t] ?? 0})`).join(', ')}`, { hint: 'take a fresh backup: npx zx ops/backup.mjs' })

    const migrationsDir = path.join(CODE_ROOT, 'storage', 'migrations')
    const { applied, schema } = await step('migrations', async () => {
      const knex = await openKnex(copy, migrationsDir)
      try {
        await reinstateKeptOf(knex, migrationsDir)
        const status = await schemaStatusOf(knex, migrationsDir)
        if (status.unknown.length > 0) throw new OpsError('drill migrations', `${name} has migrations this release does not know: ${status.unknown.join(', ')} (it was taken by a newer version)`, { hint: 'npx zx ops/migrate.mjs status' })
        if (status.pending.length > 0) await knex.migrate.latest()
        // The drill's emulator numbers updates its own way: forget Telegram's last update id.
        await knex('handled_updates').delete()
        return { applied: status.pending, schema: (await schemaStatusOf(knex, migrationsDir)).head }
      } finally {
        await knex.destroy()
      }
    })

    const chatId = manifest.owner?.chatId ?? ownerIdFrom(paths)
    if (chatId === null) throw new OpsError('drill list', 'no owner to ask /list for: ALLOWED_USER_IDS is not set and the manifest names none', { hint: 'set ALLOWED_USER_IDS in .env' })
    const expected = manifest.owner?.openTasks ?? openTasksOf(copy, chatId)
    const emulatorModule = /** @type {typeof import('../../dev/emulator/bot-api-emulator.js')} */ (await importTs('dev/emulator/bot-api-emulator.ts'))
    const emu = await step('start', () => emulatorModule.BotApiEmulator.start())
    cleanup.push(() => emu.stop())
    await step('start', async () => {
      const { startBot } = /** @type {typeof import('../../bot/app.js')} */ (await importTs('bot/app.ts'))
      const { loadConfig } = /** @type {typeof import('../../bot/config.js')} */ (await importTs('bot/config.ts'))
      const { createLogger } = /** @type {typeof import('../../bot/logger.js')} */ (await importTs('bot/logger.ts'))
      const config = loadConfig({ TELEGRAM_BOT_TOKEN: emu.token, ALLOWED_USER_IDS: String(chatId), TELEGRAM_API_ROOT: emu.apiRoot, DATABASE_FILE: copy, HEALTH_PORT: '0', POLL_TIMEOUT_S: '1', LOG_LEVEL: 'silent', BACKUP_SCHEDULE: 'off', DRILL_SCHEDULE: 'off' })
      const bot = await startBot(config, { logger: createLogger('silent') })
      cleanup.unshift(() => bot.stop())
      await bot.ready
    })
    const listed = await step('list', async () => {
      const answer = emu.waitForMessage(chatId, (m) => /Your tasks|Nothing to do/.test(m.text), LIST_TIMEOUT_MS)
      emu.sendText(chatId, chatId, '/list')
      const text = (await answer).text
      return /Nothing to do/.test(text) ? 0 : Number(/\((\d+) open\)/.exec(text)?.[1] ?? NaN)
    })
    if (listed !== expected) throw new OpsError('drill list', `/list shows ${listed} open task(s) in the owner's chat ${chatId}, the manifest of ${name} says ${expected}`, { hint: 'take a fresh backup: npx zx ops/backup.mjs' })

    const result = { file, size: manifest.size, tasks: inspection.counts.tasks ?? 0, openTasks: listed, chatId, applied, schema, durationMs: Math.round(performance.now() - started), steps }
    progress.stop()
    say.ok('drill', `${name}: restored ${formatBytes(result.size)}, integrity ok, ${formatCount(result.tasks)} tasks as in the manifest, ${applied.length === 0 ? 'schema current' : `${applied.length} migration(s) applied`}, the bot answered /list with ${formatCount(listed)} open in the owner's chat as the manifest says (${(result.durationMs / 1000).toFixed(1)} s)`)
    return result
  } finally {
    for (const fn of cleanup) await fn().catch(() => {})
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}
