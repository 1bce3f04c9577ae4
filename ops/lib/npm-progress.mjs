// @ts-check
// `npm ci` with its phases shown as they happen: resolving (reading the lockfile, building the
// tree), fetching N/M packages, building <package> (an install script: better-sqlite3 compiles for
// a minute or more). Read from npm's own log lines (--loglevel=info: `npm http fetch …`,
// `npm info run <pkg> <event> …`), which go to stderr; what npm says at warn/error level is kept
// as the result's stderr, so a caller's "why it failed" is read from the same lines as before.
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { runGroup } from './child-group.mjs'
import { silentProgress } from './progress.mjs'

/**
 * @typedef {{ progress?: import('./progress.mjs').Progress, env?: NodeJS.ProcessEnv, args?: string[] }} NpmCiOptions
 *   `env` default process.env (NODE_OPTIONS removed either way); `args` default
 *   ['--no-audit', '--no-fund'].
 * @typedef {{
 *   exitCode: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string,
 *   interrupted: boolean, phases: Array<{ phase: string, ms: number }>, summary: string
 * }} NpmCiResult
 *   `stderr`: npm's lines other than its info/http/verbose log (as a plain `npm ci` prints them);
 *   `summary`: `resolving 0.9 s, fetching 525 packages 22.0 s, building better-sqlite3 71.7 s`.
 */

/** The packages npm ci will install here: the lockfile's, less links and other platforms' optional ones. @param {string} dir */
export function lockedPackageCount (dir) {
  try {
    const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'))
    /** @type {Array<[string, { link?: boolean, os?: string[], cpu?: string[] }]>} */
    const entries = Object.entries(lock.packages ?? {})
    const fits = (/** @type {string[] | undefined} */ list, /** @type {string} */ mine) => list === undefined || list.includes(mine) || (list.some((x) => x.startsWith('!')) && !list.includes(`!${mine}`))
    return entries.filter(([key, p]) => key !== '' && p.link !== true && fits(p.os, process.platform) && fits(p.cpu, process.arch)).length
  } catch {
    return null
  }
}

/**
 * Runs `npm ci` in `dir` (as deps.mjs stages dependencies) and shows its phases on `progress`.
 * Never throws for npm's own failure: the caller reads `exitCode` and `stderr`. Ctrl-C ends npm
 * (its whole process group) and resolves with `interrupted: true` and stderr `interrupted (Ctrl-C)`.
 * @param {string} dir @param {NpmCiOptions} [options] @returns {Promise<NpmCiResult>}
 */
export async function npmCi (dir, options = {}) {
  const progress = options.progress ?? silentProgress('npm ci')
  const env = { ...(options.env ?? process.env) }
  delete env.NODE_OPTIONS
  const total = lockedPackageCount(dir)
  let fetched = 0
  /** @type {Array<{ phase: string, ms: number }>} */
  const phases = []
  let phase = ''
  let phaseStart = performance.now()
  const close = () => {
    if (phase !== '') phases.push({ phase: phase === 'fetching' ? `fetching ${fetched} package${fetched === 1 ? '' : 's'}` : phase, ms: performance.now() - phaseStart })
  }
  /** @param {string} next the phase, as the summary names it @param {string} text @param {import('./progress.mjs').Amount} [amount] */
  const enter = (next, text, amount) => {
    if (next !== phase) {
      close()
      phase = next
      phaseStart = performance.now()
    }
    progress.update(text, amount)
  }
  /** @type {string[]} */
  const told = []
  const onLine = (/** @type {string} */ line) => {
    if (/^npm (info|http|verbose|silly|timing) /.test(line)) {
      // A tarball, from the registry or the cache: `http fetch GET 200 …/-/x-1.0.0.tgz 12ms` or `http cache x@… (cache hit)`
      if (/^npm http (fetch GET \d+|cache) \S*\.tgz\b/.test(line)) {
        fetched += 1
        enter('fetching', 'fetching packages', { done: total === null ? fetched : Math.min(fetched, total), ...(total === null ? {} : { total }) })
        return
      }
      const run = /^npm info run (\S+)@[^@\s]+ (\S+) (?!\{)/.exec(line)
      if (run !== null) enter(`building ${run[1]}`, `building ${run[1]} (${run[2]} script)`)
      return
    }
    told.push(line)
  }
  enter('resolving', 'resolving the dependency tree')
  const group = runGroup('npm', ['ci', ...(options.args ?? ['--no-audit', '--no-fund']), '--loglevel=info'], { cwd: dir, env, onStderrLine: onLine })
  const out = await group.done
  close()
  const interrupted = out.interrupted !== null
  return {
    exitCode: out.code,
    signal: out.signal,
    stdout: out.stdout,
    stderr: interrupted ? `${out.stoppedBy ?? 'interrupted'}\n` : told.map((l) => l + '\n').join(''),
    interrupted,
    phases,
    summary: phases.map((p) => `${p.phase} ${(p.ms / 1000).toFixed(1)} s`).join(', '),
  }
}
