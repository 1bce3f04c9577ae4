// @ts-check
// The deploy's build step: the incoming release compiles itself (its own scripts/build.mjs and
// esbuild, in its own directory), before anything is handed over. A compiler error refuses the
// release, naming the file, line and message; a release from before the build step has nothing to
// build and runs its TypeScript through tsx.
import fs from 'node:fs'
import path from 'node:path'
import { $ } from './shell.mjs'
import { OpsError } from './cli.mjs'

/**
 * @param {string} dir the release directory
 * @param {{ progress?: { update: (text: string) => void } }} [o]
 * @returns {Promise<string>} the step's detail line
 */
export async function buildRelease (dir, o = {}) {
  if (!fs.existsSync(path.join(dir, 'scripts', 'build.mjs'))) return 'nothing to build: this release runs its TypeScript through tsx'
  o.progress?.update('esbuild: bot/main.ts → dist/main.js, migrations → dist/storage/migrations')
  const out = await $({ cwd: dir, quiet: true, nothrow: true, timeout: 300_000 })`node scripts/build.mjs`
  if (out.exitCode === 0) return out.stdout.trim().replace(/^✓ build\s+/, '')
  const errors = out.stderr.split('\n').map((l) => l.replace(/^build failed: /, '').trim()).filter((l) => l !== '')
  const shown = errors.slice(0, 3).join('; ') + (errors.length > 3 ? `; and ${errors.length - 3} more` : '')
  throw new OpsError('build', `the release does not compile: ${shown || `exit ${out.exitCode ?? out.signal}`}; nothing was stopped or changed`, { hint: `fix it in the incoming commit (cd ${dir} && npm run build)` })
}
