// Starts bench/lib/emulator-process.ts as a child and talks to it over IPC.
import { fork } from 'node:child_process'
import path from 'node:path'
import type { Message } from './traffic.js'

export type RemoteEmulator = {
  apiRoot: string
  token: string
  push: (messages: readonly Message[]) => void
  /** How many replies (sendMessage answered 200) the emulator has taken so far. */
  replies: () => Promise<number>
  stop: () => Promise<void>
}

export async function startRemoteEmulator (): Promise<RemoteEmulator> {
  const child = fork(path.join(import.meta.dirname, 'emulator-process.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const hello = await new Promise<{ apiRoot: string, token: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { apiRoot: string, token: string }))
    child.once('exit', (code) => reject(new Error(`the emulator process exited ${code} before listening`)))
  })
  return {
    ...hello,
    push: (messages) => { child.send(messages) },
    replies: () => new Promise<number>((resolve) => {
      const answer = (m: unknown): void => {
        if (typeof m === 'object' && m !== null && 'replies' in m) {
          child.off('message', answer)
          resolve(Number((m as { replies: number }).replies))
        }
      }
      child.on('message', answer)
      child.send({ replies: true })
    }),
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.disconnect()
      await exited
    },
  }
}
