// The memory baseline for bench/scale.ts: the least a bot on node-telegram-bot-api can be, as a
// process of its own (plain node, the same flags PM2 gives ours): poll, answer each message with
// its text. TELEGRAM_BOT_TOKEN and TELEGRAM_API_ROOT come from the environment; SIGINT stops it.
import { Bot } from 'node-telegram-bot-api'

const bot = new Bot(process.env.TELEGRAM_BOT_TOKEN ?? '', { apiRoot: process.env.TELEGRAM_API_ROOT })
bot.on('message', async (ctx) => { await ctx.reply(ctx.message?.text ?? '') })
const polling = bot.startPolling(undefined, { timeout: 1, limit: 100 })
process.on('SIGINT', () => bot.stop())
await polling.catch(() => {})
process.exit(0)
