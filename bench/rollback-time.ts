// Rollback time: with a 100 MB database, the time from starting `ops/rollback.mjs --yes` to the
// first command the rolled-back bot answers (a user sends one every 100 ms throughout), after a real
// deploy it undoes (bare origin, live clone under a real PM2 daemon, the emulator). Baseline in the
// same run: from `pm2 restart` to the first answer after it. Goal: ≤ 5 s.
import fs from 'node:fs'
import path from 'node:path'
import { FRIEND, OWNER } from '../test/support/bot-harness.js'
import { createDeploySandbox, type DeploySandbox } from '../test/support/deploy-sandbox.js'
import { databaseAt, type DatasetSpec } from './lib/dataset.js'
import { breakdown, stepsBetween, type Step } from './lib/journal-steps.js'
import type { Benchmark, BenchOptions, Row } from './lib/report.js'
import { summarize } from './lib/stats.js'

/** About 100 MB with the generator's task texts (500 000 tasks make 65 MB). */
const FULL = { repeats: 3, dataset: { tasks: 780_000, chats: 8_000, bigChatId: OWNER, bigChatTasks: 1_000 } }
const QUICK = { repeats: 1, dataset: { tasks: 20_000, chats: 200, bigChatId: OWNER, bigChatTasks: 1_000 } }
const DEPLOY = ['--yes', '--offline', '--watch', '1', '--test-command', 'true']
const EVERY_MS = 100
/** No answer for this long means the bot is down (at 100 ms per command it answers within ~20 ms). */
const DOWN_MS = 400

type Timing = { firstAnswerMs: number, gapMs: number, steps: Step[] }

/**
 * Sends a to-do every 100 ms while `operation` runs and returns the time from the operation's
 * start to the first answer after the outage (the first answer following a silence ≥ DOWN_MS).
 */
async function timeToAnswer (s: DeploySandbox, tag: string, operation: () => Promise<void>): Promise<Timing> {
  let n = 0
  const timer = setInterval(() => { s.emu.sendText(FRIEND, FRIEND, `task ${++n} ${tag}`) }, EVERY_MS)
  const startedAt = Date.now()
  try {
    await operation()
    await s.emu.waitForMessage(FRIEND, undefined, 30_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
  } finally {
    clearInterval(timer)
  }
  const answers = s.emu.calls('sendMessage').filter((c) => c.params.chat_id === FRIEND && c.status === 200 && c.at >= startedAt).map((c) => c.at)
  let gapMs = 0
  let resumedAt = Number.NaN
  for (let i = 0, prev = startedAt; i < answers.length; prev = answers[i] ?? prev, i += 1) {
    const gap = (answers[i] ?? 0) - prev
    if (gap > gapMs) {
      gapMs = gap
      resumedAt = answers[i] ?? Number.NaN
    }
  }
  if (gapMs < DOWN_MS) throw new Error(`${tag}: no outage seen (longest gap ${gapMs} ms): was the bot restarted at all?`)
  return { firstAnswerMs: resumedAt - startedAt, gapMs, steps: [] }
}

/** Puts a generated database in place of the sandbox's, with the bot stopped. */
async function bigDatabase (s: DeploySandbox, spec: DatasetSpec): Promise<number> {
  await s.pm2.pm2('stop', 'ecosystem.config.js')
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(s.dbFile + suffix, { force: true })
  await databaseAt(s.dbFile, spec)
  fs.chmodSync(s.dbFile, 0o600)
  await s.pm2.pm2('start', 'ecosystem.config.js', '--update-env')
  await s.ask('/help', 30_000)
  return fs.statSync(s.dbFile).size
}

async function deploy (s: DeploySandbox, tag: string): Promise<void> {
  const to = s.push(`bench ${tag}`, (dir) => fs.appendFileSync(path.join(dir, 'bot', 'main.ts'), `// bench ${tag}\n`))
  const run = await s.run('deploy', DEPLOY)
  if (run.code !== 0 || s.head() !== to) throw new Error(`deploy ${tag} failed (exit ${run.code}): ${(run.stderr || run.stdout).trim().split('\n').slice(-3).join(' | ')}`)
}

async function rollback (s: DeploySandbox, tag: string): Promise<Timing> {
  const before = s.head()
  const timing = await timeToAnswer(s, tag, async () => {
    const run = await s.run('rollback', ['--yes', '--watch', '1'])
    if (run.code !== 0 || s.head() === before) throw new Error(`rollback ${tag} failed (exit ${run.code}): ${(run.stderr || run.stdout).trim().split('\n').slice(-3).join(' | ')}`)
  })
  return { ...timing, steps: stepsBetween((s.journal().at(-1)?.steps ?? []) as Step[], 'rollback stop', 'rollback start') }
}

async function run ({ quick }: BenchOptions): Promise<Row[]> {
  const size = quick ? QUICK : FULL
  const s = await createDeploySandbox()
  try {
    const bytes = await bigDatabase(s, size.dataset)
    const restarts: Timing[] = []
    const rollbacks: Timing[] = []
    for (let r = 1; r <= size.repeats; r += 1) {
      restarts.push(await timeToAnswer(s, `r${r}a`, async () => { await s.pm2.pm2('restart', 'ecosystem.config.js', '--update-env') }))
      await deploy(s, `r${r}`)
      rollbacks.push(await rollback(s, `r${r}b`))
    }
    const name = 'rollback time'
    const note = `${size.dataset.tasks.toLocaleString('en-US')} tasks, ${Math.round(bytes / 1e6)} MB database`
    return [
      { benchmark: name, metric: 'pm2 restart → first answer (baseline)', unit: 'ms', summary: summarize(restarts.map((t) => t.firstAnswerMs)), note },
      { benchmark: name, metric: 'rollback → first answer', unit: 'ms', summary: summarize(rollbacks.map((t) => t.firstAnswerMs)), goal: { op: '<=', limit: 5_000 }, note: `silent ${(summarize(rollbacks.map((t) => t.gapMs)).median / 1000).toFixed(1)} s: ${breakdown(rollbacks.map((t) => t.steps))}` },
    ]
  } finally {
    await s.close()
  }
}

export const rollbackTime: Benchmark = { name: 'rollback-time', describe: 'rollback start → first answered command, 100 MB database', run }
