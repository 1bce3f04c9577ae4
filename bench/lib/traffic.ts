// The update mix the bot sees in the benchmarks: per chat, adds, lists and dones of its own tasks.
export type Message = { user: number, chat: number, text: string }

/** `count` messages round-robin over `chats` private chats (user id = chat id); 60 % /add, 20 % /list, 20 % /done. */
export function todoTraffic (count: number, chatIds: readonly number[]): Message[] {
  const added = new Map<number, number>()
  const out: Message[] = []
  for (let i = 0; i < count; i += 1) {
    const chat = chatIds[i % chatIds.length] ?? 0
    const n = added.get(chat) ?? 0
    const kind = Math.floor(i / chatIds.length) % 5
    let text: string
    if (n === 0 || kind < 3) {
      text = `/add task ${n + 1} from the benchmark`
      added.set(chat, n + 1)
    } else if (kind === 3) {
      text = '/list'
    } else {
      text = `/done ${1 + ((i * 7) % n)}`
    }
    out.push({ user: chat, chat, text })
  }
  return out
}

export function userIds (count: number, first = 2001): number[] {
  return Array.from({ length: count }, (_, i) => first + i)
}
