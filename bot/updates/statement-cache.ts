// Keeps SQLite statements prepared. Knex's better-sqlite3 client prepares every query anew, and
// preparing was a fifth of the bot's CPU per update in the throughput profile; the bot runs the
// same few dozen statements over and over. Installed on each connection by knexfile.ts.
type Preparing = { prepare: (sql: string) => unknown }

/** Distinct statements kept per connection; past this, new ones are prepared each time as before. */
export const MAX_CACHED_STATEMENTS = 500

/**
 * Wraps `conn.prepare` with a cache keyed by the SQL text. Safe with Knex: it runs a statement to
 * completion synchronously (`all`/`run`, never an open iterator), and SQLite re-prepares a cached
 * statement by itself when the schema changes.
 */
export function cachePreparedStatements<C extends Preparing> (conn: C): C {
  const prepare = conn.prepare.bind(conn)
  const cache = new Map<string, unknown>()
  conn.prepare = (sql: string) => {
    let statement = cache.get(sql)
    if (statement === undefined) {
      statement = prepare(sql)
      if (cache.size < MAX_CACHED_STATEMENTS) cache.set(sql, statement)
    }
    return statement
  }
  return conn
}
