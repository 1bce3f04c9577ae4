// The Telegram Bot API on 127.0.0.1 for tests, benchmarks and `npm run try`: one object that
// serves the HTTP API, plays the user, shows what the bot did, and injects faults.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { METHODS, resolveMethod, type MethodContext } from './bot-methods.js'
import { ChatState } from './chat-state.js'
import { FaultBook, faultError } from './faults.js'
import { serveDownload } from './file-download.js'
import { FileStore } from './files.js'
import { normalizeParams, parseBody, readBody, type UploadedFile } from './request-body.js'
import { TelegramError, type Envelope } from './telegram-errors.js'
import type { ApiCall, BotMessage, CallbackAnswer, EmulatorChat, EmulatorOptions, EmulatorUser, Fault, Update } from './types.js'
import { UpdatesQueue } from './updates-queue.js'
import { callbackQuery, documentMessage, noteRawUpdate, textMessage, toWireChat, toWireUser } from './user-actions.js'
import { WebhookDelivery, type WebhookAttempt, type WebhookRetry, type WebhookSettings } from './webhook-delivery.js'

export type * from './types.js'
export type { WebhookAttempt, WebhookSettings } from './webhook-delivery.js'

export const DEFAULT_TOKEN = '123456:TEST-token-abcdefghijklmnopqrstuvwxyz'
export const DEFAULT_BOT_USERNAME = 'mister_todo_bot'
export const DEFAULT_WAIT_MS = 5000
const WAIT_POLL_MS = 5

/** A file the simulated user sends: its name, bytes, and optionally a caption and MIME type. */
export type UserDocument = { name: string, data: Buffer | Uint8Array | string, mimeType?: string, caption?: string }

export class BotApiEmulator {
  readonly apiRoot: string
  private readonly state: ChatState
  private readonly queue = new UpdatesQueue()
  private readonly files = new FileStore()
  private readonly faults = new FaultBook()
  private readonly log: ApiCall[] = []
  private readonly heldAnswers = new Map<string, number>()
  private readonly webhook: WebhookDelivery
  private readonly inFlight = new Set<AbortController>()
  private stopping: Promise<void> | undefined

