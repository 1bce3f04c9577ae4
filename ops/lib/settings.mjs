// @ts-check
// The bot's configuration as the toolkit reads it: the same .env parser Node's --env-file uses
// (util.parseEnv: inline comments, quotes, `export`), the environment winning over .env as it does
// for the bot, and the bot's own schema (bot/config.ts, loaded through tsx) — so the bot and the
// toolkit can never disagree about a value. Where the running bot chose something at run time (a
// health port of 0 means "any free port"), its own record says what it chose.
import path from 'node:path'
import { readDotEnv } from './paths.mjs'
import { importTs } from './ts.mjs'

/** .env of a data root, parsed as `node --env-file` parses it. @param {string} root */
export function dotEnvOf (root) {
  return readDotEnv(path.join(root, '.env'))
}

/** The environment the bot gets: .env, overridden by the process environment. @param {string} root @param {NodeJS.ProcessEnv} env @returns {NodeJS.ProcessEnv} */
export function botEnvironment (root, env) {
  return { ...dotEnvOf(root), ...env }
}

/** Stand-ins for the two required settings, so one setting can be read while another is missing. */
const PLACEHOLDERS = { TELEGRAM_BOT_TOKEN: `100000:${'x'.repeat(30)}`, ALLOWED_USER_IDS: '1' }

/**
 * The bot's Config for this environment and the bot's own one-line problems. `config` is read even
 * when a required setting is missing or wrong (with stand-ins for those two), so a script that
 * needs one value (a port, the ids) gets it as the bot would; `problems` are the real ones.
 * @param {string} root @param {NodeJS.ProcessEnv} env
 * @returns {Promise<{ config?: import('../../bot/config.ts').Config, problems: string[] }>}
 */
export async function botSettings (root, env) {
  const { checkEnvironment } = /** @type {typeof import('../../bot/config.ts')} */ (await importTs('bot/config.ts'))
  const real = botEnvironment(root, env)
  const { config, problems } = checkEnvironment(real)
  if (config !== undefined) return { config, problems }
  /** @type {NodeJS.ProcessEnv} */
  const patched = { ...real }
  for (const [key, value] of Object.entries(PLACEHOLDERS)) {
    if (problems.some((p) => p.startsWith(key))) patched[key] = value
  }
  return { config: checkEnvironment(patched).config, problems }
}

/**
 * The allowed user ids as the bot reads them (the first is the owner), or the bot's reason why
 * ALLOWED_USER_IDS is not usable — a bad id is never dropped silently.
 * @param {NodeJS.ProcessEnv} botEnv the environment the bot gets (see botEnvironment)
 * @returns {Promise<{ ids: readonly number[], problem: string | null }>}
 */
export async function allowedUserIds (botEnv) {
  const { config, problems } = await botSettings('/nonexistent', botEnv)
  const own = problems.find((p) => p.startsWith('ALLOWED_USER_IDS'))
  if (own !== undefined) return { ids: [], problem: own }
  return config === undefined ? { ids: [], problem: problems.join('; ') } : { ids: config.allowedUserIds, problem: null }
}
