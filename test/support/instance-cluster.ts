// Several bot instances as real processes on one fresh PostgreSQL database, behind a round-robin
// proxy (as nginx in front of several machines), talking to one Bot API emulator.
import fs from 'node:fs'
import type { ChildProcess } from 'node:child_process'
import type { Test } from 'tap'
import { openDatabase, type Database } from '../../bot/db.js'
import { BotApiEmulator } from '../../dev/emulator/bot-api-emulator.js'
import { botEnv, exited, freePort, OWNER, spawnBot, tempDir, waitForLog } from './bot-harness.js'
import { freshDatabase } from './postgres.js'
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.js'

export const INSTANCE_SECRET = 'instances-secret-0123456789abcdefghijklmnop'

export type Instance = { child: ChildProcess & { output: () => string }, port: number, healthPort: number }
export type Cluster = { emu: BotApiEmulator, proxy: RoundRobinProxy, instances: Instance[], db: Database, url: string }

export type HealthJson = { instance: { name: string, leads: boolean, several: boolean, pid: number }, metrics: { updates: number, duplicates: number } }

export async function healthz (port: number): Promise<HealthJson> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`)
  return await res.json() as HealthJson
}

/** N instances on one fresh database, started at once (one of them migrates it), behind one proxy;
 * `users` are allowed beside the owner. Everything is killed and removed at the test's end. */
export async function startCluster (t: Test, n: number, users: readonly number[] = []): Promise<Cluster> {
  const { url } = await freshDatabase(t)
  const emu = await BotApiEmulator.start({ webhookRetry: { firstMs: 100, maxMs: 1000 } })
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()))
  const proxy = await startRoundRobinProxy(ports)
  const dirs: string[] = []
  const instances: Instance[] = []
  for (const port of ports) {
    const dir = tempDir()
    dirs.push(dir)
    const healthPort = await freePort()
    const env = botEnv(emu, dir, {
      DATABASE_URL: url,
      TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${proxy.port}/hook`,
      WEBHOOK_LISTEN: `127.0.0.1:${port}`,
      TELEGRAM_WEBHOOK_SECRET: INSTANCE_SECRET,
      HEALTH_PORT: String(healthPort),
      ALLOWED_USER_IDS: [OWNER, ...users].join(','),
      LOG_LEVEL: 'info',
    })
    instances.push({ child: spawnBot(env), port, healthPort })
  }
  const db = openDatabase({ engine: 'postgres', url, poolMax: 2, statementTimeoutMs: 15_000, applicationName: 'mister_todo_test' })
  t.teardown(async () => {
    for (const i of instances) i.child.kill('SIGKILL')
    await Promise.all(instances.map((i) => exited(i.child)))
    await db.destroy()
    await proxy.close()
    await emu.stop()
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  })
  await Promise.all(instances.map((i) => waitForLog(i.child, /"msg":"ready"/, 30_000)))
  return { emu, proxy, instances, db, url }
}
