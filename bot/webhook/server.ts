// The webhook's HTTP server: node:http on WEBHOOK_LISTEN, one path, POST only. Each request is
// judged (path 404, method 405, secret 401, size 413, body 400), then its update is applied
// through the same pipeline the poller uses and answered 200 only once that has committed (or the
// update was already applied). Updates of one chat wait in one line; other chats go side by side.
// A request that cannot be applied within COMMIT_TIMEOUT_MS is answered 503 (Telegram retries)
// instead of holding the connection: if it was still waiting it is skipped, if it was running it
// may still commit, and the retry then finds it applied and gets 200.
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import type * as T from 'node-telegram-bot-api/types'
import type { WebhookSettings } from '../config.js'
import type { Logger } from '../logger.js'
import { KeyedQueue } from './chat-queue.js'
import { MAX_BODY_BYTES, parseUpdate, queueKeyOf, readBody, SECRET_HEADER, secretMatches } from './request.js'

export const COMMIT_TIMEOUT_MS = 10_000
/** Stopping: idle connections are closed after this long without a request, at most after CLOSE_GRACE_MAX_MS. */
const CLOSE_QUIET_MS = 150
const CLOSE_GRACE_MAX_MS = 2000

export type WebhookServerOptions = {
  settings: WebhookSettings
  /** Applies the update exactly once; resolves after its transaction committed (or it was a duplicate). */
  apply: (update: T.Update) => Promise<void>
  /** After a 200: deliver the outbox, wake the reminder loop. Never awaited by the request. */
  afterCommit: () => void
  logger: Logger
  commitTimeoutMs?: number
  /** Several instances (bot/leader.ts): at the stop, let clients let go of their connections (see close). */
  letClientsLetGo?: boolean
}

