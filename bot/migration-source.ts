// Where a migration's code is loaded from. Migrations are named by their TypeScript file
// (`20261124000000_create_tasks.ts` is what knex_migrations records, in every database already out
// there), but plain `node` cannot import TypeScript: a built release has each one compiled beside
// its other built code (dist/storage/migrations/<name>.js, see scripts/build.mjs), and that is what
// is imported when it is there and not older than the .ts. Without a build (tsx: development,
// tests, ops scripts, releases from before the build step) the .ts itself is imported.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Knex } from 'knex'

const MIGRATION_FILE = /^\d{14}_.+\.ts$/

/** The migration files of a folder (a release's storage/migrations), oldest first. */
export function migrationFiles (dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => MIGRATION_FILE.test(f)).sort()
}

/**
 * The URL to import for `<root>/storage/migrations/<name>.ts`: its compiled twin
 * `<root>/dist/storage/migrations/<name>.js` when that exists and is at least as new, else the .ts.
 */
export function migrationModuleUrl (file: string): string {
  const root = path.resolve(path.dirname(file), '..', '..')
  const built = path.join(root, 'dist', 'storage', 'migrations', path.basename(file).replace(/\.ts$/, '.js'))
  const builtAt = fs.statSync(built, { throwIfNoEntry: false })?.mtimeMs
  const sourceAt = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0
  return pathToFileURL(builtAt !== undefined && builtAt >= sourceAt ? built : file).href
}

/** A Knex migration source over one folder: names are the .ts files, code as above. */
export function migrationSource (dir: string): Knex.MigrationSource<string> {
  return {
    getMigrations: async () => migrationFiles(dir),
    getMigrationName: (name) => name,
    getMigration: async (name) => await import(migrationModuleUrl(path.join(dir, name))) as Knex.Migration,
  }
}
