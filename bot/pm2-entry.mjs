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

// PM2 7 restarts a process it has parked for a reload ("_old_<id>") when that process dies before
// the reload ends (a crash, kill -9), and then loses track of the restart: an unlisted copy that
// would stand by and take the lock at the next hand-over, ahead of the version being deployed.
// Such a copy never serves: it says so and exits (PM2 stops restarting it once the reload ends).
if (String(process.env.pm_id ?? '').startsWith('_old_')) {
  process.stderr.write(`mister_todo: not starting: pm2 restarted ${process.env.pm_id}, the process it parked for a reload; the reload's new process serves\n`)
  const leave = () => process.exit(0)
  process.once('SIGINT', leave)
  process.once('SIGTERM', leave)
  // Not at once: PM2 would restart it in a tight loop until the reload ends.
  setTimeout(leave, 3000)
  await new Promise(() => {})
}

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
