// @ts-check
// The toolkit's Bot API client: node-telegram-bot-api's `Api`, the client the bot itself uses, on
// the bot's default API root (bot/config.ts), so ops and the bot always ask the same server. Errors
// are the client's: `TelegramApiError` (with `errorCode`) when Telegram answered, `NetworkError` or
// `TimeoutError` when it did not. Neither carries the request URL, which holds the token.
import { Api } from 'node-telegram-bot-api'
import { importTs } from './ts.mjs'

/**
 * A client for the token and API root in `env` (the bot's environment: .env plus the process).
 * @param {NodeJS.ProcessEnv} env @param {{ timeoutMs: number, maxRetries: number }} options
 */
export async function botApi (env, options) {
  const { DEFAULT_API_ROOT } = /** @type {typeof import('../../bot/config.ts')} */ (await importTs('bot/config.ts'))
  const apiRoot = env.TELEGRAM_API_ROOT?.trim() || DEFAULT_API_ROOT
  return { apiRoot, api: new Api(env.TELEGRAM_BOT_TOKEN?.trim() ?? '', { apiRoot, ...options }) }
}

/** Why a request got no answer, from the innermost cause ("connect ECONNREFUSED 127.0.0.1:9"). @param {unknown} err */
export function unreachableReason (err) {
  let inner = err
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause
  return inner instanceof Error ? inner.message : String(inner)
}
