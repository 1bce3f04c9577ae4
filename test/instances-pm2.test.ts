// Several instances under a real PM2 daemon (own PM2_HOME, a copy of this code): WEB_CONCURRENCY=2
// in webhook mode on PostgreSQL runs two instances in cluster mode, each with its own /healthz
// (HEALTH_PORT + its number), one of them leading; `pm2 reload` while a user writes every 50 ms
// (through ops/reload.mjs, which then confirms each instance on the version) replaces them one by
// one and Telegram (the emulator, which retries anything but a 2xx) sees no
// request refused or failed, and every message applied and answered once, in order.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import t from 'tap'
import { openDatabase } from '../bot/db.js'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'
import { botEnv, FRIEND, freePort, tempDir } from './support/bot-harness.js'
import { createCodeSandbox, git } from './support/code-sandbox.js'
import { Pm2Sandbox } from './support/pm2-sandbox.js'
import { freshDatabase, NOT_INSTALLED, postgresBin } from './support/postgres.js'
import { waitUntil } from './support/wait.js'

const skip = postgresBin() === null ? NOT_INSTALLED : false

type Instance = { pid: number, leads: boolean, name: string }

/** `npm run reload` in the code folder, with the sandbox's PM2 and bot environment. */
async function runReload (cwd: string, env: Record<string, string>): Promise<{ code: number, output: string }> {
  const child = spawn(process.execPath, ['ops/reload.mjs'], { cwd, env: { ...env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)))
  return { code, output: stripVTControlCharacters(output) }
}

/** Two ports in a row that were free a moment ago (HEALTH_PORT and HEALTH_PORT + 1). */
async function twoFreePorts (): Promise<number> {
  for (;;) {
    const port = await freePort()
    const net = await import('node:net')
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false)).listen(port + 1, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    if (free) return port
  }
}

async function instanceAt (port: number): Promise<Instance | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`)
    const h = await res.json() as { instance: Instance }
    return h.instance
  } catch {
    return null
  }
}

t.test('instances: pm2 reload of 2 instances under webhook traffic → 0 requests refused or failed, each message applied and answered once', { skip }, async (t) => {
  const { url } = await freshDatabase(t)
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 100, maxMs: 1000 } })
  const code = createCodeSandbox()
  const data = tempDir()
  const port = await freePort()
  const healthPort = await twoFreePorts()
  const pm2 = new Pm2Sandbox(code, botEnv(emu, data, {
    DATABASE_URL: url,
    TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}/telegram`,
    TELEGRAM_WEBHOOK_SECRET: 'instances-pm2-secret-0123456789abcdefghijk',
    WEBHOOK_LISTEN: `127.0.0.1:${port}`,
    HEALTH_PORT: String(healthPort),
    WEB_CONCURRENCY: '2',
    LOG_LEVEL: 'info',
  }))
  const db = openDatabase({ engine: 'postgres', url, poolMax: 2, statementTimeoutMs: 15_000, applicationName: 'mister_todo_test' })
  t.teardown(async () => {
    await pm2.kill()
    await db.destroy()
    await emu.stop()
    for (const dir of [code, data]) fs.rmSync(dir, { recursive: true, force: true })
  })
  await pm2.pm2('start', path.join(code, 'ecosystem.config.js'))
  const both = async (): Promise<Instance[] | null> => {
    const found = await Promise.all([instanceAt(healthPort), instanceAt(healthPort + 1)])
    return found.every((i) => i !== null) ? found as Instance[] : null
  }
  const before = await waitUntil(both, { what: 'both instances answering /healthz', timeoutMs: 40_000, everyMs: 200 })
  t.equal(new Set(before.map((i) => i.pid)).size, 2, 'two processes')
  t.match(before.map((i) => i.name), [/^#0 \d+@/, /^#1 \d+@/], 'named by PM2 instance, pid@host')
  await waitUntil(async () => (await both())?.filter((i) => i.leads).length === 1, { what: 'one leader', timeoutMs: 10_000 })

  // A user writes every 50 ms while PM2 replaces both instances, one after the other.
  const sent: string[] = []
  let sending = true
  const traffic = (async () => {
    for (let i = 0; sending; i++) {
      sent.push(`r ${i}`)
      emu.sendText(FRIEND, FRIEND, `r ${i}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  await new Promise((resolve) => setTimeout(resolve, 500))
  // The operator's reload: the code's dry start, then pm2 reload; it confirms every instance.
  const reloaded = await runReload(code, pm2.fullEnv)
  t.equal(reloaded.code, 0, reloaded.code === 0 ? 'npm run reload exits 0' : reloaded.output)
  const commit = git(code, 'rev-parse', 'HEAD')
  t.match(reloaded.output, new RegExp(`✓ verify instances {2}2 instances \\(health ports ${healthPort}–${healthPort + 1}\\) run ${commit.slice(0, 7)}, #[01] leads`), 'both instances confirmed on the version, one leading')
  const after = await waitUntil(async () => {
    const found = await both()
    return found !== null && found.every((i) => !before.some((b) => b.pid === i.pid)) ? found : null
  }, { what: 'two new processes', timeoutMs: 40_000, everyMs: 200 })
  await new Promise((resolve) => setTimeout(resolve, 500))
  sending = false
  await traffic
  await waitUntil(() => emu.messages(FRIEND).length >= sent.length, { what: `${sent.length} answers`, timeoutMs: 20_000, seen: () => `${emu.messages(FRIEND).length}` })
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.comment(`${sent.length} messages during the reload`)
  const attempts = emu.webhookAttempts()
  t.same(attempts.filter((a) => a.status !== 200), [], 'no request refused, failed or answered with an error')
  t.equal(attempts.length, sent.length, 'each delivered once: nothing had to be retried')
  const stored = await db('tasks').where({ chat_id: FRIEND }).orderBy('number').select('text') as Array<{ text: string }>
  t.same(stored.map((r) => r.text), sent, 'each applied once, in order')
  t.equal(emu.messages(FRIEND).length, sent.length, 'each answered once')
  t.equal(new Set(after.map((i) => i.pid)).size, 2)
  await waitUntil(async () => (await both())?.filter((i) => i.leads).length === 1, { what: 'one leader after the reload', timeoutMs: 10_000 })
})
