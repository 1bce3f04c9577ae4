// A production-like setup for deploy and rollback tests: a bare "origin", a live clone of it run by
// a real PM2 daemon (own PM2_HOME) against the Bot API emulator, a developer clone that pushes new
// commits, and a runner for the real ops scripts from the live checkout, without a TTY.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { BotApiEmulator } from '../../dev/emulator/bot-api-emulator.js'
import { botEnv, FRIEND, freePort, OWNER, tempDir } from './bot-harness.js'
import { createCodeSandbox, git } from './code-sandbox.js'
import { collect, type Run } from './ops-sandbox.js'
import { Pm2Sandbox } from './pm2-sandbox.js'
import { parseLogLine } from '../../ops/lib/log-lines.mjs'

export type DeploySandbox = {
  emu: BotApiEmulator
  live: string
  dev: string
  dbFile: string
  pm2: Pm2Sandbox
  run: (script: 'deploy' | 'rollback' | 'preflight', args: string[], options?: RunOptions) => Promise<Run>
  /** Any ops script of the live checkout (e.g. reload), without a TTY. */
  runScript: (script: string, args: string[], options?: RunOptions) => Promise<Run>
  startScript: (script: string, args: string[], options?: RunOptions) => { child: ChildProcess, done: Promise<Run>, output: () => string }
  /** Starts a script in its own process group (as a terminal would), for signals; `done` is its run. */
  start: (script: 'deploy' | 'rollback', args: string[], options?: RunOptions) => { child: ChildProcess, done: Promise<Run>, output: () => string }
  /** Commits in the developer clone and pushes to origin; returns the new commit. */
  push: (message: string, change: (dir: string) => void) => string
  head: () => string
  /** Sends a text as the owner and resolves with the bot's answer. */
  ask: (text: string, timeoutMs?: number) => Promise<string>
  rows: (sql: string) => unknown[]
  /** The tasks as a user sees them (columns every version has), in id order. */
  tasks: () => unknown[]
  /** PRAGMA integrity_check of the live database. */
  integrity: () => string
  /** A user who sends "<label> <i>" every `everyMs` (default 100) until stopped. */
  traffic: (label: string, user?: number, everyMs?: number) => Traffic
  /** Where the last hand-over's wait went, from the bots' own log lines (ms from the old one's SIGINT). */
  handoverTimeline: () => string
  /**
   * The order of the last hand-over from `oldPid` to `newPid`, from the bot's own log: what makes
   * it a hand-over rather than a stop and a start is that the new process stood by before the old
   * one was asked to stop, and polled only after the old one ended its polling.
   */
  handoverOrder: (oldPid: number, newPid: number) => string
  /** GET /healthz of the process that serves (its port from storage/db/serving.json). */
  healthz: () => Promise<Record<string, unknown>>
  journal: () => Array<Record<string, unknown>>
  close: () => Promise<void>
}

export type RunOptions = {
  /** A shell line run before the script (e.g. `ulimit -f 64`), the script exec'd after it. */
  shellPrefix?: string
  /** Killed after this long (default 90 s; benchmarks on a 100 MB database need more). */
  timeoutMs?: number
  env?: Record<string, string>
}

export type Traffic = {
  /** Stops sending; waits until every message has an answer; returns the report. */
  finish: () => Promise<{ sent: string[], unanswered: string[], stored: string[], longestGapMs: number, longestGapEndedAt: string }>
}

/** Adds /ping (answers "pong") and a migration adding tasks.note: the first incoming commit of the deploy tests. */
export function addPing (dir: string): void {
  const file = path.join(dir, 'bot', 'commands', 'help.ts')
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace("  { name: 'help',", "  { name: 'ping', description: 'Answers pong', handler: async (turn) => turn.reply('pong') },\n  { name: 'help',"))
  addColumnMigration(dir, '20261125000000_add_task_note.ts', 'note')
}

/**
 * A migration adding a text column to tasks, with a real down. `additive`: it declares that the
 * code before it runs on the schema after it, so a rollback keeping the data leaves it applied.
 */
