// @ts-check
// ops/reload.mjs: restarts the running release without a gap (`npm run reload`): its code is
// dry-started first (a release that cannot start is never handed the bot), then `pm2 reload`
// starts a new process beside the old one; the old one finishes the update in hand and exits, the
// new one takes over at once. The take-over is confirmed from the new process's own record
// (storage/db/serving.json: a new pid serving the same version), not from reload's exit code.
// Nothing running: it starts the bot instead.
//
// When: after changing .env, or to pick up a new Node.js; `npm run restart` is the cold restart.
//
// Usage: npx zx ops/reload.mjs [flags]
//   --ready-timeout <s>  how long the new process may take to start and take over (default 30)
//   --help               this text
import { headCommit } from './lib/git.mjs'
import { intFlag, isMain, ok, parseFlags, runMain, scriptArgs } from './lib/cli.mjs'
import { clearPlan, dryStart, handOver, servingRecord } from './lib/handover.mjs'
import { instancePorts, verifyInstances } from './lib/instances.mjs'
import { acquireLock } from './lib/lock.mjs'
import { resolvePaths } from './lib/paths.mjs'
import { currentReleaseDir } from './lib/release-dirs.mjs'
import { botSettings } from './lib/settings.mjs'
import { createRunner, DEFAULT_READY_S } from './lib/steps.mjs'

async function main () {
  const flags = parseFlags('reload', scriptArgs(), { 'ready-timeout': { type: 'string' } }, import.meta.url)
  if (flags === null) return
  const readyS = intFlag('reload', flags.values['ready-timeout'], '--ready-timeout', 1) ?? DEFAULT_READY_S
  const paths = resolvePaths()
  const dir = currentReleaseDir()
  const version = servingRecord(paths.databaseFile)?.version ?? await headCommit(dir)
  // One hand-over at a time: a reload waits for no deploy or rollback, it refuses beside one.
  const lock = acquireLock(`${paths.storageDir}/deploy.lock`, `ops/reload.mjs ${scriptArgs().join(' ')}`.trim(), { rerun: 'npm run reload' })
  try {
    const run = createRunner()
    // A plan left by an interrupted deploy must not be carried out by a plain reload.
    clearPlan(paths.databaseFile)
    await run.step('dry start', () => dryStart(dir, process.env, readyS))
    const r = await run.step('hand over', () => handOver({ dir, version, env: process.env, databaseFile: paths.databaseFile, plan: null, timeoutS: readyS, logFile: `${paths.logsDir}/bot.log` }))
    // Several instances: the hand-over is confirmed by the first new one; PM2 replaces the others
    // one by one after it. Each must come back on the version, with exactly one leading.
    const { config } = await botSettings(paths.root, process.env)
    if (config !== undefined && config.instances > 1 && config.healthPort !== 0) {
      await run.step('verify instances', () => verifyInstances({ ports: instancePorts(config.healthPort, config.instances), commit: version, waitS: readyS }))
    }
    ok('reload', `${{ reload: 'reloaded without a stop', restart: 'pm2 was restarting it after a crash: it came up', start: 'started (nothing was running)' }[r.how]}; ${run.tally()}`)
  } finally {
    lock.release()
  }
}

if (isMain(import.meta.url)) await runMain('reload', main)
