// @ts-check
// The live status line of a running ops step. On a terminal: one line under the step, redrawn in
// place (what it is doing, how far, elapsed time) and erased when the step ends, so the step's
// ✓/✗ line takes its place. Without a terminal (CI, cron, a pipe into a log): no redraws, but a
// plain progress line every MISTER_TODO_PROGRESS_INTERVAL_S (default 15 s) while the step runs, so
// a log never shows a longer silence. Only the innermost running progress is shown.
import readline from 'node:readline'
import cliTruncate from 'cli-truncate'
import { chalk } from 'zx'
import { formatBytes, formatCount } from './format.mjs'

/** Seconds between the plain lines of a step still running without a terminal. */
export const DEFAULT_INTERVAL_S = 15
/** The live line is drawn only for a step that has run this long (no flicker for quick steps). */
export const DEFAULT_SHOW_AFTER_MS = 300
const TICK_MS = 1000
const MIN_REDRAW_MS = 100

/**
 * @typedef {{ done?: number, total?: number, unit?: string, deadline?: number }} Amount
 *   `done`/`total`: how far; `unit` 'bytes' shows them as sizes (`3.0 MB of 9.0 MB (33 %)`), any
 *   other unit follows the count (`2/3 files (66 %)`); `deadline`: a performance.now() time to
 *   count down to (`12 s left`).
 * @typedef {{
 *   stream?: NodeJS.WritableStream & { isTTY?: boolean, columns?: number },
 *   live?: boolean, intervalMs?: number, showAfterMs?: number, color?: boolean, columns?: number,
 *   quiet?: boolean, text?: string, env?: NodeJS.ProcessEnv
 * }} ProgressOptions
 *   `stream` default process.stdout (where the ✓ lines go); `live` default: the stream is a
 *   terminal, TERM is not "dumb" and CI is not set; `color` default: NO_COLOR unset and chalk has
 *   colors; `quiet`: a progress that shows nothing.
 * @typedef {{
 *   name: string,
 *   update: (text: string, amount?: Amount) => void,
 *   log: (line: string, stream?: 'stdout' | 'stderr') => void,
 *   stop: () => void,
 *   readonly elapsedMs: number,
 * }} Progress
 */

/** Never draws, never prints; `log` still prints (it is output, not progress). @param {string} name @returns {Progress} */
export function silentProgress (name = '') {
  const started = performance.now()
  return {
    name,
    update () {},
    log (line, stream = 'stdout') { process[stream].write(line + '\n') },
    stop () {},
    get elapsedMs () { return performance.now() - started },
  }
}

