// The benchmark dataset (bench/lib/dataset.ts's rows) loaded into a PostgreSQL database: the real
// migrations, then multi-row inserts of 20,000 rows each (one `insert … select from unnest(…)`
// per batch, all in one transaction), then VACUUM ANALYZE so the planner and the visibility map
// see the data as a database that has been in use would.
import pg from 'pg'
import { openDatabase } from '../../bot/db.js'
import { datasetRows, type DatasetSpec, type TaskRow } from './dataset.js'
import { targetFor } from './postgres.js'

const BATCH = 20_000

const INSERT_CHATS = 'insert into chats (id, next_number, created_at) select * from unnest($1::bigint[], $2::int[], $3::bigint[])'
const INSERT_TASKS = `insert into tasks (chat_id, number, text, created_at, updated_at, done_at, deleted_at)
  select * from unnest($1::bigint[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])`

/** Migrates the empty database at `url` and fills it with `spec`; returns the table's size in MB. */
export async function seedPostgres (url: string, spec: DatasetSpec): Promise<{ seconds: number, tableMb: number }> {
  const started = Date.now()
  const knex = openDatabase(targetFor(url))
  try {
    await knex.migrate.latest()
  } finally {
    await knex.destroy()
  }
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('begin')
    let chats: Array<[number, number, number]> = []
    let tasks: TaskRow[] = []
    const flush = async (): Promise<void> => {
      // Chats first: tasks reference them.
      if (chats.length > 0) await client.query(INSERT_CHATS, columns(chats, 3))
      if (tasks.length > 0) await client.query(INSERT_TASKS, columns(tasks, 7))
      chats = []
      tasks = []
    }
    for (const row of datasetRows(spec)) {
      if ('chat' in row) chats.push(row.chat)
      else tasks.push(row.task)
      if (tasks.length >= BATCH) await flush()
    }
    await flush()
    await client.query('commit')
    await client.query('vacuum analyze chats')
    await client.query('vacuum analyze tasks')
    const size = await client.query<{ bytes: number }>("select pg_total_relation_size('tasks')::float8 as bytes")
    return { seconds: (Date.now() - started) / 1000, tableMb: Number(size.rows[0]?.bytes ?? Number.NaN) / 1048576 }
  } finally {
    await client.end()
  }
}

/** Rows → one array per column, as unnest() takes them. */
function columns (rows: ReadonlyArray<readonly unknown[]>, width: number): unknown[][] {
  const out = Array.from({ length: width }, () => [] as unknown[])
  for (const row of rows) for (let c = 0; c < width; c += 1) out[c]?.push(row[c])
  return out
}
