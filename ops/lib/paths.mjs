// @ts-check
// Where the toolkit finds things: the code root (this checkout) and the data root (storage/, .env),
// which MISTER_TODO_ROOT or a `root` option can move so that tests work in a temp sandbox.
// DATABASE_FILE is resolved as bot/config.ts does: environment, then .env, then the default,
// relative to the data root.
import fs from 'node:fs'
import path from 'node:path'
import { parseEnv } from 'node:util'

export const CODE_ROOT = path.resolve(import.meta.dirname, '..', '..')
export const DEFAULT_DATABASE_FILE = 'storage/db/todo.sqlite'

/**
 * @typedef {{
 *   root: string, storageDir: string, databaseFile: string, backupsDir: string,
 *   migrationsDir: string, journalFile: string, logsDir: string, env: NodeJS.ProcessEnv
 * }} Paths
 * @typedef {{ root?: string, env?: NodeJS.ProcessEnv }} WhereOptions
 */

/**
 * A .env file parsed exactly as `node --env-file` parses it (util.parseEnv: inline comments,
 * quotes, `export`); a missing file is an empty one.
 * @param {string} file @returns {Record<string, string>}
 */
export function readDotEnv (file) {
  try {
    return /** @type {Record<string, string>} */ (parseEnv(fs.readFileSync(file, 'utf8')))
  } catch {
    return {}
  }
}

/** @param {WhereOptions} [options] @returns {Paths} */
export function resolvePaths (options = {}) {
  const env = options.env ?? process.env
  const root = path.resolve(options.root ?? (env.MISTER_TODO_ROOT?.trim() || CODE_ROOT))
  const fromEnv = env.DATABASE_FILE?.trim()
  const fromDotEnv = readDotEnv(path.join(root, '.env')).DATABASE_FILE?.trim()
  const databaseFile = path.resolve(root, fromEnv || fromDotEnv || DEFAULT_DATABASE_FILE)
  const storageDir = path.join(root, 'storage')
  return {
    root,
    storageDir,
    databaseFile,
    backupsDir: path.join(storageDir, 'backups'),
    migrationsDir: path.join(storageDir, 'migrations'),
    journalFile: path.join(storageDir, 'deploys.jsonl'),
    logsDir: path.join(storageDir, 'logs'),
    env,
  }
}

/** A path as the operator reads it: relative to the data root when inside it. @param {Paths} paths @param {string} file */
export function shown (paths, file) {
  const relative = path.relative(paths.root, file)
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative
}
