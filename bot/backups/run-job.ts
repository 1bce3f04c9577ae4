// Runs a scheduled job as its own process, `node ops/backup.mjs --scheduled|--drill --json`: the same
// code an operator runs, and its copying, hashing and integrity checks never block the bot's event
// loop. The child prints one JSON line with the outcome.
import { spawn, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import type { JobName } from './store.js'

export type JobOutcome = { ok: true, [key: string]: unknown } | { ok: false, step: string, error: string, [key: string]: unknown }

export type JobRequest = {
  job: JobName
  /** The checkout whose ops/backup.mjs runs (the bot's own). */
  codeRoot: string
  /** With --drill: a backup file or folder to drill instead of the newest local backup. */
  backupFrom?: string
  env: NodeJS.ProcessEnv
  timeoutMs: number
  signal: AbortSignal
}

const OUTPUT_TAIL = 2000
const JOB_NICENESS = 10

export function runJob (r: JobRequest): Promise<JobOutcome> {
  const args = [path.join(r.codeRoot, 'ops', 'backup.mjs'), r.job === 'backup' ? '--scheduled' : '--drill', ...(r.backupFrom === undefined ? [] : ['--backup', r.backupFrom]), '--json']
  return new Promise((resolve) => {
    let stdout = ''
    let stderr = ''
    let ended: string | null = null
    const child: ChildProcess = spawn(process.execPath, args, { cwd: r.codeRoot, env: r.env, stdio: ['ignore', 'pipe', 'pipe'] })
    // A lower priority: on a small server the bot's answers come before the backup's hashing.
    try { if (child.pid !== undefined) os.setPriority(child.pid, JOB_NICENESS) } catch { /* not allowed here: runs at the bot's priority */ }
    child.stdout?.on('data', (d: Buffer) => { stdout = (stdout + d.toString()).slice(-OUTPUT_TAIL) })
    child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-OUTPUT_TAIL) })
    const stop = (why: string): void => {
      ended = why
      child.kill('SIGTERM')
    }
    const timer = setTimeout(() => stop(`did not finish within ${Math.round(r.timeoutMs / 1000)} s and was stopped`), r.timeoutMs)
    const onAbort = (): void => stop('stopped with the bot')
    r.signal.addEventListener('abort', onAbort, { once: true })
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ ok: false, step: r.job, error: `cannot start ops/backup.mjs: ${err.message}` })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      r.signal.removeEventListener('abort', onAbort)
      const last = stdout.trim().split('\n').at(-1) ?? ''
      try {
        const outcome = JSON.parse(last) as JobOutcome
        if (ended === null && typeof outcome.ok === 'boolean') return resolve(outcome)
      } catch {
        // not a JSON line: described below
      }
      const said = stderr.trim().split('\n').at(-1)?.replace(/^✗ /, '') ?? ''
      resolve({ ok: false, step: r.job, error: ended ?? `ops/backup.mjs exited with ${code}${said === '' ? '' : `: ${said}`}` })
    })
  })
}
