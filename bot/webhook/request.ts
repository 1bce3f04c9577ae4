// Reading and judging one webhook request: the secret header (compared in constant time), the
// body (read up to a limit and no further), and whether the body is a Telegram update at all.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type * as T from 'node-telegram-bot-api/types'

export const SECRET_HEADER = 'x-telegram-bot-api-secret-token'
/** Telegram's updates are far smaller; anything over this is refused unread. */
export const MAX_BODY_BYTES = 1024 * 1024

/** Equal-length digests, so neither the secret's length nor its prefix leaks through timing. */
export function secretMatches (given: string | string[] | undefined, secret: string): boolean {
  if (typeof given !== 'string' || secret === '') return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(secret).digest()
  return timingSafeEqual(a, b)
}

export type Body = { ok: true, bytes: Buffer } | { ok: false, tooLarge: true }

/** Reads the body, stopping (and pausing the socket) as soon as it passes `limit`. */
export function readBody (req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Body> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve({ ok: false, tooLarge: true })
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        req.off('data', onData)
        req.pause()
        resolve({ ok: false, tooLarge: true })
        return
      }
      chunks.push(chunk)
    }
    req.on('data', onData)
    req.once('end', () => { if (size <= limit) resolve({ ok: true, bytes: Buffer.concat(chunks) }) })
    req.once('error', reject)
    req.once('aborted', () => reject(new Error('request aborted by the client')))
  })
}

/** The update in a body, or why it is not one (a 400's text). */
export function parseUpdate (bytes: Buffer): { update: T.Update } | { problem: string } {
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch {
    return { problem: 'the body is not JSON' }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { problem: 'the body is not a Telegram update (a JSON object)' }
  const id = (value as { update_id?: unknown }).update_id
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return { problem: 'the body is not a Telegram update (no update_id)' }
  return { update: value as T.Update }
}

/** Which line an update waits in: its chat, else its sender, else its own. */
export function queueKeyOf (update: T.Update): string {
  const u = update as Record<string, unknown>
  for (const field of ['message', 'edited_message', 'channel_post', 'edited_channel_post', 'my_chat_member', 'chat_member', 'chat_join_request']) {
    const chat = (u[field] as { chat?: { id?: unknown } } | undefined)?.chat?.id
    if (typeof chat === 'number') return `chat:${chat}`
  }
  const cb = u.callback_query as { message?: { chat?: { id?: unknown } }, from?: { id?: unknown } } | undefined
  if (typeof cb?.message?.chat?.id === 'number') return `chat:${cb.message.chat.id}`
  for (const value of Object.values(u)) {
    const from = (value as { from?: { id?: unknown } } | null)?.from?.id
    if (typeof from === 'number') return `user:${from}`
  }
  return `update:${update.update_id}`
}