/** `0:07`, `2:14`, `1:02:03`. @param {number} ms */
export function formatElapsed (ms) {
  const s = Math.floor(ms / 1000)
  const mmss = `${Math.floor(s / 60) % 60}:${String(s % 60).padStart(2, '0')}`
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss.padStart(5, '0')}` : mmss
}

/** @param {Amount} a */
function formatAmount (a) {
  const parts = []
  if (a.done !== undefined) {
    const show = a.unit === 'bytes' ? formatBytes : formatCount
    const noun = a.unit === undefined || a.unit === 'bytes' ? '' : ` ${a.unit}`
    if (a.total === undefined || a.total <= 0) parts.push(`${show(a.done)}${noun}`)
    else parts.push(`${show(a.done)}${a.unit === 'bytes' ? ' of ' : '/'}${show(a.total)}${noun} (${Math.min(100, Math.floor(100 * a.done / a.total))} %)`)
  }
  if (a.deadline !== undefined) parts.push(`${Math.max(0, Math.ceil((a.deadline - performance.now()) / 1000))} s left`)
  return parts
}

/** @param {NodeJS.ProcessEnv} env */
export function intervalFromEnv (env = process.env) {
  const raw = Number(env.MISTER_TODO_PROGRESS_INTERVAL_S)
  return (Number.isFinite(raw) && raw > 0 ? raw : DEFAULT_INTERVAL_S) * 1000
}

/** A terminal to redraw on: not a pipe, not TERM=dumb, not CI (as zx's spinner). @param {ProgressOptions['stream']} stream @param {NodeJS.ProcessEnv} env */
function isLive (stream, env) {
  const ci = env.CI !== undefined && !['', '0', 'false'].includes(env.CI)
  return stream?.isTTY === true && env.TERM !== 'dumb' && !ci
}

// The one terminal line: the innermost running progress draws it; the others wait below it.
/** @type {Array<{ draw: () => void, schedule: () => void }>} */
const stack = []
let drawn = false
/** The cursor is after a partial line someone else wrote: do not draw over it. */
let partial = false
/** @type {Array<() => void>} */
let unhooks = []
/** The streams' own write functions while they are hooked. @type {Map<NodeJS.WritableStream, NodeJS.WritableStream['write']>} */
const originals = new Map()
/** When the last plain line (or the outermost step's start) was printed, without a terminal. */
let lastPlain = 0

/** Erases the live line through the stream's own (unhooked) write. @param {(s: string) => boolean} write */
function clearLine (write) {
  if (!drawn) return
  const target = /** @type {NodeJS.WritableStream} */ (/** @type {unknown} */ ({ write }))
  readline.cursorTo(target, 0)
  readline.clearLine(target, 0)
  drawn = false
}

/**
 * Starts showing a step's progress; `stop()` (idempotent) erases the live line or ends the plain
 * lines. Nested progress (a step function that shows its own) takes the line over until it stops.
 * @param {string} name @param {ProgressOptions} [options] @returns {Progress}
 */
export function startProgress (name, options = {}) {
  if (options.quiet === true) return silentProgress(name)
  const env = options.env ?? process.env
  const stream = options.stream ?? process.stdout
  const live = options.live ?? isLive(stream, env)
  const color = options.color ?? ((env.NO_COLOR ?? '') === '' && chalk.level > 0)
  const started = performance.now()
  let text = options.text ?? ''
  /** @type {Amount | undefined} */
  let amount
  let stopped = false
  let lastDraw = 0
  /** @type {NodeJS.Timeout | undefined} */
  let pending
  /** Our own writes bypass the hook (a nested step starts while the stream is hooked). @param {string} s */
  const write = (s) => Reflect.apply(originals.get(stream) ?? stream.write, stream, [s])

  /** The line, fitted to `width` columns: the text is shortened first, the elapsed time kept. @param {boolean} painted @param {number} [width] */
  const render = (painted, width = Infinity) => {
    const parts = [text, ...(amount === undefined ? [] : formatAmount(amount))].filter((p) => p !== '')
    const head = `  ${name}  `
    const clock = `· ${formatElapsed(performance.now() - started)}`
    let middle = parts.length > 0 ? `${parts.join(' · ')} ` : ''
    const room = width - head.length - clock.length
    if (room < 8) return cliTruncate(head + middle + clock, width, { position: 'end' })
    if (middle.length > room) middle = `${cliTruncate(middle, room - 1, { position: 'end' })} `
    return `${head}${middle}${painted ? chalk.gray(clock) : clock}`
  }
  const draw = () => {
    clearTimeout(pending)
    pending = undefined
    if (stopped || partial || stack.at(-1)?.draw !== draw || performance.now() - started < (options.showAfterMs ?? DEFAULT_SHOW_AFTER_MS)) return
    // One column short of the width: a full last column makes some terminals wrap.
    const width = Math.max(10, (options.columns || stream.columns || Number(env.COLUMNS) || 80) - 1)
    clearLine(write)
    write(render(color, width))
    drawn = true
    lastDraw = performance.now()
  }
  const scheduleDraw = () => {
    if (pending !== undefined || stopped) return
    pending = setTimeout(draw, Math.max(0, MIN_REDRAW_MS - (performance.now() - lastDraw)))
  }
  const me = { draw, schedule: scheduleDraw }
  if (live) {
    if (stack.length === 0) {
      unhooks = hookWrites([stream, process.stdout, process.stderr], () => clearLine(write), () => stack.at(-1)?.schedule())
      // A script that exits in the middle of a step leaves no half-drawn line before the prompt.
      const onExit = () => clearLine(write)
      process.on('exit', onExit)
      unhooks.push(() => process.off('exit', onExit))
    } else clearLine(write)
  }
  if (stack.length === 0) lastPlain = started
  stack.push(me)
  const intervalMs = options.intervalMs ?? intervalFromEnv(env)
  // The plain lines keep one cadence across nested steps, so a step that starts inside another
  // does not restart the count and stretch the silence.
  // Each line is timed from the last one (not from a coarse tick), so the gap is the interval.
  /** @type {NodeJS.Timeout | undefined} */
  let plainTimer
  const plainLine = () => {
    if (stopped) return
    const due = lastPlain + intervalMs - performance.now()
    if (stack.at(-1) === me && due <= 1) {
      lastPlain = performance.now()
      write(render(false) + '\n')
    }
    // A step under a nested one checks back a little later: the nested one prints meanwhile.
    plainTimer = setTimeout(plainLine, stack.at(-1) === me ? Math.max(0, lastPlain + intervalMs - performance.now()) : Math.max(50, due))
    plainTimer.unref()
  }
  const timer = live ? setInterval(draw, TICK_MS) : undefined
  timer?.unref()
  if (!live) plainLine()
  if (live) setTimeout(draw, options.showAfterMs ?? DEFAULT_SHOW_AFTER_MS).unref()

  return {
    name,
    update (nextText, nextAmount) {
      text = nextText
      amount = nextAmount
      if (live) scheduleDraw()
    },
    log (line, to = 'stdout') {
      // Through the hook on a terminal: the live line is erased, the line printed, the line redrawn.
      process[to].write(line + '\n')
    },
    stop () {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      clearTimeout(plainTimer)
      clearTimeout(pending)
      const at = stack.indexOf(me)
      if (at >= 0) stack.splice(at, 1)
      if (!live) return
      clearLine(write)
      if (stack.length === 0) {
        for (const unhook of unhooks) unhook()
        unhooks = []
        partial = false
      } else stack.at(-1)?.draw()
    },
    get elapsedMs () { return performance.now() - started },
  }
}

/**
 * While a live line is shown, anything else written to the terminal (a ✗ line, a failing test's
 * name, a prompt) first erases it; the line comes back after a complete line, never over a partial one.
 * @param {Array<NodeJS.WritableStream & { isTTY?: boolean }>} streams @param {() => void} before @param {() => void} after
 */
function hookWrites (streams, before, after) {
  return [...new Set(streams)].filter((s) => s === streams[0] || s.isTTY === true).map((stream) => {
    const original = stream.write
    originals.set(stream, original)
    const hooked = /** @type {typeof stream.write} */ (function (/** @type {unknown[]} */ ...args) {
      before()
      const result = Reflect.apply(original, stream, args)
      const chunk = args[0]
      const text = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : ''
      if (text.length > 0) partial = !text.endsWith('\n')
      if (!partial) after()
      return result
    })
    stream.write = hooked
    return () => {
      if (stream.write === hooked) stream.write = original
      originals.delete(stream)
    }
  })
}

/**
 * Runs `fn` with a progress for step `name` and always stops it before returning or throwing, so
 * the caller's ✓/✗ line lands where the live line was.
 * @template T
 * @param {string} name @param {(progress: Progress) => Promise<T>} fn @param {ProgressOptions} [options]
 * @returns {Promise<T>}
 */
export async function withProgress (name, fn, options = {}) {
  const progress = startProgress(name, options)
  try {
    return await fn(progress)
  } finally {
    progress.stop()
  }
}
