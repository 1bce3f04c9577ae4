// @ts-check
// Stryker's settings for `npm run mutate` (dev/mutate.mjs picks the folder): the modules where a
// silent bug costs data or trust (issue 17), each with the test files that exercise it, so a run
// executes only those. One folder a run, one mutant at a time (a shared 2-core machine), and
// incremental: a re-run tests only the mutants whose code or tests changed since the last one.
// Scores per folder: docs/mutation.md.

/** folder → the test files that cover it. @type {Record<string, string[]>} */
export const SCOPES = {
  'ops/lib/lock.mjs': ['test/lock.test.ts'],
  'bot/access.ts': ['test/access.test.ts'],
  'bot/time': ['test/time-format.test.ts', 'test/repeat.test.ts', 'test/due-dates-edges.test.ts', 'test/due-dates.test.ts'],
  'bot/tasks/parse.ts': ['test/parse.test.ts', 'test/bot-commands.test.ts'],
  'bot/tasks/callback-data.ts': ['test/callback-data.test.ts', 'test/access.test.ts', 'test/bot-commands.test.ts', 'test/list-pages.test.ts'],
  'bot/tasks/repository.ts': ['test/task-repository.test.ts', 'test/bot-commands.test.ts', 'test/list-pages.test.ts', 'test/migrations.test.ts'],
  'bot/updates': ['test/ledger.test.ts', 'test/exactly-once.test.ts', 'test/outbox.test.ts', 'test/api-faults.test.ts', 'test/poller.test.ts'],
  'bot/updates/ledger.ts': ['test/ledger.test.ts', 'test/outbox.test.ts'],
  'bot/updates/delivery.ts': ['test/outbox-delivery.test.ts', 'test/outbox.test.ts', 'test/api-faults.test.ts'],
  'bot/updates/pipeline.ts': ['test/update-pipeline.test.ts', 'test/access.test.ts', 'test/bot-commands.test.ts'],
  'bot/updates/poller.ts': ['test/poll-loop.test.ts', 'test/poller.test.ts'],
  'bot/updates/statement-cache.ts': ['test/updates-small.test.ts'],
  'bot/updates/carry-handled.ts': ['test/updates-small.test.ts'],
  // bot/reminders, one file a scope (loop.ts puts them together; rate-limit.ts and render.ts are not scoped).
  'bot/reminders/store.ts': ['test/reminder-store.test.ts', 'test/reminder-store.pg.test.ts', 'test/reminders.test.ts', 'test/reminders-crash.test.ts', 'test/reminder-outcomes.test.ts'],
  'bot/reminders/schedule.ts': ['test/reminder-schedule.test.ts', 'test/due-dates.test.ts', 'test/reminders.test.ts'],
  'bot/reminders/wake.ts': ['test/reminder-wake.test.ts', 'test/reminders.test.ts', 'test/reminders-crash.test.ts'],
  'bot/reminders/send-reminders.ts': ['test/reminder-senders.test.ts', 'test/reminders.test.ts', 'test/reminder-outcomes.test.ts', 'test/reminders-crash.test.ts'],
  'bot/reminders/send-digests.ts': ['test/reminder-senders.test.ts', 'test/reminders.test.ts', 'test/reminder-outcomes.test.ts'],
  'bot/reminders/outcome.ts': ['test/reminder-outcome.test.ts', 'test/reminder-outcomes.test.ts', 'test/reminders.test.ts'],
  // bot/config.ts in two halves of lines (one file is 726 mutants, over an hour here): the settings
  // schema, checkEnvironment and the ops readers; then the webhook, open-mode and URL helpers.
  'bot/config.ts:236-463': ['test/config-values.test.ts', 'test/config.test.ts', 'test/webhook-config.test.ts', 'test/config-database.test.ts'],
  'bot/config.ts:1-235': ['test/config-sections.test.ts', 'test/config-values.test.ts', 'test/config.test.ts', 'test/webhook-config.test.ts', 'test/config-database.test.ts'],
  'ops/lib/backups.mjs': ['test/backup-files.test.ts', 'test/process-alive.test.ts', 'test/backup.test.ts', 'test/backup-copy.test.ts', 'test/restore.test.ts'],
  'ops/lib/sqlite.mjs': ['test/sqlite-files.test.ts', 'test/backup.test.ts', 'test/restore.test.ts', 'test/drill.test.ts'],
  // releases and deps: their own unit files only (the deploy tests that also reach them take 60–90 s each).
  'ops/lib/releases.mjs': ['test/releases-lib.test.ts'],
  'ops/lib/deps.mjs': ['test/deps-lib.test.ts', 'test/deps-stage.test.ts'],
  'ops/lib/migrations.mjs': ['test/migrations-lib.test.ts', 'test/migrate.test.ts', 'test/progress-migrate.test.ts'],
}

const scope = process.env.MUTATE_SCOPE ?? 'ops/lib/lock.mjs'
const tests = SCOPES[scope]
if (tests === undefined) throw new Error(`MUTATE_SCOPE=${scope} is not one of: ${Object.keys(SCOPES).join(', ')}`)
const slug = scope.replace(/[/.:]/g, '-')

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  // A file, a file with a line range (`bot/config.ts:236-463`), or a folder.
  mutate: [/\.m?[jt]s(:\d+-\d+)?$/.test(scope) ? scope : `${scope}/**/*.ts`],
  testRunner: 'tap',
  tap: {
    testFiles: tests,
    // The tests are TypeScript, run through tsx as `npm test` runs them; Stryker's hook records
    // which test file reached which mutant.
    nodeArgs: ['--import', 'tsx', '-r', '{{hookFile}}', '{{testFile}}'],
  },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  coverageAnalysis: 'perTest',
  concurrency: 1,
  incremental: true,
  incrementalFile: `reports/mutation/${slug}.incremental.json`,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${slug}.json` },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  ignorePatterns: ['storage/db', 'storage/backups', 'storage/logs', 'storage/deps', 'releases', 'reports', 'bench/results.json', '.tap'],
  // A test file starts the bot or a child process: give a mutant that hangs it time to show it.
  timeoutMS: 20_000,
}
