// For a *.pg.test.ts twin: runs the named test file's cases again with the bot on PostgreSQL
// (startHarness reads the variable), or skips the file, saying why, when PostgreSQL is missing.
import t from 'tap'
import { ENGINE_VARIABLE, NOT_INSTALLED, postgresBin } from './postgres.js'

export async function runOnPostgres (load: () => Promise<unknown>): Promise<void> {
  if (postgresBin() === null) {
    t.plan(0, NOT_INSTALLED)
    return
  }
  process.env[ENGINE_VARIABLE] = 'postgres'
  await load()
}
