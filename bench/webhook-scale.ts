// webhook-scale: a burst of updates (10,000 over 200 chats; --quick 2,000 over 100) that the Bot
// API emulator POSTs, as Telegram would, to 1 and then to 2 bot instances on one PostgreSQL (the
// private bench server, fsync on), through a round-robin proxy in front of them (as nginx on
// several machines). Figures: updates applied per second (the burst over the time until the last
// one was answered 200), each request's time as Telegram sees it (p50/p99), and 2 instances over
// 1. Then steady traffic (100 updates/s for 10 s; --quick 4 s) and its request times: the p99
// goal is there, since in a burst a request's time is mostly its wait behind the 39 others in
// flight.
//
// Baselines in the same run, on the same emulator, proxy and server: the same burst to one bot
// polling (the goal: 1 instance ≥ polling), and to an echo webhook (bench/lib/echo-webhook.mjs),
// whose rate is what the emulator and proxy can deliver at all and whose request times are what
// they and this machine add to any webhook. The emulator, the proxy and PostgreSQL share this
// machine's cores with the bots: the CPU each part used per update gives the most 2 instances
// could reach here (the "ceiling" row), which is what limits them.
//
// Standalone: node --import tsx bench/webhook-scale.ts [--quick]; bench/run.ts lists it.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { PROJECT_ROOT } from '../bot/config.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { RUNTIME_NODE_FLAGS } from '../scripts/runtime-flags.mjs'
import { PG_SKIPPED, postgresInstalled, withPostgres } from './lib/postgres.js'
import { formatTable, skippedRow, type Benchmark, type Row } from './lib/report.js'
import { postmasterPid, treeCpuSeconds } from './lib/cpu.js'
import { percentile, summarize } from './lib/stats.js'

const SECRET = 'webhook-scale-secret-0123456789abcdefghijk'
// Then steady traffic, as a busy bot sees it: STEADY_PER_S updates a second, spread evenly.
const FULL = { updates: 10_000, chats: 200, steadyS: 10 }
const QUICK = { updates: 2_000, chats: 100, steadyS: 4 }
const STEADY_PER_S = 100

async function freePort (): Promise<number> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * Round robin over the instances, a connection at a time (nginx's stream module, HAProxy's TCP
 * mode): bytes are passed, not parsed. The proxy stands in for nginx, which costs a fraction of
 * the CPU a proxy in JavaScript parsing each request would; on 2 shared cores that CPU came out of
 * the bots' share (an HTTP-parsing proxy here: 1 instance 338-395 updates/s; this one 422-436).
 * The emulator keeps up to 40 connections open, so each instance gets an even share of them.
 */
