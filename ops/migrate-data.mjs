// @ts-check
// ops/migrate-data.mjs: moves an existing SQLite database (DATABASE_FILE) into an empty
// PostgreSQL database (DATABASE_URL), verified by row counts.
//
// Checks first: the bot is stopped (it would keep writing to the file), the SQLite file passes
// integrity_check and its schema is current, the PostgreSQL database is reachable and holds no
// tasks. Then it migrates the PostgreSQL database with the same migration files, copies every
// table in one transaction (parents before children, 500 rows a statement), moves each id
// sequence past the copied ids, and compares rows per table. Any difference rolls it all back.
// The SQLite file is only read: it stays as it was, your way back (unset DATABASE_URL).
//
// When: once, when switching an installation to PostgreSQL: npm stop, set DATABASE_URL in .env,
// run this, npm start.
//
// Usage: npx zx ops/migrate-data.mjs --from sqlite --to postgres [flags]
//   --from sqlite     the source: the SQLite file DATABASE_FILE names (default storage/db/todo.sqlite)
//   --to postgres     the target: the database DATABASE_URL names (env or .env)
//   --yes             copy without asking
//   --dry-run         run the checks and say what would be copied, change nothing
//   --help            this text
import fs from 'node:fs'
import { confirm, isMain, OpsError, parseFlags, refuseWithoutTerminal, reporter, runMain, scriptArgs } from './lib/cli.mjs'
import { countsTable, formatCount } from './lib/format.mjs'
import { openKnex, schemaStatusOf } from './lib/migrations.mjs'
import { resolvePaths, shown } from './lib/paths.mjs'
import { APP_NAME, appStatus } from './lib/pm2.mjs'
import { inspectDatabase } from './lib/sqlite.mjs'
import { storageFor } from './lib/storage/index.mjs'

/** Parents before children (foreign keys); any other table follows in name order. */
const ORDER = ['chats', 'tasks', 'reminders', 'digests']
const BATCH = 500
/** Tables whose `id` is an increments column: their sequence must move past the copied ids. */
const SERIAL = ['tasks', 'outbox', 'reminders', 'digests']

/**
 * @param {{ root?: string, env?: NodeJS.ProcessEnv, yes?: boolean, dryRun?: boolean, quiet?: boolean }} [options]
 * @returns {Promise<{ counts: Record<string, number>, copied: boolean }>}
 */
