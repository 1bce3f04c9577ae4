// The soak's user side: a seeded stream of commands and button presses from several chats, sent
// through the emulator while `disrupt` kills or restarts the bot at chosen moments; then the checks
// that every command was answered and that the database holds exactly what the model predicts.
import { setTimeout as sleep } from 'node:timers/promises'
import { openDatabase } from '../../bot/db.js'
import type { BotApiEmulator, BotMessage } from '../../dev/emulator/bot-api-emulator.js'
import { ChatModel, seededRandom, type ModelTask } from './soak-model.js'

export type SoakChat = { id: number, users: readonly number[] }
export type SoakOptions = {
  emu: BotApiEmulator
  chats: readonly SoakChat[]
  commands: number
  disruptions: number
  seed: number
  /** Called before command `index`: kill, restart or reload the bot. */
  disrupt: (k: number, random: () => number) => Promise<void>
}
export type Expectation = { chat: number, label: string, matches: (rendered: string) => boolean }
export type SoakRun = {
  models: Map<number, ChatModel>
  expectations: Expectation[]
  lastUpdateId: number
  counts: Record<string, number>
}

const MAX_BACKLOG = 40
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'kilo', 'lima', 'oscar', 'papa', 'romeo', 'sierra', 'victor', 'zulu']

function buttons (m: BotMessage, pattern: RegExp): Array<{ text: string, data: string }> {
  const rows = m.deleted ? [] : m.reply_markup?.inline_keyboard ?? []
  return rows.flat().flatMap((b) => b.callback_data !== undefined && pattern.test(b.callback_data) ? [{ text: b.text, data: b.callback_data }] : [])
}

const hashNumber = (n: number) => (rendered: string) => new RegExp(`#${n}(?!\\d)`).test(rendered)

