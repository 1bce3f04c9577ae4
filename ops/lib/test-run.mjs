// @ts-check
// The incoming commit's tests, run as deploy runs them (`sh -c <command>` in its worktree, without
// NODE_OPTIONS), with tap's TAP stream read as it comes: a live `41/120 files · 1 failing`, each
// failing test's name printed the moment tap reports it, and (by default) the run ended at the
// first failing file, so a deploy that cannot go ahead says so early.
import { stripVTControlCharacters } from 'node:util'
import { Parser } from 'tap-parser'
import { OpsError } from './cli.mjs'
import { runGroup } from './child-group.mjs'
import { silentProgress } from './progress.mjs'

/** Failing tests named one by one; the rest are counted. */
export const MAX_NAMED_FAILURES = 20

/**
 * @typedef {{
 *   progress?: import('./progress.mjs').Progress, stopOnFailure?: boolean, env?: NodeJS.ProcessEnv
 * }} TestRunOptions
 *   `progress` default: shows nothing but the failing names; `stopOnFailure` default true;
 *   `env` default process.env.
 */

/** Control characters out of a name from the stream (a test name must not drive the terminal). @param {string} s */
const printable = (s) => [...stripVTControlCharacters(s)].map((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127 ? ' ' : c).join('').trim()

/**
 * Runs `command` in `dir`; resolves `<command>: passed`, or throws OpsError('tests') saying how it
 * failed, after the failing tests were printed (on stderr, `    not ok: <file> > <test> > <assertion>`).
 * @param {string} dir @param {string} command @param {TestRunOptions} [options] @returns {Promise<string>}
 */
export async function runTests (dir, command, options = {}) {
  const progress = options.progress ?? silentProgress('tests')
  const stopOnFailure = options.stopOnFailure ?? true
  const env = { ...(options.env ?? process.env) }
  delete env.NODE_OPTIONS
  // A piped tap writes TAP unless colours are forced: make sure, since the stream is what we read.
  delete env.FORCE_COLOR
  env.NO_COLOR = '1'

  let files = 0
  /** @type {number | null} */
  let total = null
  /** @type {string[]} */
  const failing = []
  /** @type {string | null} */
  let firstFailingFile = null
  const show = () => {
    if (total === null && files === 0 && failing.length === 0) return
    const counted = total === null ? `${files} file(s) done` : `${files}/${total} files`
    progress.update(`${counted}${failing.length > 0 ? ` · ${failing.length} failing` : ''}`)
  }

  const parser = new Parser()
  // The top level is the runner: its plan is the number of files, each of its results one file.
  parser.on('plan', (/** @type {{ start: number, end: number }} */ plan) => {
    if (plan.end >= plan.start) total = plan.end - plan.start + 1
    show()
  })
  parser.on('fail', (/** @type {import('tap-parser').Result} */ res) => {
    const name = printable(res.fullname || res.name || '(unnamed)')
    failing.push(name)
    if (failing.length <= MAX_NAMED_FAILURES) progress.log(`    not ok: ${name}`, 'stderr')
    show()
  })
  parser.on('bailout', (/** @type {string} */ reason) => progress.log(`    bail out: ${printable(reason)}`, 'stderr'))

  // A file's own result line (`not ok 2 - test/b.test.ts # time=…`, not indented) is read as it
  // arrives: the parser emits a result only when the next line comes, which for the last file
  // running can be minutes later.
  let rest = ''
  // Once the run is being ended, what tap still prints is about files it killed: not failures.
  let ending = false
  const onLine = (/** @type {string} */ line) => {
    if (ending) return
    parser.write(line + '\n')
    const file = /^(not )?ok \d+(?: - (.*?))?(?: # (.*))?$/.exec(line)
    if (file === null) return
    files += 1
    show()
    const directive = file[3] ?? ''
    if (file[1] !== undefined && !/^(todo|skip)\b/i.test(directive) && firstFailingFile === null) {
      firstFailingFile = printable(file[2] ?? `file ${files}`)
      if (stopOnFailure) {
        ending = true
        group.stop(`stopped at the first failing file, ${firstFailingFile}`)
      }
    }
  }
  progress.update(`running ${command}`)
  const group = runGroup('sh', ['-c', command], {
    cwd: dir,
    env,
    onInterrupt: () => { ending = true },
    onStdout: (chunk) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) onLine(line)
    },
  })
  const out = await group.done
  if (rest !== '') onLine(rest)
  parser.end()
  const hint = `cd to a checkout of the incoming commit and run: ${command}`
  if (failing.length > MAX_NAMED_FAILURES) progress.log(`    … and ${failing.length - MAX_NAMED_FAILURES} more failing test(s)`, 'stderr')
  const counted = failing.length > 0 ? `: ${failing.length} failing test(s)` : ''
  const ran = total === null ? `${files} file(s)` : `${files}/${total} files`
  if (out.interrupted !== null) {
    throw new OpsError('tests', `${command} ${out.stoppedBy ?? 'interrupted'} after ${ran}${counted}; nothing was stopped or changed`, { hint, code: 'EINTERRUPTED' })
  }
  if (out.stoppedBy !== null) throw new OpsError('tests', `${command} failed (${out.stoppedBy}, ${ran})${counted}; nothing was stopped or changed`, { hint })
  if (out.code === 0) return `${command}: passed`
  // No failing test to name (the runner itself failed: no test files, a config error): its last
  // words say why.
  const said = failing.length > 0 ? '' : printable(out.stderr.trim().split('\n').filter((l) => l.trim() !== '').at(-1) ?? '').slice(0, 200)
  throw new OpsError('tests', `${command} failed (exit ${out.code ?? out.signal})${counted}${said === '' ? '' : `: ${said}`}; nothing was stopped or changed`, { hint })
}
