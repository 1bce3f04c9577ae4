// The baseline for bench/webhook-scale.ts: the least a webhook bot on node-telegram-bot-api can
// be, as a process of its own (plain node, the flags PM2 gives ours). It checks the secret, reads
// the update, answers 200 at once (nothing to commit) and replies with the message's text. What
// it costs the machine is the emulator's, the proxy's and one HTTP exchange's share; its request
// times are what the emulator, the proxy and this machine add to any webhook.
// Environment: TELEGRAM_BOT_TOKEN, TELEGRAM_API_ROOT, WEBHOOK_LISTEN (host:port),
// TELEGRAM_WEBHOOK_SECRET. Prints "listening" once it accepts requests; SIGINT stops it.
import http from 'node:http'
import { Bot } from 'node-telegram-bot-api'

const bot = new Bot(process.env.TELEGRAM_BOT_TOKEN ?? '', { apiRoot: process.env.TELEGRAM_API_ROOT })
bot.on('message', async (ctx) => { await ctx.reply(ctx.message?.text ?? '') })
bot.catch(() => {})
const secret = process.env.TELEGRAM_WEBHOOK_SECRET
const [host, port] = (process.env.WEBHOOK_LISTEN ?? '127.0.0.1:8443').split(':')

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.headers['x-telegram-bot-api-secret-token'] !== secret) {
    req.resume()
    res.writeHead(401).end()
    return
  }
  /** @type {Buffer[]} */
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    let update
    try {
      update = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      res.writeHead(400).end()
      return
    }
    res.writeHead(200).end()
    void bot.handleUpdate(update).catch(() => {})
  })
})
server.listen(Number(port), host, () => console.log('listening'))
process.on('SIGINT', () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