async function startProxy (backends: number[]): Promise<{ port: number, close: () => Promise<void> }> {
  let next = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(backends[next++ % backends.length] ?? 0, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.setNoDelay(true)
      socket.on('error', () => { client.destroy(); upstream.destroy() })
      socket.on('close', () => { sockets.delete(socket); client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => { for (const socket of sockets) socket.destroy(); await new Promise((resolve) => server.close(resolve)) },
  }
}

type Child = ChildProcess & { output: () => string }

function startChild (args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [...RUNTIME_NODE_FLAGS, ...args], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  return Object.assign(child, { output: () => out })
}

async function until (check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!check()) {
    if (performance.now() > end) throw new Error(`webhook-scale: timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** What takes the burst: the bot polling, the echo webhook, or N bot instances in webhook mode. */
type Target = { kind: 'polling' } | { kind: 'echo' } | { kind: 'webhook', instances: number }
/** CPU seconds each part spent during the burst, and the burst's wall time. */
type CpuSplit = { bots: number, postgres: number, emulatorAndProxy: number, wallS: number }
type Round = { perS: number, p50: number, p99: number, retried: number, steadyP50: number, steadyP99: number, cpu: CpuSplit, drainS: number }

/** CPU seconds every part spent in the burst. */
function cpuSeconds (c: CpuSplit): number {
  return c.bots + c.postgres + c.emulatorAndProxy
}

function cpuPerUpdateMs (r: Round, updates: number): number {
  return 1000 * cpuSeconds(r.cpu) / updates
}

/** One burst, then (webhooks) steady traffic, to `target` on a fresh database. */
async function round (url: string, postmaster: number, target: Target, size: typeof FULL): Promise<Round> {
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 100, maxMs: 1000 } })
  const processes = target.kind === 'webhook' ? target.instances : 1
  const ports = await Promise.all(Array.from({ length: processes }, () => freePort()))
  const proxy = await startProxy(ports)
  const users = Array.from({ length: size.chats }, (_, i) => 7000 + i)
  const dirs: string[] = []
  const children: Child[] = []
  const hook = `http://127.0.0.1:${proxy.port}/hook`
  try {
    if (target.kind === 'echo') {
      children.push(startChild(['bench/lib/echo-webhook.mjs'], { TELEGRAM_BOT_TOKEN: emu.token, TELEGRAM_API_ROOT: emu.apiRoot, WEBHOOK_LISTEN: `127.0.0.1:${ports[0] ?? 0}`, TELEGRAM_WEBHOOK_SECRET: SECRET }))
      await until(() => children[0]?.output().includes('listening') === true, 'the echo webhook to listen', 30_000)
      const set = await fetch(`${emu.apiRoot}/bot${emu.token}/setWebhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: hook, secret_token: SECRET, max_connections: 40 }) })
      if (!set.ok) throw new Error(`webhook-scale: setWebhook for the echo webhook: ${set.status}`)
    } else {
      for (const port of ports) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-bench-'))
        dirs.push(dir)
        const webhook: Record<string, string> = target.kind === 'webhook' ? { TELEGRAM_WEBHOOK_URL: hook, WEBHOOK_LISTEN: `127.0.0.1:${port}`, TELEGRAM_WEBHOOK_SECRET: SECRET, WEBHOOK_MAX_CONNECTIONS: '40' } : {}
        children.push(startChild(['--import', 'tsx', 'bot/main.ts'], {
          TELEGRAM_BOT_TOKEN: emu.token, TELEGRAM_API_ROOT: emu.apiRoot, ALLOWED_USER_IDS: users.join(','),
          DATABASE_FILE: path.join(dir, 'db', 'todo.sqlite'), DATABASE_URL: url, HEALTH_PORT: '0', LOG_LEVEL: 'warn', ...webhook,
        }))
      }
      // Every instance has called setWebhook once it serves (the burst is delivered only then); a
      // polling bot serves once it asks for updates.
      if (target.kind === 'webhook') await until(() => emu.calls('setWebhook').length >= processes, 'every instance to set the webhook', 60_000)
      else await until(() => emu.calls('getUpdates').length > 0, 'the bot to poll', 60_000)
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
    const before = emu.webhookAttempts().length
    const cpuNow = (): Omit<CpuSplit, 'wallS'> => {
      const own = process.cpuUsage()
      return { bots: children.reduce((sum, c) => sum + (c.pid === undefined ? 0 : treeCpuSeconds(c.pid)), 0), postgres: treeCpuSeconds(postmaster), emulatorAndProxy: (own.user + own.system) / 1e6 }
    }
    const cpuBefore = cpuNow()
    const started = Date.now()
    for (let k = 0; k < size.updates / size.chats; k++) {
      for (const user of users) emu.sendText(user, user, `task ${k}`)
    }
    // Applied: a webhook's update once answered 200 (after its commit); a polled one once the
    // next getUpdates confirms it (also after its batch's commit). Either way it leaves the queue.
    await until(() => emu.pendingUpdates().length === 0, `${size.updates} updates applied`, 300_000)
    const doneAt = Date.now()
    const attempts = emu.webhookAttempts().slice(before)
    const answered = attempts.filter((a) => a.status === 200)
    const lastAt = target.kind === 'polling' ? doneAt : Math.max(...answered.map((a) => a.at + (a.ms ?? 0)))
    const times = answered.map((a) => a.ms ?? 0)
    const cpuAfter = cpuNow()
    const cpu = { bots: cpuAfter.bots - cpuBefore.bots, postgres: cpuAfter.postgres - cpuBefore.postgres, emulatorAndProxy: cpuAfter.emulatorAndProxy - cpuBefore.emulatorAndProxy, wallS: (doneAt - started) / 1000 }
    // The burst's replies are still going out after its last update was answered (each answer
    // waits only for the commit). Steady traffic is what a busy bot sees day to day, not a bot
    // still catching up on a 10,000-reply backlog: it starts once they are all delivered.
    const sentOk = (): number => emu.calls('sendMessage').filter((c) => c.status === 200).length
    await until(() => sentOk() >= size.updates, `the burst's ${size.updates} replies delivered`, 300_000)
    const drainS = (Date.now() - lastAt) / 1000
    const burst = { perS: size.updates / ((lastAt - started) / 1000), p50: percentile(times, 50), p99: percentile(times, 99), cpu, drainS }
    if (target.kind === 'polling') return { ...burst, retried: 0, steadyP50: Number.NaN, steadyP99: Number.NaN }
    // Steady: one update every 1000 / STEADY_PER_S ms, round robin over the chats.
    const steadyFrom = emu.webhookAttempts().length
    const steadyCount = size.steadyS * STEADY_PER_S
    const steadyStart = performance.now()
    for (let i = 0; i < steadyCount; i++) {
      const wait = steadyStart + (i * 1000) / STEADY_PER_S - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      const user = users[i % users.length] ?? 7000
      emu.sendText(user, user, `steady ${i}`)
    }
    await until(() => emu.pendingUpdates().length === 0, `${steadyCount} steady updates answered`, 60_000)
    const steady = emu.webhookAttempts().slice(steadyFrom)
    const steadyTimes = steady.filter((a) => a.status === 200).map((a) => a.ms ?? 0)
    return { ...burst, retried: attempts.length - answered.length + steady.length - steadyTimes.length, steadyP50: percentile(steadyTimes, 50), steadyP99: percentile(steadyTimes, 99) }
  } finally {
    for (const child of children) child.kill('SIGKILL')
    await proxy.close()
    await emu.stop()
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const webhookScale: Benchmark = {
  name: 'webhook-scale',
  describe: 'a burst POSTed by the emulator to 1 and to 2 instances on one PostgreSQL, beside the bot polling and an echo webhook',
  run: async ({ quick }) => {
    const size = quick ? QUICK : FULL
    const label = `${size.updates.toLocaleString('en')} updates, ${size.chats} chats`
    if (!postgresInstalled()) {
      return [
        skippedRow('webhook-scale', `1 instance, ${label}`, 'updates/s', PG_SKIPPED),
        skippedRow('webhook-scale', '1 instance ÷ polling', '×', PG_SKIPPED, { op: '>=', limit: 1 }),
        skippedRow('webhook-scale', '2 instances ÷ 1', '×', PG_SKIPPED, { op: '>=', limit: 1.3 }),
        skippedRow('webhook-scale', `p99 request, steady ${STEADY_PER_S}/s`, 'ms', PG_SKIPPED, { op: '<=', limit: 20 }),
      ]
    }
    const repeats = quick ? 1 : 3
    return await withPostgres(async (pg) => {
      const polling: Round[] = []
      const echo: Round[] = []
      const one: Round[] = []
      const two: Round[] = []
      for (let i = 0; i < repeats; i++) {
        const postmaster = postmasterPid(path.join(pg.server.dir, 'data'))
        polling.push(await round(await pg.freshDatabase('webhook_polling'), postmaster, { kind: 'polling' }, size))
        echo.push(await round(await pg.freshDatabase('webhook_echo'), postmaster, { kind: 'echo' }, size))
        one.push(await round(await pg.freshDatabase('webhook_one'), postmaster, { kind: 'webhook', instances: 1 }, size))
        two.push(await round(await pg.freshDatabase('webhook_two'), postmaster, { kind: 'webhook', instances: 2 }, size))
      }
      const cores = os.cpus().length
      const median = (rounds: Round[], pick: (r: Round) => number): number => summarize(rounds.map(pick)).median
      const note = `PostgreSQL ${pg.version}; the emulator, proxy and database share ${cores} cores with the bots`
      // The most N instances could do here: every core busy, each update costing what it cost all
      // the parts (bots, PostgreSQL, emulator and proxy) at 1 instance, no contention counted.
      const ceiling = (r: Round): number => (1000 * cores / cpuPerUpdateMs(r, size.updates)) / r.perS
      const rows: Row[] = [
        { benchmark: 'webhook-scale', metric: `polling, 1 process, ${label} (baseline)`, unit: 'updates/s', summary: summarize(polling.map((r) => r.perS)), note: 'the same burst, emulator and server; applied = confirmed by the next getUpdates' },
        { benchmark: 'webhook-scale', metric: `echo webhook, ${label} (baseline)`, unit: 'updates/s', summary: summarize(echo.map((r) => r.perS)), note: 'what the emulator and proxy deliver to a webhook that commits nothing' },
        { benchmark: 'webhook-scale', metric: `1 instance, ${label}`, unit: 'updates/s', summary: summarize(one.map((r) => r.perS)), note },
        { benchmark: 'webhook-scale', metric: '1 instance ÷ polling', unit: '×', summary: summarize(one.map((r, i) => r.perS / (polling[i]?.perS ?? r.perS))), goal: { op: '>=', limit: 1 } },
        { benchmark: 'webhook-scale', metric: `2 instances, ${label}`, unit: 'updates/s', summary: summarize(two.map((r) => r.perS)) },
        { benchmark: 'webhook-scale', metric: '2 instances ÷ 1', unit: '×', summary: summarize(two.map((r, i) => r.perS / (one[i]?.perS ?? r.perS))), goal: { op: '>=', limit: 1.3 } },
        { benchmark: 'webhook-scale', metric: `ceiling on ${cores} cores ÷ 1 instance`, unit: '×', summary: summarize(one.map(ceiling)), note: `${cores} cores ÷ the CPU all parts spent per update at 1 instance (${median(one, (r) => cpuPerUpdateMs(r, size.updates)).toFixed(2)} ms): the most any number of instances could reach here` },
        // In the burst the emulator keeps WEBHOOK_MAX_CONNECTIONS (40, Telegram's default) requests in
        // flight, so a request waits for the ones ahead of it: its mean time is 40 ÷ the rate
        // (Little's law), ~100 ms at 400 updates/s. The ≤ 20 ms goal is for the steady rows below.
        { benchmark: 'webhook-scale', metric: 'p99 request in the burst, 1 instance', unit: 'ms', summary: summarize(one.map((r) => r.p99)), note: `p50 ${median(one, (r) => r.p50)} ms; 40 in flight: queueing, not handling` },
        { benchmark: 'webhook-scale', metric: 'p99 request in the burst, 2 instances', unit: 'ms', summary: summarize(two.map((r) => r.p99)), note: `p50 ${median(two, (r) => r.p50)} ms` },
        { benchmark: 'webhook-scale', metric: `p99 request, steady ${STEADY_PER_S}/s, echo webhook (baseline)`, unit: 'ms', summary: summarize(echo.map((r) => r.steadyP99)), note: `p50 ${median(echo, (r) => r.steadyP50)} ms: what the emulator, the proxy and this machine add to any request` },
        { benchmark: 'webhook-scale', metric: `p99 request, steady ${STEADY_PER_S}/s, 1 instance`, unit: 'ms', summary: summarize(one.map((r) => r.steadyP99)), goal: { op: '<=', limit: 20 }, note: `p50 ${median(one, (r) => r.steadyP50)} ms; for ${size.steadyS} s, from when the burst's replies were all out (${median(one, (r) => r.drainS).toFixed(1)} s after its last answer)` },
        { benchmark: 'webhook-scale', metric: `p99 request, steady ${STEADY_PER_S}/s, 2 instances`, unit: 'ms', summary: summarize(two.map((r) => r.steadyP99)), goal: { op: '<=', limit: 20 }, note: `p50 ${median(two, (r) => r.steadyP50)} ms; replies out ${median(two, (r) => r.drainS).toFixed(1)} s after the burst's last answer` },
        // What limits it: the machine's cores, shared. Busy = CPU seconds of every part ÷ (cores × wall).
        ...([['polling', polling], ['echo webhook', echo], ['1 instance', one], ['2 instances', two]] as const).map(([label, r]) => {
          const share = (pick: (c: CpuSplit) => number): string => median(r, (x) => pick(x.cpu) / x.cpu.wallS).toFixed(2)
          return {
            benchmark: 'webhook-scale',
            metric: `machine busy in the burst, ${label}`,
            unit: '%',
            summary: summarize(r.map((x) => 100 * cpuSeconds(x.cpu) / (cores * x.cpu.wallS))),
            note: `cores used: ${label === 'echo webhook' ? 'echo' : 'bots'} ${share((c) => c.bots)}, PostgreSQL ${share((c) => c.postgres)}, emulator and proxy ${share((c) => c.emulatorAndProxy)} of ${cores}`,
          } satisfies Row
        }),
        { benchmark: 'webhook-scale', metric: 'requests not answered 200 (retried)', unit: '', summary: summarize([...echo, ...one, ...two].map((r) => r.retried)) },
      ]
      return rows
    })
  },
}

// Run directly: the table alone (bench/run.ts does the same for the benchmarks it lists).
if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } })
  console.log(formatTable(await webhookScale.run({ quick: values.quick })))
  process.exit()
}
