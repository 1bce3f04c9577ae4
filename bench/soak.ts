// npm run soak (memory): a day of a busy bot in miniature. 50 000 updates from 100 chats (60 % new
// tasks, 20 % /list, 20 % /done) and 2 000 reminders, in 50 rounds: each round sends 1 000 updates,
// waits for every reply, then moves the bot's clock (injected) an hour on so that the round's 40
// reminders fall due and are sent. The bot runs compiled, as its own process with production's node flags;
// RSS is read after a full GC after round 5 (5 000 updates) and at the end. No leak: the end is
// within 10 % of the first reading. Exit 1 when it is not (or the bot fails).
//
// Usage: node --import tsx bench/soak.ts [--quick]   (quick: 10 rounds of 500, 20 reminders each)
import { fork } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { build as esbuild } from 'esbuild'
import { staleReason } from '../bot/build-freshness.mjs'
import { PROJECT_ROOT } from '../bot/config.js'
import { build, BUNDLE_OPTIONS } from '../scripts/build.mjs'
import { RUNTIME_NODE_FLAGS } from '../scripts/runtime-flags.mjs'
import { benchDir, benchEnv } from './lib/bot-session.js'
import { startRemoteEmulator } from './lib/remote-emulator.js'
import type { Message } from './lib/traffic.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, flags: { type: 'string' } } })
// --flags="--max-old-space-size=64": node flags beside production's, to try a lever.
const FLAGS = [...RUNTIME_NODE_FLAGS, ...(values.flags?.split(' ').filter((f) => f !== '') ?? [])]
const SIZE = values.quick ? { rounds: 10, perRound: 500, reminders: 20, baselineAfter: 2 } : { rounds: 50, perRound: 1000, reminders: 40, baselineAfter: 5 }
const CHATS = 100
const GROWTH_LIMIT = 0.10
const HOUR = 3_600_000
const users = Array.from({ length: CHATS }, (_, i) => 2000 + i)

type Reply = { now?: number, rssMb?: number, heapMb?: number, heapTotalMb?: number, externalMb?: number, ready?: boolean }

// The emulator in its own process: it keeps every call, and its memory and CPU are not the bot's.
const emu = await startRemoteEmulator()
const dir = benchDir('soak')
// The bot compiled as production compiles it (scripts/build.mjs: one bundle, packages in it, the
// migrations from dist/), with this driver as its entry. The bundle sits one folder below the root,
// as dist/main.js does, so the bot finds the project root the same way.
if (staleReason(PROJECT_ROOT) !== null) await build(PROJECT_ROOT)
const bundle = path.join(PROJECT_ROOT, '.soak', 'soak-bot.js')
await esbuild({ entryPoints: [path.join(import.meta.dirname, 'lib', 'soak-bot.ts')], ...BUNDLE_OPTIONS, external: [...BUNDLE_OPTIONS.external], platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'warning' })
const child = fork(bundle, [], {
  execArgv: [...FLAGS, '--expose-gc'],
  env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...benchEnv(emu, path.join(dir, 'db', 'todo.sqlite'), users), DEFAULT_TIMEZONE: 'UTC', SOAK_START_AT: String(Date.parse('2026-12-01T00:00:00Z')) },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
})
const ask = (command: object): Promise<Reply> => new Promise((resolve, reject) => {
  const exited = (code: number | null): void => reject(new Error(`the bot exited ${code}`))
  child.once('exit', exited)
  child.once('message', (m: Reply) => {
    child.off('exit', exited)
    resolve(m)
  })
  child.send(command)
})

