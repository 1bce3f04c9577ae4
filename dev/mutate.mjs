// `npm run mutate [-- <folder> | --quick | --all]`: Stryker on one of the folders in
// stryker.config.mjs (SCOPES), with its own test files, one mutant at a time and incremental.
// No folder: the list. --quick: ops/lib/lock.mjs (seconds when nothing changed). --all: every
// folder in turn (long: hours on a 2-core machine). Not part of `npm test` or CI's test command.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { SCOPES } from '../stryker.config.mjs'

const QUICK = 'ops/lib/lock.mjs'
const args = process.argv.slice(2)
const root = path.resolve(import.meta.dirname, '..')
const scopes = args.includes('--all') ? Object.keys(SCOPES) : args.includes('--quick') ? [QUICK] : args.filter((a) => !a.startsWith('--'))

if (scopes.length === 0) {
  process.stdout.write(`Usage: npm run mutate -- <folder> | --quick | --all\nFolders (with the test files each runs):\n${Object.entries(SCOPES).map(([s, t]) => `  ${s.padEnd(28)} ${t.join(' ')}`).join('\n')}\nScores: docs/mutation.md\n`)
  process.exit(0)
}
const unknown = scopes.filter((s) => !(s in SCOPES))
if (unknown.length > 0) {
  process.stderr.write(`Error: not a mutation scope: ${unknown.join(', ')} — see: npm run mutate (lists them)\n`)
  process.exit(2)
}
let failed = 0
for (const scope of scopes) {
  process.stdout.write(`\n== mutate ${scope} (${SCOPES[scope]?.join(' ')})\n`)
  const run = spawnSync(process.execPath, [path.join(root, 'node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js'), 'run', 'stryker.config.mjs'], { cwd: root, stdio: 'inherit', env: { ...process.env, MUTATE_SCOPE: scope } })
  if (run.status !== 0) failed += 1
}
process.exitCode = failed === 0 ? 0 : 1
