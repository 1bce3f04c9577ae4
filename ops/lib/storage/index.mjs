// @ts-check
// One storage interface for the ops scripts: SQLite (DATABASE_FILE) or PostgreSQL (DATABASE_URL),
// read from the environment, then .env, as the bot reads them. Scripts ask `storageFor(paths)`
// and branch on `engine` only where the steps really differ (a file copy vs pg_dump).
import path from 'node:path'
import { readDotEnv, shown } from '../paths.mjs'
import { importTs } from '../ts.mjs'
import { OpsError } from '../cli.mjs'
import { postgresStorage } from './postgres.mjs'
import { sqliteStorage } from './sqlite.mjs'

/** @typedef {import('./sqlite.mjs').SqliteStorage | import('./postgres.mjs').PostgresStorage} Storage */

/** @param {import('../paths.mjs').Paths} paths @returns {Promise<Storage>} */
export async function storageFor (paths) {
  const env = { ...readDotEnv(path.join(paths.root, '.env')), ...paths.env }
  const url = env.DATABASE_URL?.trim()
  if (url === undefined || url === '') return sqliteStorage(paths.databaseFile, shown(paths, paths.databaseFile))
  const { databaseTargetFrom } = /** @type {typeof import('../../../bot/config.js')} */ (await importTs('bot/config.ts'))
  const { target, problems } = databaseTargetFrom(env)
  if (target === undefined || target.engine !== 'postgres') throw new OpsError('storage', problems.join('; '), { hint: 'fix DATABASE_URL in .env (see .env.example)' })
  return postgresStorage(target, env)
}
