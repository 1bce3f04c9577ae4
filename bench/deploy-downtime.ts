// Deploy downtime: a user sends a to-do every 100 ms while `ops/deploy.mjs --yes --offline` deploys
// a new commit (real bare origin, live clone under a real PM2 daemon, the emulator); downtime is the
// longest gap between answered commands; lost and doubled commands are counted. Baseline in the
// same run: a bare `pm2 restart` under the same traffic. Variants: without a dependency change, and
// with one (package-lock.json changed: deploy runs `npm ci` beside the live checkout before the stop).
// Goals: ≤ 2 s and ≤ 1.3× the restart without; ≤ 3 s with; 0 lost, 0 doubled.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { createDeploySandbox, type DeploySandbox } from '../test/support/deploy-sandbox.js'
import { FRIEND } from '../test/support/bot-harness.js'
import { git } from '../test/support/code-sandbox.js'
import type { Run } from '../test/support/ops-sandbox.js'
import { startChatTraffic, type Outage } from './lib/chat-traffic.js'
import { breakdown, stepsBetween, type Step } from './lib/journal-steps.js'
import type { Benchmark, BenchOptions, Row } from './lib/report.js'
import { summarize } from './lib/stats.js'

const FULL = { repeats: 3, depRepeats: 1 }
// The dependency variant's npm ci (before the stop) compiles better-sqlite3 from source: minutes, too slow for CI.
const QUICK = { repeats: 1, depRepeats: 0 }
const DEPLOY = ['--yes', '--offline', '--watch', '1', '--test-command', 'true']
/** Traffic runs this long before and after the operation, so the gap has answers on both sides. */
const MARGIN_MS = 1_000
const DEPLOY_TIMEOUT_MS = 600_000

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function storedCounts (s: DeploySandbox): (texts: readonly string[]) => Map<string, number> {
  return () => new Map((s.rows(`select text, count(*) as n from tasks where chat_id = ${FRIEND} group by text`) as Array<{ text: string, n: number }>).map((r) => [r.text, r.n]))
}

/** Runs `operation` inside a window of traffic and reports what the user saw. */
async function underTraffic (s: DeploySandbox, tag: string, operation: () => Promise<void>): Promise<Outage> {
  const traffic = startChatTraffic(s.emu, FRIEND, tag)
  await settle(MARGIN_MS)
  try {
    await operation()
  } finally {
    await settle(MARGIN_MS)
  }
  return traffic.stop(storedCounts(s))
}

async function restartRound (s: DeploySandbox, tag: string): Promise<Outage> {
  return underTraffic(s, tag, async () => { await s.pm2.pm2('restart', 'ecosystem.config.js', '--update-env') })
}

/**
 * deploy.mjs as the sandbox runs it, but with room for a full `npm ci` (the sandbox's runner kills
 * a script after 90 s; an install that compiles better-sqlite3 on a busy 2-core machine takes longer).
 */
