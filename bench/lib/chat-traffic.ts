// A user who sends one to-do every `everyMs` to a bot behind the emulator while something happens
// (a deploy, a restart, a rollback), and what that user saw: the longest gap between answers,
// commands never answered (lost) and commands answered or stored twice (doubled).
import type { BotApiEmulator } from '../../dev/emulator/bot-api-emulator.js'

export type Outage = {
  /** Longest gap between two answered commands (ms), by the emulator's clock. */
  gapMs: number
  sent: number
  lost: number
  doubled: number
}

export type Traffic = {
  /** Stops sending, waits up to `drainMs` for every answer, and reports. */
  stop: (rows: (texts: readonly string[]) => Map<string, number>, drainMs?: number) => Promise<Outage>
}

/** Texts stay neutral ("task 17 r2a"): no date words the bot would read as a due date. */
export function startChatTraffic (emu: BotApiEmulator, user: number, tag: string, everyMs = 100): Traffic {
  const sent: string[] = []
  const since = Date.now()
  const timer = setInterval(() => {
    const text = `task ${sent.length + 1} ${tag}`
    sent.push(text)
    emu.sendText(user, user, text)
  }, everyMs)
  const answers = (): Map<string, number[]> => {
    const byText = new Map<string, number[]>()
    for (const c of emu.calls('sendMessage')) {
      if (c.params.chat_id !== user || c.status !== 200 || c.at < since) continue
      const reply = String(c.params.text ?? '')
      const text = sent.find((t) => reply.endsWith(` ${t}`))
      if (text !== undefined) byText.set(text, [...(byText.get(text) ?? []), c.at])
    }
    return byText
  }
  return {
    stop: async (rows, drainMs = 30_000) => {
      clearInterval(timer)
      const deadline = Date.now() + drainMs
      while (answers().size < sent.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      const byText = answers()
      const stored = rows(sent)
      const times = [...byText.values()].map((ts) => ts[0] ?? 0).sort((a, b) => a - b)
      let gapMs = 0
      for (let i = 1; i < times.length; i += 1) gapMs = Math.max(gapMs, (times[i] ?? 0) - (times[i - 1] ?? 0))
      return {
        gapMs,
        sent: sent.length,
        lost: sent.filter((t) => !byText.has(t) || (stored.get(t) ?? 0) === 0).length,
        doubled: sent.filter((t) => (byText.get(t)?.length ?? 0) > 1 || (stored.get(t) ?? 0) > 1).length,
      }
    },
  }
}
