// @ts-check
// The step runner of deploy and rollback: one `✓ <step>  <what> (1.2 s)` or `✗ <step>: <why>` line
// per step, every step's result and duration kept for the journal, and the final tally.
import { performance } from 'node:perf_hooks'
import { chalk } from 'zx'
import { OpsError } from './cli.mjs'

/** @typedef {{ name: string, ok: boolean, ms: number, detail: string }} StepRecord */

/** @param {number} ms */
export function formatMs (ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

/**
 * @param {{ quiet?: boolean, interrupted?: () => boolean }} [options]
 */
export function createRunner (options = {}) {
  /** @type {StepRecord[]} */
  const steps = []
  const out = (/** @type {string} */ text, /** @type {boolean} */ err = false) => {
    if (options.quiet !== true) (err ? process.stderr : process.stdout).write(text + '\n')
  }
  return {
    steps,
    /**
     * Runs one step; its function returns the text of its ✓ line.
     * @template {string | { detail: string }} T
     * @param {string} name @param {() => Promise<T>} fn @returns {Promise<T>}
     */
    async step (name, fn) {
      if (options.interrupted?.() === true) throw new OpsError(name, 'interrupted (Ctrl-C) before this step', { code: 'EINTERRUPTED' })
      const started = performance.now()
      try {
        const result = await fn()
        const ms = performance.now() - started
        const detail = typeof result === 'string' ? result : result.detail
        steps.push({ name, ok: true, ms: Math.round(ms), detail })
        out(`${chalk.green('✓')} ${name}  ${detail} ${chalk.gray(`(${formatMs(ms)})`)}`)
        return result
      } catch (err) {
        const ms = performance.now() - started
        const reason = err instanceof Error ? err.message : String(err)
        const hint = err instanceof OpsError && err.hint !== undefined ? ` — see: ${err.hint}` : ''
        steps.push({ name, ok: false, ms: Math.round(ms), detail: reason })
        out(`${chalk.red('✗')} ${name}: ${reason}${hint} ${chalk.gray(`(${formatMs(ms)})`)}`, true)
        if (err instanceof OpsError) err.reported = true
        throw err
      }
    },
    /** `5 steps ok, 1 failed, 12.3 s` */
    tally () {
      const failed = steps.filter((s) => !s.ok).length
      const total = steps.reduce((sum, s) => sum + s.ms, 0)
      return `${steps.length - failed} step(s) ok${failed > 0 ? `, ${failed} failed` : ''}, ${formatMs(total)}`
    },
  }
}
