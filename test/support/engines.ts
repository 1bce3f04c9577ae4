// Runs a storage test on both engines: SQLite in a temp folder, and PostgreSQL on the test run's
// private server (a fresh database per case) when PostgreSQL is installed; otherwise that half
// is skipped with a tap skip that says how to install it. The cases themselves are written once.
import path from 'node:path'
import type { Test } from 'tap'
import type { Config } from '../../bot/config.js'
import { openDatabase, type Database, type Engine } from '../../bot/db.js'
import { tempDir } from './bot-harness.js'
import { freshDatabase, NOT_INSTALLED, postgresBin } from './postgres.js'

export type EngineCase = {
  engine: Engine
  /** Variables that point the bot at this engine's database (none for SQLite: DATABASE_FILE decides). */
  env: Record<string, string>
  /** The target as the bot's config would have it; SQLite: `file`, or a file in a temp folder. */
  target: (file?: string) => Config['database']
  /** Opens this case's database (SQLite: `file`, or the case's own temp file). */
  open: (file?: string, options?: { migrationsDir?: string }) => Database
}

export const ENGINES: readonly Engine[] = ['sqlite', 'postgres']

async function engineCase (t: Test, engine: Engine): Promise<EngineCase> {
  if (engine === 'sqlite') {
    const own = path.join(tempDir(), 'todo.sqlite')
    const target = (file?: string): Config['database'] => ({ engine: 'sqlite', file: file ?? own })
    return { engine, env: {}, target, open: (file, options) => openDatabase(target(file), options ?? {}) }
  }
  const { url } = await freshDatabase(t)
  const target = (): Config['database'] => ({ engine: 'postgres', url, poolMax: 5, statementTimeoutMs: 15_000, applicationName: 'mister_todo_test' })
  return { engine, env: { DATABASE_URL: url }, target, open: (_file, options) => openDatabase(target(), options ?? {}) }
}

/** `name [sqlite]` and `name [postgres]`, the same case on each engine. */
export function forEachEngine (t: Test, name: string, fn: (t: Test, e: EngineCase) => Promise<void>, engines: readonly Engine[] = ENGINES): void {
  for (const engine of engines) {
    const skip = engine === 'postgres' && postgresBin() === null ? NOT_INSTALLED : false
    t.test(`${name} [${engine}]`, { skip }, async (t) => fn(t, await engineCase(t, engine)))
  }
}