export type WebhookServer = {
  host: string
  port: number
  /** host:port as bound (port 0 resolved). */
  address: string
  /** Answers given since start, by HTTP status. */
  answers: Map<number, number>
  /** Stops accepting, finishes the updates in hand (queued ones too), then resolves. */
  close: () => Promise<void>
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8' }

export async function startWebhookServer (o: WebhookServerOptions): Promise<WebhookServer> {
  const { settings, logger } = o
  const timeoutMs = o.commitTimeoutMs ?? COMMIT_TIMEOUT_MS
  const queue = new KeyedQueue()
  const inHand = new Set<Promise<unknown>>()
  const answers = new Map<number, number>()
  let closing = false
  let lastRequestAt = 0
  const sockets = new Set<net.Socket>()

  const answer = (res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void => {
    answers.set(status, (answers.get(status) ?? 0) + 1)
    if (res.headersSent || res.destroyed) return
    // A refused request's connection is closed: its unread body is not worth draining.
    const close = status !== 200 || closing ? { connection: 'close' } : {}
    res.writeHead(status, { ...TEXT, ...close, ...headers }).end(`${text}\n`)
  }

  const track = <P extends Promise<unknown>>(p: P): P => {
    inHand.add(p)
    void p.catch(() => {}).finally(() => inHand.delete(p))
    return p
  }

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const pathname = (req.url ?? '/').split('?')[0]
    if (pathname !== settings.path) return answer(res, 404, 'not found')
    if (req.method !== 'POST') return answer(res, 405, 'method not allowed: POST only', { allow: 'POST' })
    if (!secretMatches(req.headers[SECRET_HEADER], settings.secret)) {
      // One line, and never the header's value: a stranger's guess is not ours to keep.
      logger.warn({ remote: req.socket.remoteAddress, header: req.headers[SECRET_HEADER] === undefined ? 'missing' : 'wrong' }, 'webhook request refused (401): missing or wrong X-Telegram-Bot-Api-Secret-Token')
      return answer(res, 401, 'unauthorized')
    }
    // While stopping, a request that still arrives on an open keep-alive connection is applied (the
    // database is open until the requests in hand are done) and answered with Connection: close;
    // refusing it would only make Telegram wait and retry.
    lastRequestAt = performance.now()
    const body = await readBody(req, MAX_BODY_BYTES)
    if (!body.ok) {
      logger.warn({ limit: MAX_BODY_BYTES }, 'webhook request refused (413): body over 1 MB')
      return answer(res, 413, 'payload too large: the limit is 1 MB')
    }
    const parsed = parseUpdate(body.bytes)
    if ('problem' in parsed) {
      logger.warn({ problem: parsed.problem }, 'webhook request refused (400): not an update')
      return answer(res, 400, `bad request: ${parsed.problem}`)
    }
    const { update } = parsed
    const job = { cancelled: false, started: false }
    const work = track(queue.run(queueKeyOf(update), async () => {
      if (job.cancelled) return
      job.started = true
      await o.apply(update)
    }))
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), timeoutMs) })
    try {
      const outcome = await Promise.race([work, late])
      if (outcome === 'late') {
        job.cancelled = !job.started
        // If it still commits, its replies go out then, not only at the next update.
        if (job.started) void work.then(() => o.afterCommit(), () => {})
        logger.warn({ updateId: update.update_id, waitedMs: timeoutMs, started: job.started }, 'webhook update not committed in time; answered 503 so Telegram retries')
        return answer(res, 503, 'busy: not applied in time, retry', { 'retry-after': '1' })
      }
      answer(res, 200, 'ok')
      o.afterCommit()
    } catch (err) {
      // Not even recorded as failed (the database is failing): Telegram keeps the update and retries.
      logger.error({ updateId: update.update_id, err }, 'webhook update could not be applied; answered 500 so Telegram retries')
      answer(res, 500, 'internal error: not applied, retry')
    } finally {
      clearTimeout(timer)
    }
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      logger.warn({ err }, 'webhook request failed while reading it')
      if (!res.headersSent) answer(res, 400, 'bad request')
    })
  })
  // Telegram waits ~60 s at most; a client that sends nothing is not worth a socket for longer.
  server.requestTimeout = 30_000
  server.headersTimeout = 15_000
  server.maxConnections = Math.max(settings.maxConnections * 2, 20)
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = server.address() as AddressInfo
  const host = settings.host
  return {
    host,
    port: bound.port,
    address: `${host.includes(':') ? `[${host}]` : host}:${bound.port}`,
    answers,
    close: async () => {
      closing = true
      // ---- Several instances: the others serve meanwhile, so this one stops taking connections
      // but closes none itself: each answer now says Connection: close, and a connection left idle
      // is closed by the client after the Keep-Alive timeout we announced (a client closes a second
      // before it). Closing an idle one ourselves races a request the client sends on it (a reset
      // Telegram counts as a failed delivery; seen in pm2 reloads of 2 instances). http's close()
      // would close idle ones at once, so net's own close stops the accepting. ----
      if (o.letClientsLetGo === true) {
        const stopped = new Promise((resolve) => net.Server.prototype.close.call(server, resolve))
        const until = performance.now() + server.keepAliveTimeout + 1000
        while (sockets.size > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
        while (inHand.size > 0) await Promise.allSettled([...inHand])
        server.closeAllConnections()
        await stopped
        return
      }
      // ---- end several instances ----
      const closed = new Promise((resolve) => server.close(resolve))
      // An idle keep-alive connection closed at the instant the client sends on it resets that
      // request (seen in a reload under traffic). So they are closed only once no request has come
      // for a moment (each one answered meanwhile closes its own connection), at most 2 s.
      const until = performance.now() + CLOSE_GRACE_MAX_MS
      for (;;) {
        while (inHand.size > 0) await Promise.allSettled([...inHand])
        if (performance.now() - lastRequestAt >= CLOSE_QUIET_MS || performance.now() > until) break
        await new Promise((resolve) => setTimeout(resolve, CLOSE_QUIET_MS))
      }
      server.closeAllConnections()
      await closed
    },
  }
}
