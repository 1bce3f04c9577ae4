// @ts-check
// Where the toolkit finds things: the code root (this checkout) and the data root (storage/, .env),
// which MISTER_TODO_ROOT or a `root` option can move so that tests work in a temp sandbox.
// DATABASE_FILE is resolved as bot/config.ts does: environment, then .env, then the default,
// relative to the data root.
import fs from 'node:fs'
import path from 'node:path'

export const CODE_ROOT = path.resolve(import.meta.dirname, '..', '..')
export const DEFAULT_DATABASE_FILE = 'storage/db/todo.sqlite'

/**
 * @typedef {{
 *   root: string, storageDir: string, databaseFile: string, backupsDir: string,
 *   migrationsDir: string, journalFile: string, logsDir: string, env: NodeJS.ProcessEnv
 * }} Paths
 * @typedef {{ root?: string, env?: NodeJS.ProcessEnv }} WhereOptions
 */

/** Reads KEY=value lines of a .env file (no expansion); a missing file is an empty one. @param {string} file */
export function readDotEnv (file) {
  /** @type {Record<string, string>} */
  const values = {}
  let text = ''
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return values
  }
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (match === null || match[1] === undefined) continue
    values[match[1]] = (match[2] ?? '').replace(/^(['"])(.*)\1$/, '$2')
  }
  return values
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
