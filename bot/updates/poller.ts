// Long polling that resumes from the offset stored in the database, stops at once when asked
// (the open request is aborted, the update in hand is finished), and rides out Bot API trouble:
// 409 from an old poller still alive, 429, 5xx and network errors back off; only a rejected
// token is fatal.
import { setTimeout as sleep } from 'node:timers/promises'
import { TelegramApiError, type Api } from 'node-telegram-bot-api'
import type * as T from 'node-telegram-bot-api/types'
import { AppError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { UpdateLedger } from './ledger.js'

export const ALLOWED_UPDATES = ['message', 'edited_message', 'callback_query', 'my_chat_member']
const MAX_BACKOFF_MS = 30_000

export type PollState = {
  lastPollAt: number | null
  lastError: string | null
  failingSince: number | null
  polls: number
  /** getUpdates calls that failed (after the library's own retries), since start. */
  failures: number
}

export type PollOptions = {
  api: Api
  ledger: UpdateLedger
  handle: (update: T.Update) => Promise<void>
  /** Runs the handling of one batch of updates (one transaction for all: UpdateLedger.batch). */
  batch?: (work: () => Promise<void>) => Promise<void>
  afterPoll: () => Promise<unknown>
  timeoutS: number
  signal: AbortSignal
  logger: Logger
  state: PollState
  onFirstPoll?: () => void
}

/** The fatal error for a token Telegram rejects, named with its fix. */
export function tokenRejected (cause: unknown): AppError {
  return new AppError('ETOKEN', 'Telegram rejected the bot token (401 Unauthorized): check TELEGRAM_BOT_TOKEN in .env, or ask @BotFather for a new one', { cause })
}

function describe (err: unknown): string {
  if (err instanceof TelegramApiError) return `${err.errorCode} ${err.description}`
  return err instanceof Error ? err.message : String(err)
}

export async function pollUpdates (o: PollOptions): Promise<void> {
  const last = await o.ledger.lastUpdateId()
  let offset = last === undefined ? undefined : last + 1
  let failures = 0
  let first = true
  let endedBy409 = false
  while (!o.signal.aborted) {
    let updates: T.Update[]
    try {
      // The first poll does not wait: readiness needs its answer, not a long poll's worth of silence.
      updates = await o.api.getUpdates({ offset, timeout: first ? 0 : o.timeoutS, limit: 100, allowed_updates: ALLOWED_UPDATES as T.GetUpdatesParams['allowed_updates'] }, o.signal)
    } catch (err) {
      // Stopping: the open poll was aborted, or ended by the next poller's getUpdates (409 —
      // the version taking over). Either way polling is over, not failing.
      if (o.signal.aborted) {
        endedBy409 = err instanceof TelegramApiError && err.errorCode === 409
        break
      }
      if (err instanceof TelegramApiError && err.errorCode === 401) {
        throw tokenRejected(err)
      }
      failures++
      o.state.failures++
      o.state.lastError = describe(err)
      o.state.failingSince ??= Date.now()
      const retryAfter = err instanceof TelegramApiError ? err.retryAfter : undefined
      const wait = retryAfter !== undefined ? retryAfter * 1000 : Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(failures - 1, 6))
      const conflict = err instanceof TelegramApiError && err.errorCode === 409
      o.logger.warn({ err, attempt: failures, retryInMs: wait }, conflict ? 'getUpdates conflict: another instance is polling with this token; retrying' : 'getUpdates failed; retrying')
      // Stopping ends the back-off at once (an AbortError); the loop's condition then ends polling.
      await sleep(wait, undefined, { signal: o.signal }).catch(() => undefined)
      continue
    }
    failures = 0
    o.state.polls++
    o.state.lastPollAt = Date.now()
    o.state.lastError = null
    o.state.failingSince = null
    if (first) {
      first = false
      o.onFirstPoll?.()
    }
    const handleAll = async (): Promise<void> => {
      for (const update of updates) {
        if (offset !== undefined && update.update_id < offset) continue
        if (o.signal.aborted) break
        await o.handle(update)
        offset = update.update_id + 1
      }
    }
    if (updates.length > 0) await (o.batch ?? ((work) => work()))(handleAll)
    await o.afterPoll()
  }
  o.logger.info({ endedBy409 }, 'polling ended for the stop')
}
