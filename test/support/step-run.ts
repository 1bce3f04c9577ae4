// Runs test/fixtures/progress/run-step.mjs (one ops step with its progress, then its ✓/✗ line) as
// an operator would see it: in a pipe (a log), or on a pseudo-terminal (`script` from util-linux),
// keeping when each piece of output arrived.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { stripVTControlCharacters } from 'node:util'

export const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'progress')
export const RUN_STEP = path.join(FIXTURES, 'run-step.mjs')
export const TAP_STREAM = path.join(FIXTURES, 'tap-stream.mjs')

export type Chunk = { at: number, stream: 'stdout' | 'stderr', text: string }
export type StepRun = { code: number | null, stdout: string, stderr: string, chunks: Chunk[], pid: number }
export type StepOptions = {
  env?: Record<string, string>
  /** Run on a pseudo-terminal of this many columns (stdout and stderr are then one stream). */
  tty?: { columns: number }
  cwd?: string
  /** Called once the step has printed something matching (e.g. to press Ctrl-C then). */
  when?: { output: RegExp, then: (pid: number) => void }
}

/** Single-quoted for sh. */
const sh = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`

/** The environment of an operator's shell: no CI, none of this tap run's settings, no forced colours. */
export function operatorEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(env)) if (/^_?TAP/.test(name)) delete env[name]
  for (const name of ['CI', 'NODE_OPTIONS', 'FORCE_COLOR', 'NO_COLOR', 'MISTER_TODO_PROGRESS_INTERVAL_S', 'COLUMNS']) delete env[name]
  return { ...env, TERM: 'xterm-256color', ...extra }
}

export function runStep (args: string[], options: StepOptions = {}): Promise<StepRun> {
  const env = operatorEnv(options.env)
  const command = [process.execPath, RUN_STEP, ...args]
  const child = options.tty === undefined
    ? spawn(command[0] ?? '', command.slice(1), { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn('script', ['-q', '-e', '-c', `stty cols ${options.tty.columns} rows 24; exec ${command.map(sh).join(' ')}`, '/dev/null'], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  const started = performance.now()
  const chunks: Chunk[] = []
  let seen = ''
  let fired = false
  const take = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
    chunks.push({ at: performance.now() - started, stream, text: d.toString() })
    seen += d.toString()
    if (options.when !== undefined && !fired && options.when.output.test(stripVTControlCharacters(seen))) {
      fired = true
      options.when.then(child.pid ?? 0)
    }
  }
  child.stdout?.on('data', take('stdout'))
  child.stderr?.on('data', take('stderr'))
  const timer = setTimeout(() => process.kill(-(child.pid ?? 0), 'SIGKILL'), 60_000)
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer)
      const of = (s: string): string => chunks.filter((c) => c.stream === s).map((c) => c.text).join('')
      resolve({ code, stdout: of('stdout'), stderr: of('stderr'), chunks, pid: child.pid ?? 0 })
    })
  })
}

/** Runs a command on a pseudo-terminal of 100 columns and gives back what the terminal received. */
export function runOnTerminal (command: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  const child = spawn('script', ['-q', '-e', '-c', `stty cols 100 rows 24; exec ${command.map(sh).join(' ')}`, '/dev/null'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  return new Promise((resolve) => child.on('close', () => resolve(out)))
}

/**
 * A terminal transcript as the successive states of its last line: each erase (`ESC[1G ESC[2K`)
 * starts a new frame; colours are kept so a test can look for them.
 */
export function frames (transcript: string): string[] {
  return transcript.replaceAll('\r\n', '\n').split('\x1b[1G\x1b[2K')
}

/** The process is gone, or only a zombie is left of it (in a container nothing may reap it). */
export function gone (pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}
