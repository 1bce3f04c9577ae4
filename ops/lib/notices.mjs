// @ts-check
// Notices through the bot's own token: the maintenance announcement to the allowed users' chats
// (deploy --announce) and the outcome of a deploy or rollback to the owner (the first allowed id).
// Best effort: a notice that cannot be sent never fails a deploy, and the request URL (which holds
// the token) is never printed.
import { chalk } from 'zx'
import { allowedUserIds } from './settings.mjs'
import { botApi } from './telegram.mjs'

/**
 * The allowed users' ids as the bot reads them; the first is the owner. A value the bot would
 * refuse sends nothing and says why.
 * @param {NodeJS.ProcessEnv} env
 */
async function recipients (env) {
  const { ids, problem } = await allowedUserIds(env)
  if (problem !== null) process.stdout.write(`${chalk.yellow('!')} notice  not sent: ${problem}\n`)
  return ids
}

/**
 * Sends `text` to each chat with the bot's token; returns how many got it. Never throws and never
 * prints the request URL (it holds the token).
 * @param {NodeJS.ProcessEnv} env @param {readonly number[]} chats @param {string} text
 */
export async function sendNotice (env, chats, text) {
  const { api } = await botApi(env, { timeoutMs: 5_000, maxRetries: 1 })
  let sent = 0
  for (const chat of chats) {
    if (await api.sendMessage({ chat_id: chat, text }).then(() => true, () => false)) sent += 1
  }
  return sent
}

export const DEFAULT_ANNOUNCEMENT = 'Mister Todo is being updated; back in a minute.'

/** Sends the maintenance notice to each allowed user's chat. @param {NodeJS.ProcessEnv} env @param {string} text */
export async function announce (env, text) {
  const ids = await recipients(env)
  const sent = await sendNotice(env, ids, text.trim() === '' ? DEFAULT_ANNOUNCEMENT : text)
  return `notice sent to ${sent} of ${ids.length} chat(s)`
}

/**
 * Tells the owner (the first of ALLOWED_USER_IDS) how a deploy or rollback ended; best effort, a
 * failed notice is a warning line, not a failed deploy.
 * @param {NodeJS.ProcessEnv} env @param {string} text
 */
export async function notifyOwner (env, text) {
  const owner = (await recipients(env))[0]
  const sent = owner === undefined ? 0 : await sendNotice(env, [owner], text)
  process.stdout.write(sent === 1 ? `${chalk.green('✓')} notice  sent to the owner's chat\n` : `${chalk.yellow('!')} notice  could not reach the owner's chat\n`)
}
