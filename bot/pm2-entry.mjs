// PM2's entry point, at a path that never changes: it runs the release releases/current points at
// (or, before the first deploy, this checkout), with that release's own node_modules. Each new
// process reads the pointer afresh, so `pm2 reload` after the pointer moved starts the new release
// beside the old one (see ops/lib/release-dirs.mjs).
// A release with a current build (dist/, scripts/build.mjs) runs it with plain node, source maps on
// so a stack trace in bot.log names the .ts line; one without (a release from before the build
// step, or sources edited since the build) runs its TypeScript through its own tsx, as before, and
// says why on stderr. The dry start runs this same file: `node <release>/bot/pm2-entry.mjs --dry-start`.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { BUILD_ENTRY, staleReason } from './build-freshness.mjs'

const checkout = path.resolve(import.meta.dirname, '..')
let release = checkout
try {
  release = fs.realpathSync(path.join(checkout, 'releases', 'current'))
} catch { /* no release yet: the checkout runs */ }

const stale = fs.existsSync(path.join(release, 'scripts', 'build.mjs')) ? staleReason(release) : 'this release has no build step'
if (stale === null) {
  process.setSourceMapsEnabled(true)
  await import(pathToFileURL(path.join(release, BUILD_ENTRY)).href)
} else {
  if (stale !== 'this release has no build step') process.stderr.write(`mister_todo: running TypeScript through tsx: ${stale} (npm run build)\n`)
  const tsx = path.join(release, 'node_modules', 'tsx', 'dist', 'esm', 'api', 'index.mjs')
  const { register } = await import(pathToFileURL(tsx).href)
  register()
  await import(pathToFileURL(path.join(release, 'bot', 'main.ts')).href)
}
