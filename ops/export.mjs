// @ts-check
// ops/export.mjs: the tasks of every chat, or of one, as files, read from the live database.
//
// Reads the database read-only while the bot keeps running (SQLite in WAL mode: the reader and the
// bot never wait for each other); each chat is read in one read transaction, so its file shows one
// moment. Writes <out>/chat_<id>_<YYYY-MM-DD_HH-MM-SS>.<json|csv|todo.txt> (UTC time; files 0600,
// the folder 0700) in the very format /export sends in Telegram, so a user can /import it. Deleted
// tasks are left out, as in /export. An existing file is never replaced. Chats without tasks are
// skipped.
//
// When: a user wants their list and cannot use Telegram; before removing a chat's data.
//
// Usage: npx zx ops/export.mjs [flags]
//   --chat <id>        only this chat (a group's id is negative)
//   --format <name>    json (default), csv or todo
//   --out <folder>     where to write (default storage/exports)
//   --help             this text
//
// Environment: DATABASE_FILE and DEFAULT_TIMEZONE as the bot reads them (env, then .env);
// MISTER_TODO_ROOT (data root, used by tests).
import fs from 'node:fs'
import path from 'node:path'
import { isMain, OpsError, parseFlags, reporter, runMain, scriptArgs } from './lib/cli.mjs'
import { formatBytes, formatCount } from './lib/format.mjs'
import { readDotEnv, resolvePaths, shown } from './lib/paths.mjs'
import { databaseFileProblem } from './lib/sqlite.mjs'
import { importTs } from './lib/ts.mjs'

const FORMATS = /** @type {const} */ (['json', 'csv', 'todo'])
const EXTENSIONS = { json: 'json', csv: 'csv', todo: 'todo.txt' }

/**
 * @typedef {{ root?: string, env?: NodeJS.ProcessEnv, chat?: number, format?: string, out?: string, now?: () => Date, quiet?: boolean }} ExportOptions
 * @typedef {{ chat: number, file: string, tasks: number, bytes: number }} ExportedChat
 */

