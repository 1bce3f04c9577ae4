// One user writing to the bot through the emulator: what was said, in order, and a wait until
// every line has been answered (each reply ends with the task's text: "#4 buy milk").
import type { BotApiEmulator } from '../../dev/emulator/bot-api-emulator.js'
import { waitUntil } from './wait.js'

export type Conversation = {
  /** What was said, in order. */
  readonly sent: string[]
  /** Sends `text` in the chat, without waiting for the answer. */
  say: (text: string) => void
  /** Resolves once every line said so far has been answered. */
  allAnswered: (timeoutMs?: number) => Promise<void>
}

export function conversation (emu: BotApiEmulator, user: number, chat = user): Conversation {
  const sent: string[] = []
  return {
    sent,
    say: (text) => {
      sent.push(text)
      emu.sendText(user, chat, text)
    },
    allAnswered: async (timeoutMs = 20_000) => {
      // One copy of the chat per look (the emulator answers the bot from this same event loop).
      const unanswered = (): string[] => {
        const replies = emu.messages(chat).map((m) => m.rendered)
        return sent.filter((s) => !replies.some((r) => r.endsWith(` ${s}`)))
      }
      await waitUntil(() => unanswered().length === 0, { what: `answers to all ${sent.length} lines`, timeoutMs, seen: () => `unanswered: ${unanswered().join(' | ')}` })
    },
  }
}
