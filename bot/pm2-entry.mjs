// PM2's entry point, at a path that never changes: it runs the release releases/current points at
// (or, before the first deploy, this checkout), with that release's own tsx and node_modules. Each
// new process reads the pointer afresh, so `pm2 reload` after the pointer moved starts the new
// release beside the old one (see ops/lib/release-dirs.mjs).
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const checkout = path.resolve(import.meta.dirname, '..')
let release = checkout
try {
  release = fs.realpathSync(path.join(checkout, 'releases', 'current'))
} catch { /* no release yet: the checkout runs */ }
const tsx = path.join(release, 'node_modules', 'tsx', 'dist', 'esm', 'api', 'index.mjs')
const { register } = await import(pathToFileURL(tsx).href)
register()
await import(pathToFileURL(path.join(release, 'bot', 'main.ts')).href)
