// @ts-check
// Reads storage/logs/bot.log as PM2 writes it ("<timestamp>: <pino JSON>" or plain stderr text)
// and prints each line for a person: time, level, message, fields. Shared by logs and deploy.
// Anything token-shaped is scrubbed by the bot's own scrubSecrets (bot/logger.ts), the one copy of
// that pattern. Formatting stays here rather than in pino-pretty: see docs/decisions.md.
import { chalk } from 'zx'
import { importTs } from './ts.mjs'

const { scrubSecrets } = /** @type {typeof import('../../bot/logger.ts')} */ (await importTs('bot/logger.ts'))

/** @typedef {{ time: Date | null, level: number, levelName: string, msg: string, fields: Record<string, unknown>, raw: string }} LogEntry */

const LEVELS = /** @type {Record<number, string>} */ ({ 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' })
export const WARN_LEVEL = 40
const STDERR_LEVEL = 50

/** @param {string} raw @returns {LogEntry} */
export function parseLogLine (raw) {
  const line = scrubSecrets(raw)
  // PM2 prefixes every chunk a process writes, even an empty one (the bot's last flush at exit):
  // the next line then carries two prefixes, and the last one is its own.
  const prefix = /^(?:\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d): )*(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)): (.*)$/.exec(line)
  const body = prefix?.[2] ?? line
  let time = prefix?.[1] === undefined ? null : new Date(prefix[1])
  if (body.startsWith('{')) {
    try {
      const json = /** @type {Record<string, unknown>} */ (JSON.parse(body))
      const level = typeof json.level === 'number' ? json.level : 30
      if (typeof json.time === 'string' || typeof json.time === 'number') time = new Date(json.time)
      const { level: _l, time: _t, msg, app: _a, ...fields } = json
      return { time, level, levelName: LEVELS[level] ?? String(level), msg: typeof msg === 'string' ? msg : '', fields, raw: line }
    } catch {
      // not JSON after all: fall through to plain text
    }
  }
  // Plain text on stderr (a crash trace, a Node warning) counts as an error line.
  const level = /warn/i.test(body) && !/error/i.test(body) ? WARN_LEVEL : STDERR_LEVEL
  return { time, level, levelName: level === WARN_LEVEL ? 'WARN' : 'STDERR', msg: body, fields: {}, raw: line }
}

/** @param {LogEntry} e */
export function formatLogEntry (e) {
  const time = e.time === null || Number.isNaN(e.time.getTime()) ? '--:--:--' : e.time.toISOString().slice(11, 19)
  const color = e.level >= 50 ? chalk.red : e.level >= 40 ? chalk.yellow : e.level <= 20 ? chalk.gray : chalk.cyan
  const fields = Object.entries(e.fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')
  return `${chalk.gray(time)} ${color(e.levelName.padEnd(6))} ${e.msg}${fields === '' ? '' : ` ${chalk.gray(fields)}`}`
}

/** "90s", "10m", "2h", "1d" → milliseconds; undefined when malformed. @param {string} text */
export function parseDuration (text) {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim())
  if (m === null) return undefined
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[/** @type {'s'|'m'|'h'|'d'} */ (m[2])]
}
