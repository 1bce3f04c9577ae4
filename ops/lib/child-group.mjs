// @ts-check
// A long child command (the incoming tests, npm ci) in a process group of its own, read line by
// line as it runs, that can be ended as a whole: on request (stop at the first failing file), on
// Ctrl-C / SIGTERM / SIGHUP to the ops script, and if the ops script exits while it runs.
import { spawn } from 'node:child_process'
import readline from 'node:readline'

/** How long a stopped group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 3000
const SIGNALS = /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])
/**
 * The group's niceness: it runs beside the serving bot on a machine of maybe one or two cores, and
 * the bot's answers come first. Seen: `npm ci` compiling better-sqlite3 at normal priority made a
 * user wait 783 ms during a deploy whose hand-over itself took ~100 ms.
 */
export const GROUP_NICENESS = 10

/**
 * @typedef {{
 *   code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string,
 *   stoppedBy: string | null, interrupted: NodeJS.Signals | null
 * }} GroupResult
 *   `stoppedBy`: the reason given to stop(); `interrupted`: the signal the ops script received.
 * @typedef {{
 *   cwd: string, env: NodeJS.ProcessEnv, onStdout?: (chunk: string) => void,
 *   onStderrLine?: (line: string) => void, onInterrupt?: (signal: NodeJS.Signals) => void
 * }} GroupOptions
 */

/**
 * Starts `file args` as the leader of a new process group. Signals the ops script receives while
 * it runs end the group (the script's own handlers still run: deploy records the interruption).
 * @param {string} file @param {string[]} args @param {GroupOptions} options
 */
export function runGroup (file, args, options) {
  // Started through coreutils' nice, which execs the command in place (same pid, same group): it
  // runs niced from its first instruction, and what it starts inherits that. Setting the priority
  // after spawn() lost the race under load: the command had already run at normal priority.
  const child = spawn('nice', ['-n', String(GROUP_NICENESS), file, ...args], { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  /** @type {string | null} */
  let stoppedBy = null
  /** @type {NodeJS.Signals | null} */
  let interrupted = null
  /** @type {NodeJS.Timeout | undefined} */
  let killTimer
  let exited = false

  const signalGroup = (/** @type {NodeJS.Signals} */ signal) => {
    if (exited || child.pid === undefined) return
    try {
      process.kill(-child.pid, signal)
    } catch {
      // the group is already gone
    }
  }
  /** Ends the group: SIGTERM, then SIGKILL after the grace time. @param {string} reason */
  const stop = (reason) => {
    if (stoppedBy !== null || exited) return
    stoppedBy = reason
    signalGroup('SIGTERM')
    killTimer = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS)
    killTimer.unref()
  }
  const onSignal = (/** @type {NodeJS.Signals} */ signal) => {
    interrupted ??= signal
    options.onInterrupt?.(signal)
    stop(`interrupted (${signal === 'SIGINT' ? 'Ctrl-C' : signal})`)
  }
  const onExit = () => signalGroup('SIGKILL')
  for (const s of SIGNALS) process.on(s, onSignal)
  process.on('exit', onExit)

  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (/** @type {string} */ chunk) => {
    stdout += chunk
    options.onStdout?.(chunk)
  })
  const errLines = readline.createInterface({ input: child.stderr, crlfDelay: Infinity })
  errLines.on('line', (line) => {
    stderr += line + '\n'
    options.onStderrLine?.(line)
  })

  /** @type {Promise<GroupResult>} */
  const done = new Promise((resolve, reject) => {
    child.on('error', (err) => {
      exited = true
      cleanup()
      reject(err)
    })
    child.on('close', (code, signal) => {
      exited = true
      cleanup()
      resolve({ code, signal, stdout, stderr, stoppedBy, interrupted })
    })
  })
  function cleanup () {
    clearTimeout(killTimer)
    for (const s of SIGNALS) process.off(s, onSignal)
    process.off('exit', onExit)
  }
  return { pid: child.pid, done, stop }
}
