// @ts-check
// Loads the project's TypeScript modules (knexfile.ts, bot/db.ts) from the .mjs scripts: tsx is
// registered once, on first use, then the module is imported by URL.
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { register } from 'tsx/esm/api'
import { CODE_ROOT } from './paths.mjs'

let registered = false

/** @param {string} relativePath from the code root, e.g. 'knexfile.ts' @returns {Promise<unknown>} */
export async function importTs (relativePath) {
  if (!registered) {
    register()
    registered = true
  }
  return import(pathToFileURL(path.resolve(CODE_ROOT, relativePath)).href)
}
