// Handles one update, once: allow-list gate, then the command inside a transaction that also
// records the update id and the replies. The replies are delivered by the poller's outbox drain
// after the whole getUpdates batch (one drain per batch, not one per update).
import type { Knex } from 'knex'
import type { Api } from 'node-telegram-bot-api'
import type * as T from 'node-telegram-bot-api/types'
import { refuse, senderOf } from '../access.js'
import { settingsFrom, settingsQuery } from '../chats/settings.js'
import type { Dispatch } from '../commands/index.js'
import { UserInputError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Metrics } from '../metrics.js'
import type { OpenGate } from '../open/rate-limit.js'
import { escapeHtml } from '../tasks/render.js'
import type { Attachment, AttachmentLoader } from '../transfer/attachment.js'
import type { TurnFactory } from '../turn.js'
import { ChatBusy, type LedgerBatch, type Outgoing, type UpdateLedger } from './ledger.js'

export const SORRY = 'Sorry, something went wrong on my side and that was not saved. Please try again in a moment.'

export type PipelineDeps = {
  api: Api
  ledger: UpdateLedger
  dispatch: Dispatch
  allowedUserIds: readonly number[]
  metrics: Metrics
  logger: Logger
  /** Builds the turn (repositories bound to the update's transaction, the chat's settings). */
  newTurn: TurnFactory
  /** Fetches the file an /import names, before the transaction (a download must not hold it open). */
  attachments?: AttachmentLoader
  /** Open mode (issue 15): lets everyone in with ALLOWED_USER_IDS=*, and counts updates against the per-user rate limit. */
  open?: OpenGate
}

function chatOf (update: T.Update): number | undefined {
  if ('message' in update) return update.message.chat.id
  if ('edited_message' in update) return update.edited_message.chat.id
  if ('callback_query' in update) return update.callback_query.message?.chat.id
  return undefined
}

/** The replies for an update that could not be applied: the reason, and the button answered. */
function failureReplies (update: T.Update, chatId: number, text: string): Outgoing[] {
  const out: Outgoing[] = [{ method: 'sendMessage', params: { chat_id: chatId, text: escapeHtml(text), parse_mode: 'HTML' } }]
  if ('callback_query' in update) out.unshift({ method: 'answerCallbackQuery', params: { callback_query_id: update.callback_query.id } })
  return out
}

/** The pipeline for one update; `prefetch` fetches ahead, outside any transaction, the file an /import names. */
export type Pipeline = ((update: T.Update, batch?: LedgerBatch) => Promise<void>) & { prefetch: (update: T.Update) => Promise<void> }

export function createPipeline (deps: PipelineDeps): Pipeline {
  const allowed = new Set(deps.allowedUserIds)
  const { ledger, logger, metrics } = deps
  // ---- open mode (issue 15) ----
  const admitted = (userId: number): boolean => deps.open?.openToAll === true || allowed.has(userId)
  // ---- end open mode ----
  // Webhook group commit: a download is made before the update joins a group's transaction, so
  // no group (and none of its other chats) waits for it.
  const fetched = new WeakMap<T.Update, Promise<Attachment | undefined>>()
  const prefetch = async (update: T.Update): Promise<void> => {
    const userId = senderOf(update)
    if (deps.attachments === undefined || userId === undefined || !admitted(userId)) return
    const attachment = deps.attachments(update)
    fetched.set(update, attachment)
    await attachment.catch(() => {})
  }

  // `batch`: a webhook group's (UpdateLedger.group); else the polled batch in hand, or none.
  return Object.assign(async (update: T.Update, batch?: LedgerBatch) => {
    const started = performance.now()
    const updateId = update.update_id
    const userId = senderOf(update)
    const chatId = chatOf(update)
    if (userId === undefined || chatId === undefined || !admitted(userId)) {
      if (!await ledger.handleOnce(updateId, async () => [], undefined, batch)) return
      if (userId !== undefined && !admitted(userId)) {
        metrics.refused++
        logger.info({ updateId, userId }, 'refused: user not on the allow-list')
        await refuse(deps.api, update, userId).catch((err: unknown) => logger.warn({ updateId, err }, 'refusal not delivered'))
      }
      return
    }
    const attachment = await (fetched.get(update) ?? deps.attachments?.(update))
    // The chat's lock (several instances: its updates one at a time across processes) and its
    // settings come with the claim of the update id, in one round trip on PostgreSQL.
    const chat = { id: chatId, read: (trx: Knex.Transaction) => settingsQuery(trx, chatId) }
    const apply = async (trx: Knex.Transaction, chatRows: readonly unknown[]): Promise<Outgoing[]> => {
      // ---- open mode (issue 15): over the rate limit, the update is recorded with "Slow down" once a minute, else nothing ----
      const limited = await deps.open?.overLimit(trx, userId, chatId, update)
      if (limited !== undefined && limited !== null) return limited
      // ---- end open mode ----
      const turn = deps.newTurn(trx, chatId, updateId, settingsFrom(chatRows))
      turn.attachment = attachment
      await deps.dispatch(turn, update, trx)
      if ('callback_query' in update && !turn.outgoing.some((o) => o.method === 'answerCallbackQuery')) {
        turn.answer(update.callback_query.id)
      }
      return turn.outgoing
    }
    try {
      const applied = await ledger.handleOnce(updateId, apply, chat, batch)
      if (!applied) metrics.duplicates++
    } catch (err) {
      // Its chat is another process's for now: applied again once the batch has committed (webhook group commit).
      if (err instanceof ChatBusy) throw err
      // The transaction rolled back: nothing of this update is stored. Record it as handled with
      // an explanation, so a bad command is answered once instead of failing forever.
      if (!(err instanceof UserInputError)) {
        metrics.errors++
        logger.error({ updateId, err }, 'update failed')
      }
      const text = err instanceof UserInputError ? err.message : SORRY
      await ledger.handleOnce(updateId, async () => failureReplies(update, chatId, text), undefined, batch)
    }
    metrics.recordUpdate(performance.now() - started)
    logger.debug({ updateId, ms: Math.round((performance.now() - started) * 100) / 100 }, 'update handled')
  }, { prefetch })
}
