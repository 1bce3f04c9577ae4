// A reverse proxy in front of several bot instances, as nginx or Caddy would be on several
// machines: each request goes to the next backend in turn; a backend that cannot be reached
// gives 502 (Telegram, here the emulator, then retries). Counts what each backend was sent.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export type RoundRobinProxy = { port: number, sent: number[], close: () => Promise<void> }

export async function startRoundRobinProxy (backends: readonly number[]): Promise<RoundRobinProxy> {
  const sent = backends.map(() => 0)
  let next = 0
  // A new connection per request, as nginx's upstream default (HTTP/1.0): a kept-alive socket
  // reused at the instant the bot's server closes it for idling resets that request (a 502 that
  // would be the proxy's, not the bot's).
  const agent = new http.Agent({ keepAlive: false })
  const server = http.createServer((req, res) => {
    const i = next++ % backends.length
    sent[i] = (sent[i] ?? 0) + 1
    const out = http.request({ host: '127.0.0.1', port: backends[i], method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(`bad gateway: ${err.message}\n`)
    })
    req.pipe(out)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    sent,
    close: async () => {
      agent.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