async function runDeploy (s: DeploySandbox): Promise<Run> {
  const child = spawn(process.execPath, ['node_modules/zx/build/cli.js', 'ops/deploy.mjs', ...DEPLOY], {
    cwd: s.live,
    env: { ...s.pm2.fullEnv, FORCE_COLOR: '0', NO_COLOR: '1', npm_config_loglevel: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), DEPLOY_TIMEOUT_MS)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

async function deployRound (s: DeploySandbox, tag: string, change: (dir: string) => void): Promise<Outage & { steps: Step[] }> {
  const to = s.push(`bench ${tag}`, change)
  const outage = await underTraffic(s, tag, async () => {
    const run = await runDeploy(s)
    if (run.code !== 0 || s.head() !== to) throw new Error(`deploy ${tag} failed (exit ${run.code}): ${(run.stderr || run.stdout).trim().split('\n').slice(-3).join(' | ')}`)
  })
  // The journal's steps from the stop to the start: what the downtime is made of.
  return { ...outage, steps: stepsBetween((s.journal().at(-1)?.steps ?? []) as Step[], 'stop', 'start') }
}

/** A code change that needs no new dependency: a comment line in the entry point. */
function touchCode (tag: string): (dir: string) => void {
  return (dir) => fs.appendFileSync(path.join(dir, 'bot', 'main.ts'), `// bench ${tag}\n`)
}

/** A lockfile change `npm ci` must act on, resolvable from the npm cache on any machine that has installed the project: the package's own version. */
function bumpVersion (n: number): (dir: string) => void {
  return (dir) => {
    for (const file of ['package.json', 'package-lock.json']) {
      const p = path.join(dir, file)
      const json = JSON.parse(fs.readFileSync(p, 'utf8')) as { version: string, packages?: Record<string, { version?: string }> }
      json.version = `0.1.${100 + n}`
      const root = json.packages?.['']
      if (root !== undefined) root.version = json.version
      fs.writeFileSync(p, JSON.stringify(json, null, 2) + '\n')
    }
  }
}

/**
 * A server's own node_modules for the dependency variant: deploy installs the incoming ones beside
 * it before the stop and swaps them in by rename after it, so the sandbox's symlink to this
 * project's node_modules is replaced by a copy first (nothing a deploy does may reach this
 * project's own). The code sandbox commits that symlink, so git is told to leave the path alone.
 */
async function ownNodeModules (s: DeploySandbox): Promise<void> {
  const modules = path.join(s.live, 'node_modules')
  if (!fs.lstatSync(modules).isSymbolicLink()) return
  await s.pm2.pm2('stop', 'ecosystem.config.js')
  const source = fs.realpathSync(modules)
  if (git(s.live, 'ls-files', 'node_modules') !== '') git(s.live, 'update-index', '--skip-worktree', 'node_modules')
  fs.unlinkSync(modules)
  fs.cpSync(source, modules, { recursive: true, verbatimSymlinks: true })
  await s.pm2.pm2('start', 'ecosystem.config.js', '--update-env')
  if (fs.lstatSync(modules).isSymbolicLink()) throw new Error('the live checkout still links node_modules: refusing to run npm ci')
}

type DeployOutage = Outage & { steps: Step[] }

function rows (name: string, restarts: readonly Outage[], deploys: readonly DeployOutage[], deps: readonly DeployOutage[], note: string): Row[] {
  const all = [...restarts, ...deploys, ...deps]
  const out: Row[] = [
    { benchmark: name, metric: 'pm2 restart gap (baseline)', unit: 'ms', summary: summarize(restarts.map((o) => o.gapMs)), note },
    { benchmark: name, metric: 'deploy gap, no dep change', unit: 'ms', summary: summarize(deploys.map((o) => o.gapMs)), goal: { op: '<=', limit: 2_000 }, note: breakdown(deploys.map((d) => d.steps)) },
    { benchmark: name, metric: 'deploy / restart', unit: '×', summary: summarize(deploys.map((o, i) => o.gapMs / (restarts[i]?.gapMs ?? Number.NaN))), goal: { op: '<=', limit: 1.3 } },
  ]
  if (deps.length > 0) out.push({ benchmark: name, metric: 'deploy gap, lockfile changed', unit: 'ms', summary: summarize(deps.map((o) => o.gapMs)), goal: { op: '<=', limit: 3_000 }, note: breakdown(deps.map((d) => d.steps)) })
  out.push(
    { benchmark: name, metric: 'lost commands', unit: '', summary: summarize([all.reduce((n, o) => n + o.lost, 0)]), goal: { op: '<=', limit: 0 }, note: `of ${all.reduce((n, o) => n + o.sent, 0)} sent` },
    { benchmark: name, metric: 'doubled commands', unit: '', summary: summarize([all.reduce((n, o) => n + o.doubled, 0)]), goal: { op: '<=', limit: 0 } },
  )
  return out
}

async function run ({ quick }: BenchOptions): Promise<Row[]> {
  const size = quick ? QUICK : FULL
  const s = await createDeploySandbox()
  try {
    await s.ask('/help', 30_000)
    const restarts: Outage[] = []
    const deploys: DeployOutage[] = []
    const deps: DeployOutage[] = []
    // Alternate so that drift on the machine hits both sides alike.
    for (let r = 1; r <= size.repeats; r += 1) {
      restarts.push(await restartRound(s, `r${r}a`))
      deploys.push(await deployRound(s, `r${r}b`, touchCode(`r${r}`)))
    }
    if (size.depRepeats > 0) await ownNodeModules(s)
    for (let r = 1; r <= size.depRepeats; r += 1) deps.push(await deployRound(s, `d${r}`, bumpVersion(r)))
    return rows('deploy downtime', restarts, deploys, deps, `a command every 100 ms; ${size.repeats} restart(s), ${size.repeats} deploy(s), ${size.depRepeats} with npm ci`)
  } finally {
    await s.close()
  }
}

export const deployDowntime: Benchmark = { name: 'deploy-downtime', describe: 'longest unanswered gap during a deploy vs pm2 restart', run }