/** Waits until the emulator has taken `count` messages from the bot in all (replies and reminders). */
async function sent (count: number, what: string): Promise<void> {
  const deadline = Date.now() + 300_000
  while (await emu.replies() < count) {
    if (Date.now() > deadline) throw new Error(`timed out after 300 s waiting for ${what} (${await emu.replies()} of ${count} messages)`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

try {
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve())
    child.once('exit', (code) => reject(new Error(`the bot exited ${code} before it served`)))
  })
  const readings: Array<{ updates: number, reminders: number, rssMb: number, heapMb: number, heapTotalMb: number, externalMb: number }> = []
  let updates = 0
  let reminders = 0
  // Task numbers per chat (they never change): /done only completes plain tasks, never a reminder's.
  const nextNumber = new Map<number, number>()
  const open = new Map<number, number[]>()
  const add = (user: number, plain: boolean): void => {
    const n = (nextNumber.get(user) ?? 0) + 1
    nextNumber.set(user, n)
    if (plain) open.set(user, [...(open.get(user) ?? []), n])
  }
  const started = Date.now()
  for (let round = 1; round <= SIZE.rounds; round++) {
    const batch: Message[] = []
    for (let i = 0; i < SIZE.perRound; i++) {
      const user = users[(updates + i) % CHATS] ?? 0
      const roll = (updates + i) % 10
      let text: string
      const mine = open.get(user) ?? []
      if (i < SIZE.reminders) {
        // One reminder per chat per round (the send limit is one message a second per chat).
        text = `in 30 minutes soak reminder ${round}.${i}`
        add(user, false)
      } else if (roll < 6 || (roll >= 8 && mine.length === 0)) {
        text = `soak task ${updates + i}`
        add(user, true)
      } else if (roll < 8) {
        text = '/list'
      } else {
        text = `/done ${mine.splice((updates + i) % mine.length, 1)[0]}`
      }
      batch.push({ user, chat: user, text })
    }
    emu.push(batch)
    updates += SIZE.perRound
    // One reply per update; reminders only come after the clock moves, so the counts do not mix.
    await sent(updates + reminders, `the replies of round ${round}`)
    await ask({ advance: HOUR })
    reminders += SIZE.reminders
    await sent(updates + reminders, `the ${SIZE.reminders} reminders of round ${round}`)
    if (round === SIZE.baselineAfter || round === SIZE.rounds || (round > SIZE.baselineAfter && round % 10 === 0)) {
      const r = await ask({ sample: true })
      readings.push({ updates, reminders, rssMb: r.rssMb ?? Number.NaN, heapMb: r.heapMb ?? Number.NaN, heapTotalMb: r.heapTotalMb ?? Number.NaN, externalMb: r.externalMb ?? Number.NaN })
    }
    process.stderr.write(`  round ${round}/${SIZE.rounds}: ${updates.toLocaleString('en-US')} updates, ${reminders.toLocaleString('en-US')} reminders, ${Math.round((Date.now() - started) / 1000)} s\n`)
  }
  const [first, last] = [readings[0], readings.at(-1)]
  if (first === undefined || last === undefined) throw new Error('no readings')
  const growth = last.rssMb / first.rssMb - 1
  // The criterion compares the first and the last; the readings between show the trend.
  const ok = growth <= GROWTH_LIMIT
  for (const r of readings) console.log(`  after ${r.updates.toLocaleString('en-US')} updates, ${r.reminders.toLocaleString('en-US')} reminders: RSS ${r.rssMb.toFixed(1)} MB, V8 heap ${r.heapMb.toFixed(1)} MB used of ${r.heapTotalMb.toFixed(1)} MB, external ${r.externalMb.toFixed(1)} MB`)
  console.log(`${ok ? '✓' : '✗'} soak  RSS ${first.rssMb.toFixed(1)} → ${last.rssMb.toFixed(1)} MB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %, limit +${GROWTH_LIMIT * 100} %) over ${last.updates.toLocaleString('en-US')} updates and ${last.reminders.toLocaleString('en-US')} reminders in ${Math.round((Date.now() - started) / 1000)} s; flags ${FLAGS.join(' ')}`)
  if (!ok) process.exitCode = 1
  await ask({ stop: true }).catch(() => undefined)
} catch (err) {
  console.error(`✗ soak  ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  child.kill('SIGKILL')
  await emu.stop()
  fs.rmSync(dir, { recursive: true, force: true })
  fs.rmSync(path.dirname(bundle), { recursive: true, force: true })
}
