// A standby in webhook mode listens already: under PM2 cluster mode the primary shares the port
// between the old worker and the new one, so while the old one finishes and lets go, Telegram's
// requests reach the standby and wait there for the take-over (up to the server's commit timeout,
// then 503) instead of meeting a closed port and Telegram's retry delay. Where the port cannot be
// shared (no cluster mode: `npm run bot` beside a running bot), the standby listens at take-over.
import type * as T from 'node-telegram-bot-api/types'
import type { WebhookSettings } from '../config.js'
import type { Logger } from '../logger.js'
import { startWebhookServer, type WebhookServer } from './server.js'

type Connection = { apply: (update: T.Update) => Promise<void>, afterCommit: () => void }

export type EarlyWebhook = {
  server: WebhookServer
  /** At take-over: from now on requests are applied; those waiting go first. */
  connect: (c: Connection) => void
  /** The standby ends without taking over: waiting requests get 500 (Telegram retries), then closed. */
  abandon: () => Promise<void>
}

/** `letClientsLetGo`: several instances (see server.ts's close). */
export async function listenAtStandby (settings: WebhookSettings, logger: Logger, letClientsLetGo = false): Promise<EarlyWebhook | null> {
  let connected: Connection | undefined
  let settle: { resolve: (c: Connection) => void, reject: (err: Error) => void } | undefined
  const ready = new Promise<Connection>((resolve, reject) => { settle = { resolve, reject } })
  ready.catch(() => {})
  try {
    const server = await startWebhookServer({
      settings,
      logger,
      letClientsLetGo,
      apply: async (update) => { await (connected ?? await ready).apply(update) },
      afterCommit: () => connected?.afterCommit(),
    })
    logger.info({ listen: server.address }, 'standby: listening for webhooks; requests wait for the take-over')
    return {
      server,
      connect: (c) => {
        connected = c
        settle?.resolve(c)
      },
      abandon: async () => {
        settle?.reject(new Error('this standby did not take over'))
        await server.close()
      },
    }
  } catch (err) {
    logger.info({ err: err instanceof Error ? err.message : String(err) }, 'standby: the webhook port is not shared (not under PM2 cluster mode); listening at take-over')
    return null
  }
}