/** @param {ExportOptions} [options] @returns {Promise<ExportedChat[]>} */
export async function exportChats (options = {}) {
  const paths = resolvePaths(options)
  const say = reporter(options.quiet)
  const hint = 'npx zx ops/export.mjs --help'
  const format = /** @type {'json' | 'csv' | 'todo'} */ (options.format ?? 'json')
  if (!FORMATS.includes(format)) throw new OpsError('export', `--format must be json, csv or todo, not "${format}"`, { hint, code: 'EUSAGE' })
  const source = paths.databaseFile
  if (!fs.existsSync(source)) throw new OpsError('export', `no database at ${shown(paths, source)}`, { hint: 'check DATABASE_FILE in .env' })
  const notDatabase = databaseFileProblem(source)
  if (notDatabase !== null) throw new OpsError('export', `${shown(paths, source)} ${notDatabase}; nothing was written`, { hint: 'check DATABASE_FILE in .env' })

  const { canonicalZone } = /** @type {typeof import('../bot/time/zone.js')} */ (await importTs('bot/time/zone.ts'))
  const rawZone = paths.env.DEFAULT_TIMEZONE?.trim() || readDotEnv(path.join(paths.root, '.env')).DEFAULT_TIMEZONE?.trim() || 'UTC'
  const defaultZone = canonicalZone(rawZone)
  if (defaultZone === undefined) throw new OpsError('export', `DEFAULT_TIMEZONE "${rawZone}" is not an IANA time zone; nothing was written`, { hint: 'use a name like Europe/Berlin or UTC in .env' })

  const { openDatabase } = /** @type {typeof import('../bot/db.js')} */ (await importTs('bot/db.ts'))
  const { TaskRepository } = /** @type {typeof import('../bot/tasks/repository.js')} */ (await importTs('bot/tasks/repository.ts'))
  const { ChatSettingsRepository } = /** @type {typeof import('../bot/chats/settings.js')} */ (await importTs('bot/chats/settings.ts'))
  const { writeExport } = /** @type {typeof import('../bot/transfer/write.js')} */ (await importTs('bot/transfer/write.ts'))

  const outDir = path.resolve(paths.root, options.out ?? path.join('storage', 'exports'))
  const now = (options.now ?? (() => new Date()))()
  const stamp = now.toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-')
  const db = openDatabase(source, { readonly: true })
  /** @type {ExportedChat[]} */
  const written = []
  try {
    const chats = options.chat !== undefined ? [options.chat] : /** @type {number[]} */ (await db('chats').orderBy('id').pluck('id'))
    for (const chat of chats) {
      const file = await db.transaction(async (trx) => {
        const tasks = new TaskRepository(trx, () => now.getTime())
        const settings = await new ChatSettingsRepository(trx, () => now.getTime()).get(chat)
        const open = await tasks.open(chat)
        const done = await tasks.doneSince(chat, Number.MIN_SAFE_INTEGER)
        if (open.length + done.length === 0) return undefined
        return writeExport(format, { open, done, zone: settings.timezone ?? defaultZone, settings, now: now.getTime() })
      })
      if (file === undefined) {
        if (options.chat !== undefined) throw new OpsError('export', `chat ${chat} has no tasks in ${shown(paths, source)}; nothing was written`, { hint: 'npx zx ops/export.mjs (every chat with tasks)' })
        continue
      }
      fs.mkdirSync(outDir, { recursive: true, mode: 0o700 })
      const target = path.join(outDir, `chat_${chat}_${stamp}.${EXTENSIONS[format]}`)
      // 'wx': an existing file is never replaced.
      try {
        fs.writeFileSync(target, file.bytes, { mode: 0o600, flag: 'wx' })
      } catch (err) {
        const code = /** @type {{ code?: string }} */ (err).code
        throw new OpsError('export', code === 'EEXIST' ? `${shown(paths, target)} exists already; nothing was replaced` : `cannot write ${shown(paths, target)}: ${err instanceof Error ? err.message : String(err)}`, { hint: code === 'EEXIST' ? 'run it again in a second' : `ls -ld ${shown(paths, outDir)}` })
      }
      const tasks = file.open + file.done
      written.push({ chat, file: target, tasks, bytes: file.bytes.length })
      say.ok('export', `chat ${chat}: ${formatCount(tasks)} task${tasks === 1 ? '' : 's'} (${formatCount(file.open)} open, ${formatCount(file.done)} done) → ${shown(paths, target)} (${formatBytes(file.bytes.length)})`)
    }
  } finally {
    await db.destroy()
  }
  const total = written.reduce((sum, w) => sum + w.tasks, 0)
  say.ok('export', written.length === 0
    ? `no chat has tasks in ${shown(paths, source)}; nothing was written`
    : `${formatCount(written.length)} chat${written.length === 1 ? '' : 's'}, ${formatCount(total)} tasks as ${format} in ${shown(paths, outDir)}`)
  return written
}

if (isMain(import.meta.url)) {
  await runMain('export', async () => {
    // A group's id is negative: "--chat -4242" would read as a flag, so it is joined first.
    const raw = scriptArgs()
    const negative = (/** @type {string | undefined} */ a) => a !== undefined && /^-\d+$/.test(a)
    const args = raw.flatMap((a, i) => a === '--chat' && negative(raw[i + 1]) ? [] : raw[i - 1] === '--chat' && negative(a) ? [`--chat=${a}`] : [a])
    const flags = parseFlags('export', args, { chat: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } }, import.meta.url)
    if (flags === null) return
    const rawChat = flags.values.chat
    if (typeof rawChat === 'string' && !/^-?\d{1,16}$/.test(rawChat)) throw new OpsError('export', `--chat must be a chat id (a whole number, negative for groups), got "${rawChat}"`, { hint: 'npx zx ops/export.mjs --help', code: 'EUSAGE' })
    await exportChats({
      ...(typeof rawChat === 'string' ? { chat: Number(rawChat) } : {}),
      ...(typeof flags.values.format === 'string' ? { format: flags.values.format } : {}),
      ...(typeof flags.values.out === 'string' ? { out: flags.values.out } : {}),
    })
  })
}
