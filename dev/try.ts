// `npm run try`: meet the bot without a token. Starts the Bot API emulator on 127.0.0.1, the real
// bot against it with a throwaway database, and a chat in this terminal. Type as a Telegram user;
// press an inline button by typing its number in brackets, e.g. `!2`. `/quit` or Ctrl-D to leave.
// The bot's clock can be set, so a day of reminders fits in a minute:
//   npm run try -- --at 2026-11-25T08:00 --tz Europe/Berlin [--speed 60]
// and in the chat, `!time +2h` or `!time 2026-11-25T09:00` moves it. A file the bot sends (/export)
// is saved and its path printed; `!file path [caption]` sends a file (caption /import by default).
// `npm run try -- --pg` keeps the throwaway data in PostgreSQL instead: a private server started
// for the session (PostgreSQL must be installed) and stopped at /quit.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { parseArgs } from 'node:util'
import { DateTime } from 'luxon'
import { startBot } from '../bot/app.js'
import { AdjustableClock } from '../bot/clock.js'
import { loadConfig } from '../bot/config.js'
import { createLogger } from '../bot/logger.js'
import { BotApiEmulator, type BotMessage } from './emulator/bot-api-emulator.js'
import { NOT_INSTALLED, postgresBin, startServer, stopServer, urlFor, type PgServer } from './postgres-server.js'
import { renderForTerminal } from './terminal-render.js'

const USER = 1
const out = (line: string): void => { process.stdout.write(`${line}\n`) }

const { values: flags } = parseArgs({ options: { at: { type: 'string' }, tz: { type: 'string' }, speed: { type: 'string' }, pg: { type: 'boolean' } } })
const zone = flags.tz ?? 'UTC'
const startAt = flags.at === undefined ? Date.now() : DateTime.fromISO(flags.at, { zone }).toMillis()
const speed = Number(flags.speed ?? '1')
if (!Number.isFinite(startAt) || !Number.isFinite(speed) || speed < 0) {
  process.stderr.write('usage: npm run try -- [--at 2026-11-25T08:00] [--tz Europe/Berlin] [--speed 60] [--pg]\n')
  process.exit(2)
}
if (flags.pg === true && postgresBin() === null) {
  process.stderr.write(`npm run try -- --pg: ${NOT_INSTALLED.replace(' to run the PostgreSQL half', '')}\n`)
  process.exit(2)
}
const clock = new AdjustableClock(startAt, speed)
const clockLine = (): string => `🕒 ${DateTime.fromMillis(clock.now(), { zone }).toFormat('ccc d LLL HH:mm')} (${zone})`

// A throwaway PostgreSQL server for --pg, stopped however this process ends.
let pgServer: PgServer | undefined
if (flags.pg === true) {
  const started = await startServer()
  pgServer = started
  process.once('exit', () => stopServer(started))
}
const emu = await BotApiEmulator.start()
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-try-'))
const config = loadConfig({
  ...(pgServer === undefined ? {} : { DATABASE_URL: urlFor(pgServer, 'postgres') }),
  TELEGRAM_BOT_TOKEN: emu.token,
  ALLOWED_USER_IDS: String(USER),
  TELEGRAM_API_ROOT: emu.apiRoot,
  DATABASE_FILE: path.join(dir, 'todo.sqlite'),
  HEALTH_PORT: '0',
  POLL_TIMEOUT_S: '10',
  DEFAULT_TIMEZONE: zone,
})
const logFile = path.join(dir, 'bot.log')
// Outside the throwaway folder, so an export outlives /quit.
const exportsDir = path.join(os.tmpdir(), 'mister-todo-try-exports')
const bot = await startBot(config, { logger: createLogger('info', fs.createWriteStream(logFile)), clock })
await bot.ready

out(`Mister Todo, running locally against a Bot API emulator (${emu.apiRoot}).`)
out('You are a Telegram user in a private chat with the bot. Type a message, or /help.')
out('Buttons show as [1] [2] ...: type !1 to press one. /quit or Ctrl-D to leave.')
out('The clock: !time +2h, !time +30m or !time 2026-11-25T09:00 moves it.')
out(`Files: /export saves what the bot sends in ${exportsDir}; !file path sends a file with /import as its caption.`)
out(pgServer === undefined ? `(throwaway database and log in ${dir})` : `(throwaway PostgreSQL server on 127.0.0.1:${pgServer.port}; log in ${dir})`)
out(`${clockLine()}\n`)

// What has been printed, so edits show up as edits and buttons keep their numbers.
const printed = new Map<number, string>()
let buttons: Array<{ messageId: number, data: string }> = []

