// @ts-check
// What every ops script shares at its edge: flags (unknown ones rejected), --help from the script's
// own header, confirmations that never hang without a terminal, and the one-line output:
// `✓ <step>  <what>` on stdout, `✗ <step>: <reason> — see: <next command>` on stderr.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chalk, question } from 'zx'

// NO_COLOR (no-color.org): zx's chalk only reads FORCE_COLOR, so the ✓/✗ lines honour it here.
if ((process.env.NO_COLOR ?? '') !== '') chalk.level = 0

export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** An expected failure of a step: what failed, why, and the next command to run. */
export class OpsError extends Error {
  /**
   * @param {string} step
   * @param {string} reason
   * @param {{ hint?: string, code?: string, cause?: unknown }} [options]
   */
  constructor (step, reason, options = {}) {
    super(reason, { cause: options.cause })
    this.name = 'OpsError'
    this.step = step
    this.hint = options.hint
    this.code = options.code ?? 'EOPS'
  }
}

/** @typedef {Record<string, { type: 'boolean' | 'string', short?: string }>} FlagSpec */
/** @typedef {{ values: Record<string, string | boolean | undefined>, positionals: string[] }} Flags */

/**
 * The script's header comment (after `// @ts-check`), which is its --help text.
 * @param {string} metaUrl
 */
export function helpText (metaUrl) {
  const lines = fs.readFileSync(fileURLToPath(metaUrl), 'utf8').split('\n')
  const start = lines.findIndex((l) => l.startsWith('//') && !l.includes('@ts-check'))
  const header = []
  for (const line of lines.slice(start)) {
    if (!line.startsWith('//')) break
    header.push(line.replace(/^\/\/ ?/, ''))
  }
  return header.join('\n') + '\n'
}

/**
 * Parses flags; prints help and returns null for --help. Unknown flags are a usage error.
 * @param {string} step @param {string[]} args @param {FlagSpec} spec @param {string} metaUrl
 * @returns {Flags | null}
 */
export function parseFlags (step, args, spec, metaUrl) {
  const hint = `npx zx ops/${step}.mjs --help`
  let parsed
  try {
    parsed = parseArgs({ args, options: { ...spec, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    const flag = /'([^']+)'/.exec(message)?.[1] ?? ''
    const code = /** @type {{ code?: string }} */ (err).code
    const reason = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      ? `unknown flag ${flag}`
      : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? `${flag.split(' ')[0]} needs a value` : message.split('. ')[0] ?? message
    throw new OpsError(step, reason, { hint, code: 'EUSAGE' })
  }
  if (parsed.values.help === true) {
    process.stdout.write(helpText(metaUrl))
    return null
  }
  return { values: parsed.values, positionals: parsed.positionals }
}

/** @param {string} step @param {string | boolean | undefined} raw @param {string} flag @param {number} min */
export function intFlag (step, raw, flag, min) {
  if (raw === undefined || typeof raw === 'boolean') return undefined
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new OpsError(step, `${flag} must be a whole number ≥ ${min}, got "${raw}"`, { hint: `npx zx ops/${step}.mjs --help`, code: 'EUSAGE' })
  return Number(raw)
}

/** True when this module is the script node or zx was asked to run. @param {string} metaUrl */
export function isMain (metaUrl) {
  const self = fileURLToPath(metaUrl)
  const [, first, second] = process.argv
  const viaZx = first !== undefined && /(^|[\\/])zx([\\/]build[\\/]cli\.js)?$/.test(first)
  const script = viaZx ? second : first
  if (script === undefined) return false
  try {
    return fs.realpathSync(path.resolve(script)) === fs.realpathSync(self)
  } catch {
    return false
  }
}

/** The arguments after the script path, under node or zx. */
export function scriptArgs () {
  const first = process.argv[1] ?? ''
  return process.argv.slice(/(^|[\\/])zx([\\/]build[\\/]cli\.js)?$/.test(first) ? 3 : 2)
}

/**
 * Asks before a destructive change. --yes answers for the operator; without a terminal and
 * without --yes it refuses (zx's question() would never return and the script would exit 0).
 * @param {string} step @param {string} action e.g. "replace storage/db/todo.sqlite with todo_….sqlite"
 * @param {{ yes?: boolean }} [options]
 */
export async function confirm (step, action, options = {}) {
  if (options.yes === true) return
  refuseWithoutTerminal(step, action, options)
  const answer = await question(`${action[0]?.toUpperCase() ?? ''}${action.slice(1)}. Proceed? [y/N] `)
  if (!/^y(es)?$/i.test(answer.trim())) throw new OpsError(step, 'cancelled by the operator', { code: 'ECANCELLED' })
}

/**
 * Refuses at once when a later confirm() could not be answered, so a step does no work first.
 * @param {string} step @param {string} action @param {{ yes?: boolean, dryRun?: boolean }} [options]
 */
export function refuseWithoutTerminal (step, action, options = {}) {
  if (options.yes === true || options.dryRun === true || process.stdin.isTTY === true) return
  throw new OpsError(step, `refusing to ${action} without confirmation: no terminal to ask on`, { hint: 'rerun with --yes', code: 'ENOTTY' })
}

/** `✓ backup  storage/backups/…` @param {string} step @param {string} text */
export function ok (step, text) {
  process.stdout.write(`${chalk.green('✓')} ${step}  ${text}\n`)
}

/** `! backup  …`: something the operator should know that does not stop the step. @param {string} step @param {string} text */
export function warn (step, text) {
  process.stdout.write(`${chalk.yellow('!')} ${step}  ${text}\n`)
}

/** An indented detail line (tables, lists). @param {string} text */
export function info (text) {
  process.stdout.write(`${text}\n`)
}

/** Prints the one ✗ line for an error and sets the exit code; no stack trace. @param {string} step @param {unknown} err */
export function fail (step, err) {
  const opsError = err instanceof OpsError ? err : null
  const reason = err instanceof Error ? err.message : String(err)
  const hint = opsError?.hint === undefined ? '' : ` — see: ${opsError.hint}`
  process.stderr.write(`${chalk.red('✗')} ${opsError?.step ?? step}: ${reason}${hint}\n`)
  process.exitCode = opsError?.code === 'EUSAGE' ? EXIT_USAGE : EXIT_FAILED
}

/** Runs a script's main and turns any error into the one ✗ line. @param {string} step @param {() => Promise<unknown>} main */
export async function runMain (step, main) {
  try {
    await main()
  } catch (err) {
    fail(step, err)
  }
}

/** @typedef {{ ok: typeof ok, warn: typeof warn, info: typeof info }} Reporter */
const SILENT = { ok: () => {}, warn: () => {}, info: () => {} }

/** The output of a step function: printed, or silent when its caller (a test) asks. @param {boolean | undefined} quiet @returns {Reporter} */
export function reporter (quiet) {
  return quiet === true ? SILENT : { ok, warn, info }
}