/** Sends the stream; returns the model of what it should have produced. */
export async function streamCommands (o: SoakOptions): Promise<SoakRun> {
  const random = seededRandom(o.seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  const models = new Map(o.chats.map((c) => [c.id, new ChatModel()]))
  const expectations: Expectation[] = []
  const counts: Record<string, number> = {}
  const at = new Set<number>()
  while (at.size < o.disruptions) at.add(Math.floor(o.commands * (0.05 + 0.9 * random())))
  let k = 0

  for (let i = 0; i < o.commands; i++) {
    if (at.has(i)) await o.disrupt(k++, random)
    // Users keep writing while the bot is down, but not endlessly ahead of it: a bounded backlog
    // keeps list messages (and so their buttons) coming during the whole stream.
    while (o.emu.pendingUpdates().length >= MAX_BACKLOG) await sleep(5)
    const chat = pick(o.chats)
    const user = pick(chat.users)
    const model = models.get(chat.id) as ChatModel
    const say = (kind: string, text: string, matches: (r: string) => boolean): number => {
      counts[kind] = (counts[kind] ?? 0) + 1
      expectations.push({ chat: chat.id, label: `#${i} ${JSON.stringify(text)}`, matches })
      return o.emu.sendText(user, chat.id, text).update_id
    }
    const press = (kind: string, m: BotMessage, data: string): number => {
      counts[kind] = (counts[kind] ?? 0) + 1
      return o.emu.pressButton(user, chat.id, m.message_id, data).update_id
    }
    const messages = o.emu.messages(chat.id)
    const lists = messages.filter((m) => buttons(m, /^[dx]:/).length > 0).slice(-3)
    const undos = messages.filter((m) => buttons(m, /^u:/).length > 0).slice(-5)
    // Shares: add 35 %, done 10, undo 5, edit 8, del 7, /list 8, list buttons 15, Undo buttons 7, add 5.
    const r = random()
    const n = model.pickNumber(random)
    if (r >= 0.73 && r < 0.88 && lists.length > 0) {
      const list = pick(lists)
      const button = pick(buttons(list, /^[dx]:/))
      const number = Number(/(\d+)$/.exec(button.text)?.[1])
      const id = press(button.data.startsWith('d') ? 'button done' : 'button delete', list, button.data)
      if (button.data.startsWith('d')) model.done([number])
      else model.remove([number], id)
    } else if (r >= 0.88 && r < 0.95 && undos.length > 0) {
      const message = pick(undos)
      const data = pick(buttons(message, /^u:/)).data
      press('button undo', message, data)
      model.restore(Number(data.slice(2)))
    } else if (r >= 0.65 && r < 0.95) {
      say('list', '/list', (s) => /Your tasks|Nothing to do/.test(s))
    } else if (r >= 0.35 && r < 0.45) {
      const numbers = random() < 0.2 ? [n, model.pickNumber(random)] : [n]
      say('done', `/done ${numbers.join(' ')}`, hashNumber(Math.min(...numbers)))
      model.done(numbers)
    } else if (r >= 0.45 && r < 0.5) {
      say('undo', `/undo ${n}`, hashNumber(n))
      model.reopen([n])
    } else if (r >= 0.5 && r < 0.58) {
      const text = `item ${i} ${pick(WORDS)} edited`
      const live = model.tasks[n - 1]?.deleted === false
      say('edit', `/edit ${n} ${text}`, live ? (s) => s.includes(text) : hashNumber(n))
      model.edit(n, text)
    } else if (r >= 0.58 && r < 0.65) {
      const id = say('del', `/del ${n}`, hashNumber(n))
      model.remove([n], id)
    } else {
      const lines = Array.from({ length: random() < 0.15 ? 2 + Math.floor(random() * 2) : 1 }, (_, j) => `item ${i}${j === 0 ? '' : `.${j}`} ${pick(WORDS)}`)
      const first = lines[0] ?? ''
      say('add', (random() < 0.3 ? '/add ' : '') + lines.join('\n'), (s) => s.includes(first))
      model.add(lines)
    }
    if (random() < 0.3) await sleep(Math.floor(random() * 6))
  }
  // The last update sent is the newest one in the queue.
  const first = o.chats[0] ?? { id: 0, users: [0] }
  const lastUpdateId = o.emu.sendText(first.users[0] ?? 0, first.id, '/list').update_id
  expectations.push({ chat: first.id, label: 'final /list', matches: (s) => /Your tasks|Nothing to do/.test(s) })
  return { models, expectations, lastUpdateId, counts }
}

/** The commands whose answer is missing: per chat, the expectations must match the bot's
 *  messages in order (a reply delivered twice after a kill is an extra message, not a problem). */
export function unanswered (emu: BotApiEmulator, expectations: readonly Expectation[]): string[] {
  const missing: string[] = []
  const byChat = new Map<number, Expectation[]>()
  for (const e of expectations) byChat.set(e.chat, [...byChat.get(e.chat) ?? [], e])
  for (const [chat, list] of byChat) {
    const messages = emu.messages(chat)
    let at = 0
    for (const e of list) {
      while (at < messages.length && !e.matches(messages[at]?.rendered ?? '')) at++
      if (at === messages.length) {
        missing.push(`chat ${chat}: no answer to ${e.label} (or an earlier one)`)
        break
      }
      at++
    }
  }
  return missing
}

export async function waitUntilAnswered (emu: BotApiEmulator, run: SoakRun, timeoutMs: number): Promise<string[]> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const missing = [...unanswered(emu, run.expectations), ...emu.unansweredCallbacks().map((id) => `callback ${id} not answered`)]
    if (emu.confirmedOffset <= run.lastUpdateId) missing.push(`update ${run.lastUpdateId} not confirmed yet`)
    if (missing.length === 0 || performance.now() > deadline) return missing
    await sleep(100)
  }
}

type Row = { chat_id: number, number: number, text: string, done_at: number | null, deleted_at: number | null, deleted_batch: number | null }

/** The tasks table in the model's shape, per chat; plus what the ledger and outbox hold. */
export async function readDatabase (file: string): Promise<{ tasks: Map<number, ModelTask[]>, nextNumbers: Map<number, number>, lastUpdateId: number, outbox: number }> {
  const db = openDatabase(file, { readonly: true })
  try {
    const rows = await db('tasks').orderBy(['chat_id', 'number']).select('chat_id', 'number', 'text', 'done_at', 'deleted_at', 'deleted_batch') as Row[]
    const tasks = new Map<number, ModelTask[]>()
    for (const r of rows) {
      tasks.set(r.chat_id, [...tasks.get(r.chat_id) ?? [], { number: r.number, text: r.text, done: r.done_at !== null, deleted: r.deleted_at !== null, batch: r.deleted_batch }])
    }
    const chats = await db('chats').select('id', 'next_number') as Array<{ id: number, next_number: number }>
    const state = await db('handled_updates').max({ value: 'update_id' }).first() as { value: number } | undefined
    const outbox = await db('outbox').count({ n: '*' }).first() as { n: number }
    return { tasks, nextNumbers: new Map(chats.map((c) => [c.id, c.next_number])), lastUpdateId: Number(state?.value), outbox: Number(outbox.n) }
  } finally {
    await db.destroy()
  }
}
