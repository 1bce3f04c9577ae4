// Child process for bench/throughput.ts: the Bot API emulator in a process of its own, so that its
// memory (every call and message it keeps) and its CPU do not land in the bot's own timings.
// Sends {apiRoot, token} once listening; pushes the messages the parent sends over IPC, and
// answers {replies: true} with how many sendMessage calls it has answered 200.
import { BotApiEmulator } from '../../dev/emulator/bot-api-emulator.js'
import type { Message } from './traffic.js'

const emu = await BotApiEmulator.start()
process.on('message', (msg: Message[] | { replies: true }) => {
  if (Array.isArray(msg)) {
    for (const m of msg) emu.sendText(m.user, m.chat, m.text)
  } else {
    process.send?.({ replies: emu.calls('sendMessage').filter((c) => c.status === 200).length })
  }
})
process.on('disconnect', () => { void emu.stop().then(() => process.exit(0)) })
process.send?.({ apiRoot: emu.apiRoot, token: emu.token })
