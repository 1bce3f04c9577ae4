// The fetch the bot gives node-telegram-bot-api for its Bot API calls: a plain node:http(s) request
// on a keep-alive connection. Node's built-in fetch (undici) builds web streams, a Request, a
// Response and their Headers for every call; in the throughput profile that was a fifth of the
// bot's CPU, for requests that are a short form body and a short JSON answer. What the library
// reads of the answer is its status and its text; that is what this returns. A body that is not a
// plain form (an upload: a stream or a Blob) goes through the built-in fetch, as before.
// See docs/decisions.md, "Bot API calls over node:http".
import http from 'node:http'
import https from 'node:https'

/** Per protocol: the module that makes the request and its kept-alive connections. */
const CLIENTS = {
  'http:': { request: http.request, agent: new http.Agent({ keepAlive: true }) },
  'https:': { request: https.request, agent: new https.Agent({ keepAlive: true }) },
} as const

/** The part of a Response the library and the error counter read. */
export type LeanResponse = Pick<Response, 'status' | 'ok' | 'statusText' | 'text' | 'json'>

type Init = NonNullable<Parameters<typeof fetch>[1]>

function plainHeaders (headers: Init['headers']): Record<string, string> | undefined {
  if (headers === undefined) return {}
  if (headers instanceof Headers || Array.isArray(headers)) return undefined
  return headers as Record<string, string>
}

/** A fetch-shaped network failure: what the built-in fetch throws, so callers classify it alike. */
function fetchFailed (cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause })
}

export const httpFetch = (async (input: Parameters<typeof fetch>[0], init?: Init): Promise<LeanResponse> => {
  const body = init?.body
  const headers = plainHeaders(init?.headers)
  const text = typeof body === 'string' ? body : body instanceof URLSearchParams ? body.toString() : body === undefined || body === null ? '' : undefined
  const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : undefined
  const client = url === undefined ? undefined : CLIENTS[url.protocol as keyof typeof CLIENTS]
  if (text === undefined || headers === undefined || url === undefined || client === undefined) return await globalThis.fetch(input, init)
  const signal = init?.signal ?? undefined
  if (signal?.aborted === true) throw signal.reason
  const payload = Buffer.from(text)
  return await new Promise<LeanResponse>((resolve, reject) => {
    const request = client.request(url, {
      method: init?.method ?? 'GET',
      agent: client.agent,
      headers: { ...headers, 'content-length': String(payload.length) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', (err) => { done(); reject(fetchFailed(err)) })
      // The connection gone before the answer's end: a network failure, as the built-in fetch says.
      res.on('close', () => { if (!res.complete) { done(); reject(fetchFailed(new Error('the connection closed before the answer ended'))) } })
      res.on('end', () => {
        done()
        const status = res.statusCode ?? 0
        const answer = Buffer.concat(chunks).toString('utf8')
        resolve({
          status,
          ok: status >= 200 && status < 300,
          statusText: res.statusMessage ?? '',
          text: async () => answer,
          json: async () => JSON.parse(answer) as unknown,
        })
      })
    })
    // An abort (the stop of a long poll, the library's timeout) ends the request with the
    // signal's reason, as the built-in fetch does: AbortError, or TimeoutError.
    const onAbort = (): void => {
      request.destroy()
      reject(signal?.reason)
    }
    const done = (): void => signal?.removeEventListener('abort', onAbort)
    signal?.addEventListener('abort', onAbort, { once: true })
    request.on('error', (err) => {
      done()
      if (signal?.aborted !== true) reject(fetchFailed(err))
    })
    request.end(payload)
  })
}) as unknown as typeof fetch
