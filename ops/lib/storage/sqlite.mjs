// @ts-check
// The ops side of SQLite, behind the same face as postgres.mjs: the live database is a file; its
// backups, checks and restores are the file-level steps in ../sqlite.mjs, ../../backup.mjs and
// ../../restore.mjs (online backup API, integrity_check, copy and rename).
import { openKnex } from '../migrations.mjs'
import { inspectDatabase } from '../sqlite.mjs'

/** @param {string} file the live database @param {string} shown how the operator reads its path */
export function sqliteStorage (file, shown) {
  return {
    engine: /** @type {const} */ ('sqlite'),
    file,
    shown,
    /** @param {string} migrationsDir @param {{ readonly?: boolean }} [options] */
    openKnex: (migrationsDir, options = {}) => openKnex(file, migrationsDir, options),
    /** Rows per table and the migration head. */
    inspect: async () => {
      const r = inspectDatabase(file, { checks: false })
      return { counts: r.counts, head: r.head }
    },
  }
}

/** @typedef {ReturnType<typeof sqliteStorage>} SqliteStorage */
