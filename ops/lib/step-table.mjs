// @ts-check
// Deploy and rollback as tables of named steps, as Deployer's recipes are lists of tasks. Each step
// says what it will do (`describe`, for the plan and --dry-run), does it (`run`, through the runner
// that prints ✓/✗ with durations and keeps them for the journal) and, if it changed something,
// how to put it back (`undo`). On a failure or Ctrl-C the completed steps are undone in reverse.
// A step whose failure can leave something changed (a hand-over that happened and then failed)
// says `undoOnFailure`: its undo runs first. `check` steps run in a dry run too (they change nothing); `ask` marks the first step the
// operator confirms: the plan printed before the question is the rest of the table.
import { chalk } from 'zx'
import { confirm, info, OpsError } from './cli.mjs'

/**
 * @template C
 * @typedef {{
 *   name: string,
 *   describe: (ctx: C) => string,
 *   run: (ctx: C, progress: import('./progress.mjs').Progress) => Promise<string | { detail: string }>,
 *   undo?: (ctx: C) => Promise<string>,
 *   when?: (ctx: C) => boolean,
 *   check?: boolean,
 *   ask?: string | ((ctx: C) => string),
 *   undoOnFailure?: boolean,
 * }} Step
 */

/**
 * @template C
 * @param {Step<C>[]} steps @param {C} ctx
 * @param {{ run: ReturnType<typeof import('./steps.mjs').createRunner>, dryRun: boolean, yes: boolean, step: string, interrupted: () => boolean }} o
 * @returns {Promise<{ dryRun: boolean }>}
 */
export async function runTable (steps, ctx, o) {
  /** @type {Step<C>[]} */
  const done = []
  let asked = false
  /** @type {Step<C> | null} */
  let current = null
  try {
    for (const [i, step] of steps.entries()) {
      current = null
      if (step.when !== undefined && !step.when(ctx)) continue
      if (step.ask !== undefined && !asked) {
        asked = true
        printPlan(steps.slice(i), ctx, o.dryRun)
        if (o.dryRun) return { dryRun: true }
        await confirm(o.step, typeof step.ask === 'function' ? step.ask(ctx) : step.ask, { yes: o.yes })
      }
      if (o.dryRun && step.check !== true) {
        info(`  ${chalk.gray('·')} ${step.name}  ${step.describe(ctx)}`)
        continue
      }
      current = step
      await o.run.step(step.name, (progress) => step.run(ctx, progress))
      done.push(step)
    }
    return { dryRun: o.dryRun }
  } catch (err) {
    const failed = current !== null && current.undoOnFailure === true && !done.includes(current) ? [current] : []
    const undoing = [...failed, ...done.filter((s) => s.undo !== undefined).reverse()]
    for (const step of undoing) {
      const undo = /** @type {(ctx: C) => Promise<string>} */ (step.undo)
      await o.run.step(`undo ${step.name}`, () => undo(ctx), { always: true }).catch(() => {})
    }
    if (o.interrupted() && !(err instanceof OpsError && err.code === 'EINTERRUPTED')) {
      throw new OpsError(o.step, `interrupted (Ctrl-C): ${err instanceof Error ? err.message : String(err)}`, { code: 'EINTERRUPTED', cause: err })
    }
    throw err
  }
}

/**
 * The steps still to come, as the operator reads them before saying yes.
 * @template C @param {Step<C>[]} steps @param {C} ctx @param {boolean} dryRun
 */
function printPlan (steps, ctx, dryRun) {
  info(`\n  plan${dryRun ? ' (dry run: nothing below is done)' : ''}:`)
  for (const step of steps) {
    if (step.when !== undefined && !step.when(ctx)) continue
    info(`    ${step.name.padEnd(12)} ${step.describe(ctx)}`)
  }
}
