// Child process for bench/soak.ts: the real bot (startBot, the same code the build bundles) on a
// clock the parent moves over IPC, logging at info level to nowhere (pino still formats every line,
// as in production). Messages: { advance: ms } → { now }, { sample: true } → { rssMb, heapMb, heapTotalMb, externalMb } after
// a full GC (run with --expose-gc), { stop: true } → exits 0 after a clean stop.
import fs from 'node:fs'
import { Writable } from 'node:stream'
import { startBot } from '../../bot/app.js'
import { AdjustableClock } from '../../bot/clock.js'
import { loadConfig } from '../../bot/config.js'
import { createLogger } from '../../bot/logger.js'

type Command = { advance?: number, sample?: boolean, stop?: boolean }

const nowhere = new Writable({ write: (_chunk, _enc, cb) => cb() })
const clock = new AdjustableClock(Number(process.env.SOAK_START_AT), 0)
const bot = await startBot(loadConfig(process.env), { logger: createLogger('info', nowhere), clock })
await bot.ready

function rssMb (): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1]
  return Number(kb) / 1024
}

process.on('message', (msg: Command) => {
  if (msg.advance !== undefined) {
    clock.set(clock.now() + msg.advance)
    process.send?.({ now: clock.now() })
  } else if (msg.sample === true) {
    (globalThis as { gc?: () => void }).gc?.()
    const m = process.memoryUsage()
    process.send?.({ rssMb: rssMb(), heapMb: m.heapUsed / 1048576, heapTotalMb: m.heapTotal / 1048576, externalMb: m.external / 1048576 })
  } else if (msg.stop === true) {
    void bot.stop().then(() => process.exit(0))
  }
})
process.send?.({ ready: true })
