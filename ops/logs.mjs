// @ts-check
// logs: shows storage/logs/bot.log pretty-printed and follows it (Ctrl-C to stop).
// When: after a deploy, when /health or ops/health.mjs says something is wrong.
// Usage: npx zx ops/logs.mjs [--errors] [--lines N] [--since 10m] [--no-follow]
//   --errors       only warnings and errors (and plain stderr output, e.g. crash traces)
//   --lines N      how many earlier lines to show first (default 50)
//   --since D      only lines newer than D: 30s, 10m, 2h, 1d
//   --no-follow    print and exit instead of following the file
import fs from 'node:fs'
import path from 'node:path'
import { sleep } from 'zx'
import { info, intFlag, isMain, OpsError, parseFlags, runMain, scriptArgs } from './lib/cli.mjs'
import { formatLogEntry, parseDuration, parseLogLine, WARN_LEVEL } from './lib/log-lines.mjs'
import { resolvePaths } from './lib/paths.mjs'

/** @typedef {{ errors?: boolean, lines?: number, sinceMs?: number, follow?: boolean, file?: string, print?: (line: string) => void, signal?: AbortSignal }} LogsOptions */

/** @param {LogsOptions} [options] */
export async function showLogs (options = {}) {
  const file = options.file ?? path.join(resolvePaths().logsDir, 'bot.log')
  const print = options.print ?? info
  const since = options.sinceMs === undefined ? null : Date.now() - options.sinceMs
  /** @param {string} line */
  const wanted = (line) => {
    if (line.trim() === '') return false
    const entry = parseLogLine(line)
    if (options.errors === true && entry.level < WARN_LEVEL) return false
    if (since !== null && entry.time !== null && entry.time.getTime() < since) return false
    return true
  }
  if (!fs.existsSync(file)) {
    if (options.follow !== true) throw new OpsError('logs', `no log file at ${file}: the bot has not run under pm2 here yet`, { hint: 'npm start' })
  }
  let position = 0
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8')
    position = Buffer.byteLength(text)
    const lines = text.split('\n').filter(wanted)
    for (const line of lines.slice(-(options.lines ?? 50))) print(formatLogEntry(parseLogLine(line)))
  }
  if (options.follow !== true) return
  let partial = ''
  while (options.signal?.aborted !== true) {
    await sleep(250)
    let size = 0
    try { size = fs.statSync(file).size } catch { continue }
    if (size < position) position = 0 // rotated (copied and truncated): start again at the top
    if (size === position) continue
    const fd = fs.openSync(file, 'r')
    const chunk = Buffer.alloc(size - position)
    fs.readSync(fd, chunk, 0, chunk.length, position)
    fs.closeSync(fd)
    position = size
    const lines = (partial + chunk.toString('utf8')).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines.filter(wanted)) print(formatLogEntry(parseLogLine(line)))
  }
}

if (isMain(import.meta.url)) {
  await runMain('logs', async () => {
    const flags = parseFlags('logs', scriptArgs(), { errors: { type: 'boolean' }, lines: { type: 'string' }, since: { type: 'string' }, 'no-follow': { type: 'boolean' } }, import.meta.url)
    if (flags === null) return
    const sinceRaw = flags.values.since
    const sinceMs = typeof sinceRaw === 'string' ? parseDuration(sinceRaw) : undefined
    if (typeof sinceRaw === 'string' && sinceMs === undefined) throw new OpsError('logs', `--since must look like 30s, 10m, 2h or 1d, got "${sinceRaw}"`, { hint: 'npx zx ops/logs.mjs --help', code: 'EUSAGE' })
    await showLogs({ errors: flags.values.errors === true, lines: intFlag('logs', flags.values.lines, '--lines', 0), sinceMs, follow: flags.values['no-follow'] !== true })
  })
}