function show (m: BotMessage): void {
  const shape = JSON.stringify([m.text, m.reply_markup, m.deleted])
  if (printed.get(m.message_id) === shape) return
  const edited = printed.has(m.message_id)
  printed.set(m.message_id, shape)
  if (m.deleted) return
  if (m.document !== undefined && !edited) {
    const saved = saveFile(m.document.file_name ?? 'file', emu.fileBytes(m.document.file_id) ?? Buffer.alloc(0))
    out(`📎 bot sent ${m.document.file_name ?? 'a file'} (${m.document.file_size.toLocaleString('en-US')} bytes), saved as ${saved}`)
  }
  out(`${edited ? '✎ bot (edited)' : '🤖 bot'}: ${renderForTerminal(m.text).replace(/\n/g, '\n   ')}`)
  const rows = m.reply_markup?.inline_keyboard ?? []
  if (rows.length === 0) return
  buttons = []
  for (const row of rows) {
    out(`   ${row.map((b) => {
      buttons.push({ messageId: m.message_id, data: b.callback_data ?? '' })
      return `[${buttons.length}] ${b.text}`
    }).join('   ')}`)
  }
}

/** Writes a file the bot sent under exportsDir without replacing an earlier one. */
function saveFile (name: string, bytes: Buffer): string {
  fs.mkdirSync(exportsDir, { recursive: true, mode: 0o700 })
  const { name: stem, ext } = path.parse(path.basename(name))
  let target = path.join(exportsDir, `${stem}${ext}`)
  for (let i = 2; fs.existsSync(target); i++) target = path.join(exportsDir, `${stem}-${i}${ext}`)
  fs.writeFileSync(target, bytes, { mode: 0o600 })
  return target
}

let toasts = 0
function showAll (): void {
  for (const m of emu.messages(USER)) show(m)
  const answers = emu.callbackAnswers()
  for (; toasts < answers.length; toasts++) {
    const text = answers[toasts]?.text
    if (text !== undefined && text !== '') out(`   💬 ${text}`)
  }
}

const watcher = setInterval(showAll, 50)

async function quit (): Promise<void> {
  clearInterval(watcher)
  await bot.stop()
  await emu.stop()
  fs.rmSync(dir, { recursive: true, force: true })
  out('Bye.')
  process.exit(0)
}

const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY })
rl.setPrompt('you: ')
rl.prompt()
// Lines are handled one at a time, each after the bot's answers to the previous one arrived.
let queue = Promise.resolve()
rl.on('line', (line) => {
  queue = queue.then(async () => {
    const text = line.trim()
    if (text === '/quit') return await quit()
    const time = /^!time\s+(.+)$/.exec(text)
    if (time !== null) {
      const jump = /^\+(\d+)\s*(m|min|h|d)$/.exec(time[1]?.trim() ?? '')
      const target = jump === null
        ? DateTime.fromISO(time[1]?.trim() ?? '', { zone }).toMillis()
        : clock.now() + Number(jump[1]) * ({ m: 60_000, min: 60_000, h: 3600_000, d: 86_400_000 } as Record<string, number>)[jump[2] ?? 'm']!
      if (!Number.isFinite(target)) out('   (say !time +2h, !time +30m or !time 2026-11-25T09:00)')
      else {
        clock.set(target)
        out(clockLine())
        // Reminders go out at most one per second per chat: give them a moment to arrive.
        await new Promise((r) => setTimeout(r, 1500))
        showAll()
      }
      rl.prompt()
      return
    }
    const press = /^!(\d+)$/.exec(text)
    const file = /^!file\s+(\S+)(?:\s+(.+))?$/.exec(text)
    const before = emu.calls().length
    if (file !== null) {
      const where = path.resolve(file[1] ?? '')
      if (!fs.statSync(where, { throwIfNoEntry: false })?.isFile()) {
        out(`   (no file at ${where})`)
        rl.prompt()
        return
      }
      emu.sendDocument(USER, USER, { name: path.basename(where), data: fs.readFileSync(where), caption: file[2] ?? '/import' })
      out(`   📎 you sent ${path.basename(where)}`)
    } else if (press !== null) {
      const button = buttons[Number(press[1]) - 1]
      if (button === undefined) out(`   (no button ${press[1]})`)
      else emu.pressButton(USER, USER, button.messageId, button.data)
    } else if (text !== '') {
      emu.sendText(USER, USER, line)
    }
    // Wait until the bot has answered (its calls after ours have settled).
    await emu.waitFor(() => emu.calls().length > before && emu.calls().at(-1)?.method === 'getUpdates', 3000).catch(() => {})
    await new Promise((r) => setTimeout(r, 60))
    showAll()
    rl.prompt()
  })
})
rl.on('close', () => { void queue.then(quit) })