export async function migrateData (options = {}) {
  const paths = resolvePaths(options)
  const say = reporter(options.quiet)
  const storage = await storageFor(paths)
  if (storage.engine !== 'postgres') throw new OpsError('migrate-data', 'DATABASE_URL is not set: it names the PostgreSQL database to copy into', { hint: 'put DATABASE_URL=postgres://user:password@host:5432/database in .env (see README "Running on PostgreSQL")' })
  const source = paths.databaseFile
  const from = shown(paths, source)

  // Checks before changes.
  const app = await appStatus({ env: paths.env })
  if (app.running) throw new OpsError('migrate-data', `the bot is running (${app.detail}); it would keep writing to ${from} during the copy`, { hint: `npm stop (pm2 stop ${APP_NAME}), then run this again` })
  if (!fs.existsSync(source)) throw new OpsError('migrate-data', `no SQLite database at ${from}`, { hint: 'set DATABASE_FILE to the file to move' })
  const inspection = inspectDatabase(source)
  if (!inspection.ok) throw new OpsError('migrate-data', `${from} does not verify (${inspection.problem}); nothing was copied`, { hint: 'restore a good backup first: npx zx ops/restore.mjs' })
  const reader = await openKnex(source, paths.migrationsDir, { readonly: true })
  const sourceStatus = await schemaStatusOf(reader, paths.migrationsDir).finally(() => reader.destroy())
  if (sourceStatus.pending.length > 0 || sourceStatus.unknown.length > 0) {
    throw new OpsError('migrate-data', `${from} is not at this code's schema (${sourceStatus.pending.length} pending, ${sourceStatus.unknown.length} unknown); nothing was copied`, { hint: `DATABASE_URL= npx zx ops/migrate.mjs latest, then run this again` })
  }
  const target = await storage.openKnex(paths.migrationsDir)
  try {
    const targetStatus = await schemaStatusOf(target, paths.migrationsDir)
    if (targetStatus.unknown.length > 0) throw new OpsError('migrate-data', `${storage.shown} was migrated by newer code (${targetStatus.unknown.join(', ')}); nothing was copied`, { hint: 'use an empty database' })
    if (await target.schema.hasTable('tasks')) {
      const row = await target('tasks').count({ n: '*' }).first()
      const n = Number(row?.n ?? 0)
      if (n > 0) throw new OpsError('migrate-data', `${storage.shown} already holds ${formatCount(n)} tasks; nothing was copied`, { hint: 'copy into an empty database (createdb …), or drop this one first if it is a failed earlier attempt' })
    }
    const counts = Object.fromEntries(Object.entries(inspection.counts).filter(([t]) => !t.startsWith('knex_')))
    const tables = [...ORDER.filter((t) => t in counts), ...Object.keys(counts).filter((t) => !ORDER.includes(t)).sort()]
    const tasks = counts.tasks === undefined ? '' : `, ${formatCount(counts.tasks)} tasks`
    say.ok('check', `${from} (integrity ok${tasks}, schema ${sourceStatus.head ?? 'empty'}) → ${storage.shown} (empty)`)
    const action = `copy ${tables.length} tables from ${from} into ${storage.shown}`
    if (options.dryRun === true) {
      say.ok('migrate-data', `would ${action} (dry run)`)
      return { counts, copied: false }
    }
    refuseWithoutTerminal('migrate-data', action, options)
    await confirm('migrate-data', action, options)

    // The same migrations, then every row, all in one transaction: a failure leaves the target empty.
    await target.migrate.latest()
    const sqlite = await openKnex(source, paths.migrationsDir, { readonly: true })
    try {
      await target.transaction(async (trx) => {
        for (const table of tables) await trx(table).delete()
        for (const table of tables) {
          for (let offset = 0; ; offset += BATCH) {
            const rows = await sqlite(table).select('*').orderByRaw('rowid').limit(BATCH).offset(offset)
            if (rows.length > 0) await trx(table).insert(rows)
            if (rows.length < BATCH) break
          }
        }
        for (const table of SERIAL.filter((t) => tables.includes(t))) {
          await trx.raw(`select setval(pg_get_serial_sequence(?, 'id'), coalesce(max(id), 1), max(id) is not null) from ${trx.client.wrapIdentifier(table)}`, [table])
        }
        /** @type {Record<string, number>} */
        const after = {}
        for (const t of tables) after[t] = Number((await trx(t).count({ n: '*' }).first())?.n ?? 0)
        const differ = tables.filter((t) => after[t] !== counts[t])
        if (differ.length > 0) throw new OpsError('migrate-data', `rows differ after the copy in ${differ.map((t) => `${t} (${formatCount(counts[t] ?? 0)} → ${formatCount(after[t] ?? 0)})`).join(', ')}; nothing was kept`, { hint: 'report this; the SQLite file is unchanged' })
      })
    } finally {
      await sqlite.destroy()
    }
    const verified = (await storage.inspect()).counts
    say.ok('migrate-data', `${storage.shown} ← ${from} (${tables.length} tables, row counts match)`)
    say.info(countsTable(counts, Object.fromEntries(Object.entries(verified).filter(([t]) => !t.startsWith('knex_')))))
    return { counts: verified, copied: true }
  } finally {
    await target.destroy()
  }
}

async function main () {
  const flags = parseFlags('migrate-data', scriptArgs(), { from: { type: 'string' }, to: { type: 'string' }, yes: { type: 'boolean' }, 'dry-run': { type: 'boolean' } }, import.meta.url)
  if (flags === null) return
  const usage = { hint: 'npx zx ops/migrate-data.mjs --help', code: 'EUSAGE' }
  if (flags.positionals.length > 0) throw new OpsError('migrate-data', `unexpected argument ${flags.positionals[0]}`, usage)
  if (flags.values.from !== 'sqlite' || flags.values.to !== 'postgres') throw new OpsError('migrate-data', 'only --from sqlite --to postgres is supported (to go back, unset DATABASE_URL: the SQLite file is left as it was)', usage)
  await migrateData({ yes: flags.values.yes === true, dryRun: flags.values['dry-run'] === true })
}

if (isMain(import.meta.url)) await runMain('migrate-data', main)
