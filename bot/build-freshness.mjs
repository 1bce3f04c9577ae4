// @ts-check
// Is a release's compiled build (dist/, made by scripts/build.mjs) the code its sources say? Read by
// PM2's entry before it runs dist/ with plain node, and by `npm start` before it builds. A build
// records the sources it was made from (dist/build.json); it is stale when one of them is newer than
// the bundle or gone. Plain node, no dependencies: this runs before anything else is loaded.
import fs from 'node:fs'
import path from 'node:path'

export const BUILD_ENTRY = path.join('dist', 'main.js')
export const BUILD_RECORD = path.join('dist', 'build.json')

/**
 * Why `root`'s build cannot be run as it is, or null when it can.
 * @param {string} root a release directory or the checkout
 * @returns {string | null}
 */
export function staleReason (root) {
  const builtAt = fs.statSync(path.join(root, BUILD_ENTRY), { throwIfNoEntry: false })?.mtimeMs
  if (builtAt === undefined) return 'dist/ is missing'
  /** @type {{ inputs?: unknown }} */
  let record
  try {
    record = JSON.parse(fs.readFileSync(path.join(root, BUILD_RECORD), 'utf8'))
  } catch {
    return 'dist/build.json is missing or unreadable'
  }
  if (!Array.isArray(record.inputs)) return 'dist/build.json lists no sources'
  for (const input of record.inputs) {
    const at = fs.statSync(path.join(root, String(input)), { throwIfNoEntry: false })?.mtimeMs
    if (at === undefined) return `dist/ was built from ${input}, which is gone`
    if (at > builtAt) return `dist/ is older than ${input}`
  }
  return null
}
