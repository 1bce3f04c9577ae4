// Telegram's side of the mode switch: setWebhook at take-over in webhook mode, deleteWebhook
// (pending updates kept) before the first getUpdates in polling mode, and getWebhookInfo read on
// a timer for health (a /healthz request never waits for Telegram).
import { setTimeout as sleep } from 'node:timers/promises'
import { TelegramApiError, type Api } from 'node-telegram-bot-api'
import type * as T from 'node-telegram-bot-api/types'
import type { WebhookSettings } from '../config.js'
import { AppError } from '../errors.js'
import type { Logger } from '../logger.js'
import { ALLOWED_UPDATES } from '../updates/poller.js'

export const WEBHOOK_INFO_EVERY_MS = 60_000
const CATCH_UP_ATTEMPTS = 8

function describe (err: unknown): string {
  if (err instanceof TelegramApiError) return `${err.errorCode} ${err.description}`
  return err instanceof Error ? err.message : String(err)
}

/** Points Telegram at our URL, with the secret it must send back. Pending updates are kept. */
export async function registerWebhook (api: Api, settings: WebhookSettings): Promise<void> {
  try {
    await api.setWebhook({
      url: settings.url,
      secret_token: settings.secret,
      allowed_updates: ALLOWED_UPDATES as T.SetWebhookParams['allowed_updates'],
      max_connections: settings.maxConnections,
      drop_pending_updates: false,
    })
  } catch (err) {
    throw new AppError('EWEBHOOK', `Telegram refused setWebhook for ${settings.url} (${describe(err)}): check TELEGRAM_WEBHOOK_URL is the public https address your proxy serves, or unset it to poll`, { cause: err })
  }
}

export type CatchUp = {
  /** The newest handled update id (the poller resumes after it). */
  lastHandled: () => Promise<number | undefined>
  handle: (update: T.Update) => Promise<void>
  afterBatch: () => Promise<unknown>
}

/**
 * Before polling, when a webhook is set (the bot ran in webhook mode): deletes it, keeping what
 * Telegram holds, so getUpdates stops answering 409. Webhook mode applies chats side by side, so
 * Telegram may still hold an update older than the newest one handled (a chat's update answered
 * 503 while another chat's went through); the poller resumes after the newest handled id and
 * would confirm such an update away unseen, so those are fetched and applied first (an id already
 * handled is skipped by the ledger). Returns how many were caught up.
 */
export async function leaveWebhookMode (api: Api, logger: Logger, catchUp: CatchUp, known?: T.WebhookInfo): Promise<number> {
  // Asked at standby (`known`), so the usual answer — no webhook — costs the take-over no round trip.
  if (known?.url === '') return 0
  let info: T.WebhookInfo
  try {
    info = known ?? await api.getWebhookInfo()
    if (info.url === '') return 0
    await api.deleteWebhook({ drop_pending_updates: false })
  } catch (err) {
    logger.warn({ err }, 'could not check for or delete a webhook; if one is still set, getUpdates answers 409 until it is deleted (unset TELEGRAM_WEBHOOK_URL and restart, or call deleteWebhook)')
    return 0
  }
  logger.info({ url: info.url, pending: info.pending_update_count }, 'webhook deleted: back to polling, pending updates kept')
  const last = await catchUp.lastHandled()
  if (last === undefined || info.pending_update_count === 0) return 0
  let offset: number | undefined
  let count = 0
  let failures = 0
  for (;;) {
    let updates: T.Update[]
    try {
      updates = await api.getUpdates({ offset, timeout: 0, limit: 100, allowed_updates: ALLOWED_UPDATES as T.GetUpdatesParams['allowed_updates'] })
    } catch (err) {
      // The webhook is gone already, so a later start would not know to look: try for a while.
      if (++failures >= CATCH_UP_ATTEMPTS) {
        logger.error({ err, caughtUp: count }, 'could not fetch the updates Telegram held from webhook mode; polling resumes after the newest handled one, so an older held update may be skipped')
        return count
      }
      logger.warn({ err, attempt: failures }, 'getUpdates failed while catching up after webhook mode; retrying')
      await sleep(Math.min(8000, 250 * 2 ** failures))
      continue
    }
    const older = updates.filter((u) => u.update_id <= last)
    if (older.length === 0) break
    for (const update of older) await catchUp.handle(update)
    await catchUp.afterBatch()
    count += older.length
    offset = (older.at(-1)?.update_id ?? last) + 1
  }
  if (count > 0) logger.info({ count }, 'caught up updates Telegram still held from webhook mode')
  return count
}

export type TelegramWebhookInfo = {
  /** The URL Telegram delivers to ('' when none is set), as last read. */
  url: string | null
  pendingUpdateCount: number | null
  lastErrorMessage: string | null
  lastErrorAt: string | null
  /** When getWebhookInfo last answered, and why the last read failed (null: it did not). */
  checkedAt: string | null
  readError: string | null
}

export class WebhookInfoCache {
  private info: TelegramWebhookInfo = { url: null, pendingUpdateCount: null, lastErrorMessage: null, lastErrorAt: null, checkedAt: null, readError: null }
  private timer: NodeJS.Timeout | undefined
  /** Where the webhook server listens, once bound (port 0 resolved). */
  listen: string | undefined

  constructor (private readonly api: Api, private readonly logger: Logger, private readonly everyMs = WEBHOOK_INFO_EVERY_MS) {}

  get (): TelegramWebhookInfo { return { ...this.info } }

  async refresh (): Promise<void> {
    try {
      const i: T.WebhookInfo = await this.api.getWebhookInfo()
      this.info = {
        url: i.url,
        pendingUpdateCount: i.pending_update_count,
        lastErrorMessage: i.last_error_message ?? null,
        lastErrorAt: i.last_error_date === undefined ? null : new Date(i.last_error_date * 1000).toISOString(),
        checkedAt: new Date().toISOString(),
        readError: null,
      }
    } catch (err) {
      this.info = { ...this.info, readError: describe(err) }
      this.logger.debug({ err }, 'getWebhookInfo failed; health shows the last answer')
    }
  }

  start (): void {
    this.timer ??= setInterval(() => { void this.refresh() }, this.everyMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}
