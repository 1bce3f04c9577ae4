// @ts-check
// npm run build: the production build PM2 runs with plain node (bot/pm2-entry.mjs). One esbuild
// bundle of the bot and the packages it runs on, dist/main.js: node then reads one file instead of
// resolving and reading some 900 (start → first poll ~0.45 → ~0.3 s; docs/decisions.md, "The
// production bundle takes in its packages"). Left to node_modules: native modules and drivers (see
// KEPT_OUT). Each migration is compiled on its own to dist/storage/migrations/<name>.js, since Knex
// loads migrations by file (bot/migration-source.ts).
// Source maps without the sources: a stack trace names the .ts line. dist/build.json lists the
// sources, so a stale build is noticed (bot/build-freshness.mjs). No type check here: that is
// `npm run check`, as before. Why a bundle and not tsc: docs/decisions.md, "Production runs a
// compiled bundle".
//
// The bundle sits directly in dist/ on purpose: bot/config.ts finds the project root as the folder
// above its own, and in the bundle "its own" is dist/.
//
// Usage: node scripts/build.mjs [--if-stale] [--quiet]
//   --if-stale  build only when dist/ is missing or older than the sources, saying why in one line
//   --quiet     print nothing on success
// Exit 1 on a compiler error, one line per error: "build failed: bot/x.ts:12:5: <message>".
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { BUILD_ENTRY, BUILD_RECORD, staleReason } from '../bot/build-freshness.mjs'

const ROOT = path.resolve(import.meta.dirname, '..')
const MIGRATIONS = path.join('storage', 'migrations')
/**
 * Packages the bundle leaves to node_modules: better-sqlite3 is native; pg is loaded only for
 * PostgreSQL; prom-client only when /metrics is first asked (bot/metrics-prometheus.ts); the rest
 * are drivers Knex names for dialects this bot never uses (absent from node_modules).
 */
export const KEPT_OUT = ['better-sqlite3', 'pg', 'pg-native', 'pg-query-stream', 'prom-client', 'sqlite3', 'mysql', 'mysql2', 'mariadb', 'mariadb/callback', 'oracledb', 'tedious']
/** The bundle is ESM; the CommonJS packages in it, and the ones kept out, are loaded through require. */
const REQUIRE_IN_ESM = "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);"
/** How production bundles (also used by the soak, which bundles its own driver the same way). */
export const BUNDLE_OPTIONS = /** @type {const} */ ({ bundle: true, external: KEPT_OUT, banner: { js: REQUIRE_IN_ESM } })

/**
 * Builds `root` into root/dist. Throws an Error whose message names each compiler error by
 * file:line:column.
 * @param {string} root
 * @returns {Promise<{ inputs: string[], ms: number, bytes: number }>}
 */
export async function build (root) {
  const started = performance.now()
  const { build: esbuild } = await import('esbuild')
  const out = path.join(root, 'dist')
  const tmp = `${out}.${process.pid}.tmp`
  fs.rmSync(tmp, { recursive: true, force: true })
  const common = /** @type {const} */ ({ platform: 'node', format: 'esm', target: 'node20', sourcemap: true, sourcesContent: false, logLevel: 'silent', absWorkingDir: root })
  const migrations = fs.readdirSync(path.join(root, MIGRATIONS)).filter((f) => /^\d{14}_.+\.ts$/.test(f)).map((f) => path.join(MIGRATIONS, f))
  try {
    const bundle = await esbuild({ ...common, entryPoints: ['bot/main.ts'], ...BUNDLE_OPTIONS, outfile: path.join(tmp, 'main.js'), metafile: true })
    await esbuild({ ...common, entryPoints: migrations, bundle: false, outdir: path.join(tmp, MIGRATIONS) })
    // The packages in the bundle are the ones package-lock.json pins: a changed lockfile makes the build
    // stale, and their files are not listed (a node_modules reached through a symlink is named by its
    // real path, outside the root, and npm ci rewrites them all).
    const lockfile = fs.existsSync(path.join(root, 'package-lock.json')) ? ['package-lock.json'] : []
    const inputs = [...Object.keys(bundle.metafile.inputs).filter((f) => !f.split('/').includes('node_modules')), ...migrations, ...lockfile].sort()
    fs.writeFileSync(path.join(tmp, 'build.json'), JSON.stringify({ builtAt: new Date().toISOString(), inputs }, null, 2) + '\n')
    // Swapped in whole: a half-written dist/ is never run.
    fs.rmSync(out, { recursive: true, force: true })
    fs.renameSync(tmp, out)
    return { inputs, ms: performance.now() - started, bytes: fs.statSync(path.join(root, BUILD_ENTRY)).size }
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true })
    throw new Error(describeFailure(err), { cause: err })
  }
}

/**
 * esbuild's errors as "file:line:column: message", one per line.
 * @param {unknown} err
 */
function describeFailure (err) {
  const errors = /** @type {{ errors?: Array<{ text: string, location: { file: string, line: number, column: number } | null }> }} */ (err).errors
  if (!Array.isArray(errors) || errors.length === 0) return err instanceof Error ? err.message : String(err)
  return errors.map((e) => `${e.location === null ? '' : `${e.location.file}:${e.location.line}:${e.location.column + 1}: `}${e.text}`).join('\n')
}

async function main () {
  const { values } = parseArgs({ options: { 'if-stale': { type: 'boolean' }, quiet: { type: 'boolean' } } })
  if (values['if-stale'] === true) {
    const why = staleReason(ROOT)
    if (why === null) return
    process.stdout.write(`building: ${why} (npm run build)\n`)
  }
  try {
    const r = await build(ROOT)
    if (values.quiet !== true && values['if-stale'] !== true) {
      process.stdout.write(`✓ build  ${BUILD_ENTRY} (${(r.bytes / 1024).toFixed(0)} KB, ${r.inputs.length} sources) and ${BUILD_RECORD} in ${(r.ms / 1000).toFixed(1)} s\n`)
    }
  } catch (err) {
    for (const line of (err instanceof Error ? err.message : String(err)).split('\n')) process.stderr.write(`build failed: ${line}\n`)
    process.exitCode = 1
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === import.meta.filename) await main()
