// A production-like setup for deploy and rollback tests: a bare "origin", a live clone of it run by
// a real PM2 daemon (own PM2_HOME) against the Bot API emulator, a developer clone that pushes new
// commits, and a runner for the real ops scripts from the live checkout, without a TTY.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { BotApiEmulator } from '../../dev/emulator/bot-api-emulator.js'
import { botEnv, freePort, OWNER, tempDir } from './bot-harness.js'
import { createCodeSandbox, git } from './code-sandbox.js'
import { collect, type Run } from './ops-sandbox.js'
import { Pm2Sandbox } from './pm2-sandbox.js'

export type DeploySandbox = {
  emu: BotApiEmulator
  live: string
  dev: string
  dbFile: string
  pm2: Pm2Sandbox
  run: (script: 'deploy' | 'rollback' | 'preflight', args: string[]) => Promise<Run>
  /** Commits in the developer clone and pushes to origin; returns the new commit. */
  push: (message: string, change: (dir: string) => void) => string
  head: () => string
  /** Sends a text as the owner and resolves with the bot's answer. */
  ask: (text: string, timeoutMs?: number) => Promise<string>
  rows: (sql: string) => unknown[]
  journal: () => Array<Record<string, unknown>>
  close: () => Promise<void>
}

export async function createDeploySandbox (): Promise<DeploySandbox> {
  const emu = await BotApiEmulator.start()
  const code = createCodeSandbox()
  const base = tempDir('mister-todo-deploy-')
  const origin = path.join(base, 'origin.git')
  const live = path.join(base, 'live')
  const dev = path.join(base, 'dev')
  git(base, 'clone', '-q', '--bare', code, origin)
  git(base, 'clone', '-q', origin, live)
  git(base, 'clone', '-q', origin, dev)
  fs.rmSync(code, { recursive: true, force: true })
  for (const dir of [live, dev]) {
    if (!fs.existsSync(path.join(dir, 'node_modules'))) fs.symlinkSync(path.join(import.meta.dirname, '..', '..', 'node_modules'), path.join(dir, 'node_modules'))
  }
  const data = path.join(base, 'data')
  const env = botEnv(emu, data, { HEALTH_PORT: String(await freePort()), LOG_LEVEL: 'info' })
  const pm2 = new Pm2Sandbox(live, env)
  await pm2.pm2('start', 'ecosystem.config.js')
  const dbFile = env.DATABASE_FILE ?? ''
  return {
    emu,
    live,
    dev,
    dbFile,
    pm2,
    run: (script, args) => collect(spawn(process.execPath, ['node_modules/zx/build/cli.js', `ops/${script}.mjs`, ...args], {
      cwd: live,
      env: { ...pm2.fullEnv, FORCE_COLOR: '0', NO_COLOR: '1', npm_config_loglevel: 'error', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })),
    push: (message, change) => {
      change(dev)
      git(dev, 'add', '-A')
      git(dev, 'commit', '-qm', message)
      git(dev, 'push', '-q', 'origin', 'HEAD:main')
      return git(dev, 'rev-parse', 'HEAD')
    },
    head: () => git(live, 'rev-parse', 'HEAD'),
    ask: async (text, timeoutMs = 20_000) => {
      const answer = emu.waitForMessage(OWNER, undefined, timeoutMs)
      emu.sendText(OWNER, OWNER, text)
      return (await answer).rendered
    },
    rows: (sql) => {
      const db = new Database(dbFile, { readonly: true, fileMustExist: true })
      try {
        return db.prepare(sql).all()
      } finally {
        db.close()
      }
    },
    journal: () => {
      const file = path.join(live, 'storage', 'deploys.jsonl')
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : []
    },
    close: async () => {
      await pm2.kill()
      await emu.stop()
      fs.rmSync(base, { recursive: true, force: true })
    },
  }
}
