// Delivers the outbox in order within each chat, several chats at once: a Bot API round trip is
// tens of milliseconds from a server, and one chat's replies need not wait for another's. A reply
// Telegram rejects for good (400, 403) is dropped with a warning; one that failed for a passing
// reason (network, 5xx, 429 after retries) stays queued, with the rest of its chat's replies
// behind it, and is tried again on the next flush, so a reply is never lost, only late.
import { InputFile, TelegramApiError, type Api } from 'node-telegram-bot-api'
import type * as T from 'node-telegram-bot-api/types'
import type { Logger } from '../logger.js'
import type { OutboxRow, UpdateLedger } from './ledger.js'

type Sender = (api: Api, params: Record<string, unknown>, file: Uint8Array | undefined) => Promise<unknown>

/** In the outbox a sendDocument's `document` is `{ filename, content_type }`; the bytes are the
 * row's file (see ledger.ts). An upload is re-sent whole on a retry. */
function sendDocument (api: Api, params: Record<string, unknown>, file: Uint8Array | undefined): Promise<unknown> {
  if (file === undefined) throw new Error('sendDocument without its file in the outbox row')
  const meta = (params.document ?? {}) as { filename?: string, content_type?: string }
  const document = new InputFile(file, { filename: meta.filename ?? 'file', contentType: meta.content_type ?? 'application/octet-stream' })
  return api.sendDocument({ ...(params as unknown as T.SendDocumentParams), document })
}

const SENDERS: Record<string, Sender> = {
  sendMessage: (api, p) => api.sendMessage(p as unknown as T.SendMessageParams),
  editMessageText: (api, p) => api.editMessageText(p as unknown as T.EditMessageTextParams),
  editMessageReplyMarkup: (api, p) => api.editMessageReplyMarkup(p as unknown as T.EditMessageReplyMarkupParams),
  answerCallbackQuery: (api, p) => api.answerCallbackQuery(p as unknown as T.AnswerCallbackQueryParams),
  deleteMessage: (api, p) => api.deleteMessage(p as unknown as T.DeleteMessageParams),
  sendDocument,
}

const PAGE = 100
/** Chats whose replies are in flight at once (Telegram allows about 30 messages a second per bot). */
const CHATS_AT_ONCE = 8

/** Replies of one chat go out one after another; those without a chat (a callback answer) share a lane. */
function laneOf (row: OutboxRow): string {
  const chat = row.params.chat_id
  return typeof chat === 'number' || typeof chat === 'string' ? String(chat) : ''
}

export type DeliveryStats = { sent: number, dropped: number, failures: number }

function isPermanent (err: unknown): err is TelegramApiError {
  return err instanceof TelegramApiError && err.errorCode >= 400 && err.errorCode < 500 && err.errorCode !== 429
}

/** Runs a write in turn with the process's other writers (app.ts: the WriteGate). */
export type TakeTurn = <T>(write: () => Promise<T>) => Promise<T>

export class OutboxDelivery {
  readonly stats: DeliveryStats = { sent: 0, dropped: 0, failures: 0 }
  private running: Promise<boolean> | undefined

  /**
   * `inTurn`: only the drain's delete takes turns with the other writers. Its reads and its Bot
   * API requests do not, so in webhook mode on SQLite (every request takes the gate) a request is
   * applied while another chat's replies are in flight; SQLite's WAL lets the read run beside an
   * open transaction.
   */
  constructor (private readonly api: Api, private readonly ledger: UpdateLedger, private readonly logger: Logger, private readonly inTurn: TakeTurn = (write) => write()) {}

  /** Sends everything queued; resolves true when the outbox is empty. A call during a run waits
   * for it and drains again, so rows queued meanwhile are never left for a later poll. Never
   * called while holding the write gate: its delete takes a turn there, and would wait forever. */
  flush (): Promise<boolean> {
    if (this.running !== undefined) return this.running.then(() => this.flush())
    // Several instances: one drain at a time across processes (UpdateLedger.exclusively).
    this.running = this.ledger.exclusively(() => this.drain()).finally(() => { this.running = undefined })
    return this.running
  }

  /** Resolves when no drain is running (a stop waits for the one in hand). */
  async idle (): Promise<void> {
    while (this.running !== undefined) await this.running.catch(() => {})
  }

  private async drain (): Promise<boolean> {
    for (;;) {
      const rows = await this.ledger.pending(PAGE)
      // Delivered rows are forgotten a page at a time, in one statement: a crash before that
      // statement sends those replies again (late or twice, never lost); the updates' effects
      // are committed already and never repeat.
      const done: number[] = []
      let allDone = true
      try {
        const lanes = new Map<string, OutboxRow[]>()
        for (const row of rows) {
          const key = laneOf(row)
          const lane = lanes.get(key)
          if (lane === undefined) lanes.set(key, [row])
          else lane.push(row)
        }
        const waiting = [...lanes.values()]
        const worker = async (): Promise<void> => {
          for (let lane = waiting.shift(); lane !== undefined; lane = waiting.shift()) {
            for (const row of lane) {
              // A reply that must wait holds back the rest of its chat, not the other chats.
              if (!await this.deliver(row)) {
                allDone = false
                break
              }
              done.push(row.id)
            }
          }
        }
        await Promise.all(Array.from({ length: Math.min(CHATS_AT_ONCE, waiting.length) }, worker))
      } finally {
        await this.inTurn(() => this.ledger.delivered(done))
      }
      if (!allDone) return false
      // A short page was the whole outbox: no need to ask again.
      if (rows.length < PAGE) return true
    }
  }

  /** Sends one row; true when it is done with (sent, or dropped for good). */
  private async deliver (row: OutboxRow): Promise<boolean> {
    const send = SENDERS[row.method]
    try {
      if (send === undefined) throw new Error(`unknown outbox method ${row.method}`)
      await send(this.api, row.params, row.hasFile ? await this.ledger.fileOf(row.id) : undefined)
      this.stats.sent++
    } catch (err) {
      if (err instanceof TelegramApiError && /message is not modified/.test(err.description)) {
        this.stats.sent++
      } else if (isPermanent(err) || send === undefined) {
        this.stats.dropped++
        this.logger.warn({ updateId: row.updateId, method: row.method, err }, 'reply rejected by Telegram; dropped')
      } else {
        this.stats.failures++
        this.logger.warn({ updateId: row.updateId, method: row.method, err }, 'reply not delivered yet; will retry')
        return false
      }
    }
    return true
  }
}