export function addColumnMigration (dir: string, name: string, column: string, options: { additive?: boolean } = {}): void {
  fs.writeFileSync(path.join(dir, 'storage', 'migrations', name), [
    "import type { Knex } from 'knex'",
    ...(options.additive === true ? ['export const additive = true'] : []),
    `export async function up (knex: Knex): Promise<void> { await knex.schema.alterTable('tasks', (t) => { t.text('${column}') }) }`,
    `export async function down (knex: Knex): Promise<void> { await knex.schema.alterTable('tasks', (t) => { t.dropColumn('${column}') }) }`,
    '',
  ].join('\n'))
}

const ZX = 'node_modules/zx/build/cli.js'

export async function createDeploySandbox (extraEnv: Record<string, string> = {}): Promise<DeploySandbox> {
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
  const env = botEnv(emu, data, { HEALTH_PORT: String(await freePort()), LOG_LEVEL: 'info', ...extraEnv })
  const pm2 = new Pm2Sandbox(live, env)
  await pm2.pm2('start', 'ecosystem.config.js')
  const dbFile = env.DATABASE_FILE ?? ''
  const spawnScript = (script: string, args: string[], options: RunOptions, detached: boolean): ChildProcess => {
    const command = [process.execPath, ZX, `ops/${script}.mjs`, ...args]
    const [file, argv] = options.shellPrefix === undefined ? [command[0] ?? '', command.slice(1)] : ['bash', ['-c', `${options.shellPrefix}; exec "$@"`, 'bash', ...command]]
    return spawn(file, argv, {
      cwd: live,
      env: { ...pm2.fullEnv, FORCE_COLOR: '0', NO_COLOR: '1', MISTER_TODO_PROGRESS_INTERVAL_S: '3600', npm_config_loglevel: 'error', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached,
    })
  }
  /** In its own process group (as a terminal runs it), for signals; `output` is what it printed so far. */
  const startInGroup = (script: string, args: string[], options: RunOptions): { child: ChildProcess, done: Promise<Run>, output: () => string } => {
    const child = spawnScript(script, args, options, true)
    let out = ''
    child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
    return { child, done: collect(child, options.timeoutMs), output: () => out }
  }
  /** The bot's JSON log lines, read the way `npm run logs` reads them (PM2's prefixes included). */
  const botLog = (): Array<{ at: number, msg: string, pid: unknown }> =>
    fs.readFileSync(path.join(live, 'storage', 'logs', 'bot.log'), 'utf8').split('\n').map(parseLogLine)
      .filter((e) => e.time !== null && e.fields.pid !== undefined)
      .map((e) => ({ at: e.time?.getTime() ?? 0, msg: e.msg, pid: e.fields.pid }))
  const rows = (sql: string): unknown[] => {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true })
    try {
      return db.prepare(sql).all()
    } finally {
      db.close()
    }
  }
  /** The `text` column of a query, from whichever engine the bot runs on. */
  const storedTexts = async (sql: string): Promise<string[]> => {
    if (env.DATABASE_URL === undefined) return (rows(sql) as Array<{ text: string }>).map((r) => r.text)
    const client = new pg.Client({ connectionString: env.DATABASE_URL })
    await client.connect()
    try {
      return (await client.query<{ text: string }>(sql)).rows.map((r) => r.text)
    } finally {
      await client.end()
    }
  }
  return {
    emu,
    live,
    dev,
    dbFile,
    pm2,
    run: (script, args, options = {}) => collect(spawnScript(script, args, options, false)),
    runScript: (script, args, options = {}) => collect(spawnScript(script, args, options, false), options.timeoutMs),
    startScript: (script, args, options = {}) => startInGroup(script, args, options),
    start: (script, args, options = {}) => startInGroup(script, args, options),
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
    rows,
    tasks: () => rows('select id, chat_id, number, text, done_at, deleted_at from tasks order by id'),
    integrity: () => String((rows('pragma integrity_check')[0] as { integrity_check: string }).integrity_check),
    traffic: (label, user = FRIEND, everyMs = 100) => {
      const sent: string[] = []
      const startedAt = Date.now()
      let sending = true
      const loop = (async () => {
        for (let i = 0; sending; i++) {
          sent.push(`${label} ${i}`)
          emu.sendText(user, user, `${label} ${i}`)
          await new Promise((resolve) => setTimeout(resolve, everyMs))
        }
      })()
      // One copy of the chat per look, not one per message: the emulator answers the bot from this
      // same event loop, and a quadratic scan starved it (the bot's sends timed out; seen as
      // "unanswered" after a restart on a busy machine).
      const answeredTexts = (): Set<string> => new Set(emu.messages(user).map((m) => m.rendered.slice(m.rendered.lastIndexOf(label))))
      const unanswered = (): string[] => {
        const answered = answeredTexts()
        return sent.filter((x) => !answered.has(x))
      }
      return {
        finish: async () => {
          sending = false
          await loop
          const until = performance.now() + 60_000
          while (unanswered().length > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
          const replies = emu.calls('sendMessage').filter((c) => c.params.chat_id === user && c.status === 200 && c.at >= startedAt).map((c) => c.at)
          let longestGapMs = 0
          let endedAt = 0
          for (let i = 1; i < replies.length; i++) {
            const gap = (replies[i] ?? 0) - (replies[i - 1] ?? 0)
            if (gap > longestGapMs) [longestGapMs, endedAt] = [gap, replies[i] ?? 0]
          }
          const stored = await storedTexts(`select text from tasks where chat_id = ${user} and text like '${label} %' order by number`)
          return { sent, unanswered: unanswered(), stored, longestGapMs, longestGapEndedAt: new Date(endedAt).toISOString() }
        },
      }
    },
    handoverTimeline: () => {
      const log = botLog()
      const sigint = log.findLast((e) => e.msg.startsWith('stopping: finishing'))
      if (sigint === undefined) return 'no hand-over in the log'
      const t0 = sigint.at
      // Every mark is relative to the SIGINT the old process got.
      const marks = ['standby: loaded', 'stopping: finishing', 'polling ended', 'stopped', 'take-over plan carried out', 'took over: serving', 'ready']
      return log.filter((e) => e.at >= t0 - 60_000 && marks.some((m) => e.msg.startsWith(m)))
        .map((e) => `${e.msg.split(':')[0]} (pid ${e.pid}) ${e.at - t0} ms`).join('; ') + ` (0 = ${new Date(t0).toISOString()})`
    },
    handoverOrder: (oldPid, newPid) => {
      // "ready for pm2" is logged just before the ready message that makes PM2 ask the old process
      // to stop; "standby: loaded, waiting" comes at the first look at the lock, which a loaded
      // machine may delay past the old one's stop.
      const marks: Array<[number, string, string]> = [[newPid, 'ready for pm2', 'new stood by'], [oldPid, 'stopping: finishing', 'old asked to stop'], [oldPid, 'polling ended', 'old ended polling'], [newPid, 'took over: serving', 'new took over']]
      const log = botLog()
      const seen = marks.flatMap(([pid, msg, name]) => {
        const e = log.findLast((x) => x.pid === pid && x.msg.startsWith(msg))
        return e === undefined ? [] : [{ at: e.at, name }]
      })
      // Stable: lines logged in the same millisecond keep the order above (which the log shows too).
      return seen.sort((a, b) => a.at - b.at).map((e) => e.name).join(' → ')
    },
    healthz: async () => {
      const serving = JSON.parse(fs.readFileSync(path.join(path.dirname(dbFile), 'serving.json'), 'utf8')) as { healthPort: number }
      const res = await fetch(`http://127.0.0.1:${serving.healthPort}/healthz`)
      return await res.json() as Record<string, unknown>
    },
    journal: () => {
      const file = path.join(live, 'storage', 'deploys.jsonl')
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : []
    },
    close: async () => {
      // KEEP_SANDBOX=1 keeps the folder (and PM2's own log) to read after a failure.
      const keep = process.env.KEEP_SANDBOX !== undefined && process.env.KEEP_SANDBOX !== ''
      if (keep) fs.cpSync(path.join(pm2.home, 'pm2.log'), path.join(base, 'pm2.log'))
      await pm2.kill()
      await emu.stop()
      if (keep) console.error(`# sandbox kept: ${base}`)
      else fs.rmSync(base, { recursive: true, force: true })
    },
  }
}
