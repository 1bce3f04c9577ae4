// Webhook mode's serving phase (the poller's counterpart in app.ts): the webhook server bound,
// Telegram pointed at it, the outbox drained after each committed update, and a graceful stop
// that stops accepting, finishes the requests in hand, and only then closes the database.
import type * as T from 'node-telegram-bot-api/types'
import { servingFacts, type RunningBot, type Serving } from '../app.js'
import { severalInstances } from '../leader.js'
import type { EarlyWebhook } from './early.js'
import { startWebhookServer } from './server.js'
import { registerWebhook, type WebhookInfoCache } from './telegram.js'

/** While replies are still queued (Telegram was unreachable), the outbox is tried again this often. */
export const OUTBOX_RETRY_MS = 5_000

/** Runs `fn` now, or once more after the run in progress: many kicks, few runs. */
function coalesced (fn: () => Promise<boolean>): { kick: () => void, idle: () => Promise<void>, lastEmptied: () => boolean } {
  let running: Promise<void> | undefined
  let again = false
  let emptied = true
  const kick = (): void => {
    if (running !== undefined) {
      again = true
      return
    }
    running = (async () => {
      do {
        again = false
        emptied = await fn()
      } while (again)
    })().finally(() => { running = undefined })
  }
  return { kick, idle: async () => { while (running !== undefined) await running }, lastEmptied: () => emptied }
}

/** `apply`: the pipeline for one update (resolves once committed, or known as a duplicate). */
/** `adoptEarly`: hands over the server a standby already listens on (bot/webhook/early.ts), or null: bind now. */
export async function serveWebhook (s: Serving, info: WebhookInfoCache, apply: (update: T.Update) => Promise<void>, adoptEarly: (() => EarlyWebhook) | null = null): Promise<RunningBot & { webhook: { address: string, port: number } }> {
  const settings = s.config.webhook
  if (settings === null) throw new Error('serveWebhook without TELEGRAM_WEBHOOK_URL')
  const drain = coalesced(() => s.delivery.flush().catch((err: unknown) => {
    s.logger.warn({ err }, 'outbox delivery failed; retrying shortly')
    return false
  }))
  // Replies still queued (Telegram was unreachable) are tried again; at the stop, the drain in hand finishes.
  await s.services.start('outbox retry', () => {
    // Several instances: the leader alone retries, whatever instance's replies are left (each
    // instance drains after its own commits; one drain at a time: UpdateLedger.exclusively).
    const several = severalInstances(s.config)
    const retry = setInterval(() => {
      if (!several) {
        if (!drain.lastEmptied()) drain.kick()
      } else if (s.leads()) {
        void s.ledger.backlog().then((n) => { if (n > 0) drain.kick() }, () => {})
      }
    }, OUTBOX_RETRY_MS)
    retry.unref()
    return retry
  }, async (retry) => {
    clearInterval(retry)
    await drain.idle()
  })
  // Telegram's view of the webhook, read once a minute for health.
  await s.services.start('webhook info', () => undefined, () => info.stop())
  // Bound before setWebhook, so Telegram's first POST finds us listening. Its stop stops
  // accepting and finishes the requests in hand, before anything below it stops.
  const server = await s.services.start('webhook server', async () => {
    if (adoptEarly !== null) {
      const early = adoptEarly()
      early.connect({ apply, afterCommit: () => drain.kick() })
      return early.server
    }
    return await startWebhookServer({ settings, apply, afterCommit: () => drain.kick(), logger: s.logger, letClientsLetGo: severalInstances(s.config) }).catch((err: unknown) => {
      throw new Error(`cannot listen for webhooks on ${settings.host}:${settings.port}: ${err instanceof Error ? err.message : String(err)}. Set WEBHOOK_LISTEN to a free host:port (the one your reverse proxy forwards to)`, { cause: err })
    })
  }, (server) => server.close())
  await registerWebhook(s.bot.api, settings)
  info.listen = server.address
  await info.refresh()
  info.start()
  s.logger.info({ listen: server.address, url: settings.url, maxConnections: settings.maxConnections }, 'webhook mode: listening; Telegram delivers to the URL')
  s.onServing()

  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => { finish = resolve })
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      s.logger.info('webhook mode: stopping; finishing the requests in hand')
      await s.services.stop()
      s.logger.info({ answers: Object.fromEntries(server.answers) }, 'webhook mode: stopped')
      finish()
    })()
    return stopping
  }

  return {
    done,
    stop,
    ready: Promise.resolve(),
    ...servingFacts(s),
    webhook: { address: server.address, port: server.port },
  }
}
