// Child process for bench/throughput.ts: the Bot API emulator in a process of its own, so that its
// memory (every call and message it keeps) and its CPU do not land in the bot's own timings.
// Prints {"apiRoot","token"} once listening; pushes the messages the parent sends over IPC.
import { BotApiEmulator } from '../../dev/emulator/bot-api-emulator.js'
import type { Message } from './traffic.js'

const emu = await BotApiEmulator.start()
process.on('message', (batch: Message[]) => {
  for (const m of batch) emu.sendText(m.user, m.chat, m.text)
})
process.on('disconnect', () => { void emu.stop().then(() => process.exit(0)) })
process.send?.({ apiRoot: emu.apiRoot, token: emu.token })