  static async start (options: EmulatorOptions = {}): Promise<BotApiEmulator> {
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
    })
    const { port } = server.address() as AddressInfo
    return new BotApiEmulator(server, port, options.token ?? DEFAULT_TOKEN, options.botUsername ?? DEFAULT_BOT_USERNAME, options.webhookRetry)
  }

  private constructor (private readonly server: Server, readonly port: number, readonly token: string, botUsername: string, webhookRetry: WebhookRetry = { firstMs: 100, maxMs: 2000 }) {
    this.apiRoot = `http://127.0.0.1:${port}`
    this.webhook = new WebhookDelivery(this.queue, webhookRetry)
    this.queue.onPush = () => this.webhook.wake()
    const botId = Number.parseInt(token.split(':')[0] ?? '', 10)
    this.state = new ChatState({ id: Number.isFinite(botId) ? botId : 1, is_bot: true, first_name: 'Mister Todo', username: botUsername })
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { void this.handle(req, res) })
  }

  /** Closes the server: held long polls and hanging requests end with a dropped socket. */
  stop (): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.queue.abandon()
      this.webhook.stop()
      for (const controller of this.inFlight) controller.abort()
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
    return this.stopping
  }

  // ---- user side ----
  /** `replyTo`: the message id this one answers (Telegram then quotes it in reply_to_message). */
  sendText (user: EmulatorUser | number, chat: EmulatorChat | number, text: string, replyTo?: number): Update {
    const from = toWireUser(user)
    return this.queue.push({ message: textMessage(this.state, from, toWireChat(chat, from), text, replyTo) })
  }

  /** The user sends a file (any size: users may send up to 2 GB; the bot may fetch 20 MB of it). */
  sendDocument (user: EmulatorUser | number, chat: EmulatorChat | number, doc: UserDocument): Update {
    const from = toWireUser(user)
    const data = typeof doc.data === 'string' ? Buffer.from(doc.data, 'utf8') : Buffer.from(doc.data)
    const file = this.files.add(data, doc.name, doc.mimeType)
    return this.queue.push({ message: documentMessage(this.state, from, toWireChat(chat, from), file, doc.caption) })
  }

  /** The bytes of a file on the emulated Telegram (one the bot sent, say). */
  fileBytes (fileId: string): Buffer | undefined {
    return this.files.get(fileId)?.data
  }

  pressButton (user: EmulatorUser | number, chat: EmulatorChat | number, messageId: number, data: string): Update {
    const from = toWireUser(user)
    return this.queue.push({ callback_query: callbackQuery(this.state, from, toWireChat(chat, from), messageId, data) })
  }

  pushUpdate (payload: Record<string, unknown>): Update {
    noteRawUpdate(this.state, payload)
    return this.queue.push(structuredClone(payload))
  }

  // ---- what the bot did ----
  messages (chatId?: number): BotMessage[] { return this.state.messages(chatId) }
  calls (method?: string): ApiCall[] {
    return this.log.filter((c) => method === undefined || c.method === method).map((c) => ({ ...c }))
  }

  callbackAnswers (): CallbackAnswer[] { return this.state.callbackAnswers() }
  unansweredCallbacks (): string[] { return this.state.unansweredCallbacks() }

  async waitFor<T> (probe: () => T | undefined | false, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
    return this.waitUntil(probe, timeoutMs, () => 'waitFor: the condition')
  }

  /** The first bot message in the chat newer than every message there when this is called. */
  waitForMessage (chatId: number, predicate?: (m: BotMessage) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<BotMessage> {
    const after = this.state.lastMessageId(chatId)
    const test = (m: BotMessage): boolean => m.message_id > after && (predicate?.(m) ?? true)
    return this.waitUntil(() => this.state.firstMessage(chatId, test), timeoutMs, () => {
      const seen = this.state.messages(chatId).filter((m) => m.message_id > after).map((m) => `#${m.message_id} ${JSON.stringify(m.rendered)}`)
      return `waitForMessage: a new bot message in chat ${chatId}${predicate === undefined ? '' : ' matching the predicate'} ` +
        `(new messages: ${seen.length === 0 ? 'none' : seen.join(', ')})`
    })
  }

  // ---- Telegram-side state ----
  get confirmedOffset (): number { return this.queue.confirmedOffset }
  pendingUpdates (): Update[] { return this.queue.pending() }
  activePollers (): number { return this.queue.activePollers }
  /** The webhook as setWebhook left it (null: none set; updates wait for getUpdates). */
  webhookSettings (): WebhookSettings | null { return this.webhook.settings === null ? null : { ...this.webhook.settings } }
  /** Every webhook POST made, in order, with its answer. */
  webhookAttempts (): WebhookAttempt[] { return this.webhook.attempts.map((a) => ({ ...a })) }

  // ---- faults ----
  failNext (method: string, fault: Fault, times = 1): void { this.faults.failNext(method, fault, times) }
  failFor (method: string, fault: Fault, ms: number): void { this.faults.failFor(method, fault, ms) }
  clearFaults (): void { this.faults.clear() }
  setMethodDelay (method: string, ms: number): void { this.faults.setDelay(method, ms) }
  /** Carries out `method` at once but holds its answer back for `ms`: the bot's request took
   * effect while the bot has not heard so (a crash in that window tests "at most once"). */
  holdAnswers (method: string, ms: number): void {
    if (ms > 0) this.heldAnswers.set(method, ms)
    else this.heldAnswers.delete(method)
  }

  private async waitUntil<T> (probe: () => T | undefined | false, timeoutMs: number, what: () => string): Promise<T> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const value = probe()
      if (value !== undefined && value !== false) return value as T
      if (performance.now() >= deadline) {
        throw new Error(`${what()} did not happen within ${timeoutMs} ms; last API calls: ${this.recentCalls()}`)
      }
      await sleep(WAIT_POLL_MS)
    }
  }

  private recentCalls (): string {
    const recent = this.log.filter((c) => c.method !== 'getUpdates').slice(-5)
    if (recent.length === 0) return 'none besides getUpdates'
    return recent.map((c) => `${c.method} ${c.status}${c.description === undefined ? '' : ` (${c.description})`}`).join('; ')
  }

  // ---- HTTP ----
  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.apiRoot)
    if (url.pathname.startsWith('/file/')) {
      serveDownload(url, res, { token: this.token, files: this.files, faults: this.faults, log: this.log, answer: (r, c, status, envelope) => this.answer(r, c, status, envelope) })
      return
    }
    const route = /^\/bot([^/]*)\/([^/]+)\/?$/.exec(url.pathname)
    const call: ApiCall = { method: route?.[2] ?? url.pathname, params: {}, at: Date.now(), status: 0 }
    this.log.push(call)
    const controller = new AbortController()
    this.inFlight.add(controller)
    res.on('close', () => {
      this.inFlight.delete(controller)
      if (!res.writableFinished) controller.abort()
    })
    try {
      const body = await readBody(req)
      const uploads = new Map<string, UploadedFile>()
      call.params = normalizeParams(parseBody(req.headers['content-type'], body, url.searchParams, uploads))
      if (route === null) throw new TelegramError(404)
      if (decodeURIComponent(route[1] ?? '') !== this.token) throw new TelegramError(401)
      const method = resolveMethod(route[2] ?? '')
      const handler = method === undefined ? undefined : METHODS[method]
      if (method === undefined || handler === undefined) throw new TelegramError(404)
      call.method = method
      const fault = this.faults.take(method)
      if (fault !== undefined) {
        const error = faultError(fault)
        if (error !== undefined) throw error
        if ('hangMs' in fault) await sleep(fault.hangMs, undefined, { signal: controller.signal })
        res.destroy()
        return
      }
      const delay = this.faults.delayFor(method)
      if (delay > 0) await sleep(delay, undefined, { signal: controller.signal })
      const context: MethodContext = { state: this.state, queue: this.queue, webhook: this.webhook, signal: controller.signal, files: this.files, uploads }
      const result = await handler(call.params, context)
      const hold = this.heldAnswers.get(method) ?? 0
      if (hold > 0) await sleep(hold, undefined, { signal: controller.signal })
      this.answer(res, call, 200, { ok: true, result })
    } catch (err) {
      if (controller.signal.aborted) return
      const error = err instanceof TelegramError
        ? err
        : new TelegramError(500, `Internal Server Error: ${err instanceof Error ? err.message : String(err)}`)
      this.answer(res, call, error.status, error.envelope())
    }
  }

  private answer (res: ServerResponse, call: ApiCall, status: number, envelope: Envelope): void {
    if (res.writableEnded || res.destroyed) return
    call.status = status
    if (!envelope.ok) call.description = envelope.description
    const body = JSON.stringify(envelope)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
}
