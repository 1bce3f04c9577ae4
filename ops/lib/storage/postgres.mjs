// @ts-check
// The ops side of PostgreSQL: back up with pg_dump --format=custom (verified by restoring into a
// scratch database and comparing rows), restore into a new database and swap it in by rename
// (the replaced one kept, renamed), scratch databases for rehearsals. The server's own tools come
// from PG_BIN, /usr/lib/postgresql/<newest>/bin or PATH. Credentials reach them through PG*
// variables, never the command line (ps shows that), and are never printed: URLs are shown
// without their password.
import fs from 'node:fs'
import path from 'node:path'
import { $ } from '../shell.mjs'
import { importTs } from '../ts.mjs'

/** @typedef {import('../../../bot/config.js').PostgresTarget} PostgresTarget */
/** @typedef {import('knex').Knex} Knex */

/** The folder holding pg_dump and pg_restore, or null. @param {NodeJS.ProcessEnv} env */
export function pgToolsDir (env = process.env) {
  const candidates = []
  if (env.PG_BIN?.trim()) candidates.push(env.PG_BIN.trim())
  const root = '/usr/lib/postgresql'
  if (fs.existsSync(root)) {
    candidates.push(...fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)).map((v) => path.join(root, v, 'bin')))
  }
  for (const dir of (env.PATH ?? '').split(':')) if (dir !== '') candidates.push(dir)
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'pg_dump')) && fs.existsSync(path.join(dir, 'pg_restore'))) ?? null
}

/** @param {string} url */
export function databaseNameOf (url) {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''))
}

/** The same server and credentials, another database. @param {string} url @param {string} name */
export function urlWithDatabase (url, name) {
  const u = new URL(url)
  u.pathname = `/${encodeURIComponent(name)}`
  return u.toString()
}

/** libpq's variables for a URL: how pg_dump and pg_restore get the password without showing it. @param {string} url */
function pgEnv (url) {
  const u = new URL(url)
  /** @type {Record<string, string>} */
  const env = { PGHOST: u.hostname.replace(/^\[|\]$/g, ''), PGPORT: u.port || '5432', PGDATABASE: databaseNameOf(url) }
  if (u.username !== '') env.PGUSER = decodeURIComponent(u.username)
  if (u.password !== '') env.PGPASSWORD = decodeURIComponent(u.password)
  const sslmode = u.searchParams.get('sslmode')
  if (sslmode !== null) env.PGSSLMODE = sslmode
  return env
}

/** @param {string} name */
const ident = (name) => `"${name.replaceAll('"', '""')}"`

/**
 * @param {PostgresTarget} target @param {NodeJS.ProcessEnv} env the environment (PG_BIN, PATH)
 */
export function postgresStorage (target, env = process.env) {
  const live = databaseNameOf(target.url)

  /** @param {string} [migrationsDir] @param {string} [url] @returns {Promise<Knex>} */
  async function openKnex (migrationsDir, url = target.url) {
    const { knexConfigFor } = /** @type {typeof import('../../../knexfile.js')} */ (await importTs('knexfile.ts'))
    const { default: knexFactory } = await import('knex')
    return knexFactory(knexConfigFor({ ...target, url }, { ...(migrationsDir === undefined ? {} : { migrationsDir }), poolMax: 2 }))
  }

  /** Runs SQL on the server's maintenance database (create, drop, rename databases). @template T @param {(knex: Knex) => Promise<T>} work */
  async function admin (work) {
    const knex = await openKnex(undefined, urlWithDatabase(target.url, 'postgres'))
    try {
      return await work(knex)
    } finally {
      await knex.destroy()
    }
  }

  /** A server tool with the credentials in its environment. @param {string} tool @param {string[]} args @param {string} [url] */
  async function tool (tool, args, url = target.url) {
    const dir = pgToolsDir(env)
    if (dir === null) throw new Error('pg_dump/pg_restore not found: install the PostgreSQL client (apt-get install -y postgresql-client) or set PG_BIN to their folder')
    return await $({ env: { ...env, ...pgEnv(url) }, quiet: true })`${path.join(dir, tool)} ${args}`
  }

  return {
    engine: /** @type {const} */ ('postgres'),
    target,
    /** The database as the operator may see it (no password). */
    shown: (() => { const u = new URL(target.url); if (u.password !== '') u.password = 'xxxxx'; return u.toString() })(),
    live,
    openKnex,
    /** Rows per table (knex's own included) and the migration head of a database (default: the live one). @param {string} [database] */
    async inspect (database = live) {
      const knex = await openKnex(undefined, urlWithDatabase(target.url, database))
      try {
        const tables = /** @type {string[]} */ (await knex('information_schema.tables').where({ table_schema: knex.raw('current_schema()'), table_type: 'BASE TABLE' }).orderBy('table_name').pluck('table_name'))
        /** @type {Record<string, number>} */
        const counts = {}
        for (const table of tables) counts[table] = Number((await knex(table).count({ n: '*' }).first())?.n ?? 0)
        const head = tables.includes('knex_migrations') ? (await knex('knex_migrations').orderBy('id', 'desc').first('name'))?.name ?? null : null
        return { counts, head }
      } finally {
        await knex.destroy()
      }
    },
    /**
     * pg_dump of the live database into `file` (custom format: compressed, restorable table by
     * table); `snapshot`: an exported snapshot, so the dump sees exactly what the caller counted.
     * @param {string} file @param {string} [snapshot]
     */
    async dump (file, snapshot) {
      await tool('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', ...(snapshot === undefined ? [] : [`--snapshot=${snapshot}`]), `--file=${file}`])
      fs.chmodSync(file, 0o600)
    },
    /** Creates `database` and restores `file` into it. @param {string} file @param {string} database */
    async restoreInto (file, database) {
      await admin((k) => k.raw(`create database ${ident(database)}`))
      try {
        await tool('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', `--dbname=${database}`, file], urlWithDatabase(target.url, database))
      } catch (err) {
        await this.drop(database)
        throw err
      }
    },
    /** @param {string} database */
    async drop (database) {
      await admin((k) => k.raw(`drop database if exists ${ident(database)}`))
    },
    /** Sessions connected to `database` other than ours: a swap needs none (the bot stopped). @param {string} database */
    async sessions (database) {
      return await admin(async (k) => /** @type {Array<{ application_name: string }>} */ (await k('pg_stat_activity').where({ datname: database }).whereNot('pid', k.raw('pg_backend_pid()')).select('application_name')))
    },
    /** The live database renamed to `keepAs`, `incoming` renamed to the live name. @param {string} incoming @param {string} keepAs */
    async swap (incoming, keepAs) {
      await admin(async (k) => {
        await k.raw(`alter database ${ident(live)} rename to ${ident(keepAs)}`)
        try {
          await k.raw(`alter database ${ident(incoming)} rename to ${ident(live)}`)
        } catch (err) {
          await k.raw(`alter database ${ident(keepAs)} rename to ${ident(live)}`)
          throw err
        }
      })
    },
    /**
     * What keeps ops from working on this server, one sentence each with the fix (empty: fine):
     * the server must be 13 or newer, the role must be allowed to create the scratch databases
     * that backups and rehearsals restore into, and pg_dump must be found and as new as the server.
     * For preflight (and deploy) to call before anything changes.
     * @returns {Promise<string[]>}
     */
    async preflightProblems () {
      /** @type {string[]} */
      const problems = []
      let serverMajor = 0
      try {
        await admin(async (k) => {
          serverMajor = Math.floor(Number((await k.raw('show server_version_num')).rows[0]?.server_version_num ?? 0) / 10000)
          const role = (await k.raw('select current_user as name, rolcreatedb or rolsuper as may from pg_roles where rolname = current_user')).rows[0]
          if (serverMajor < 13) problems.push(`the PostgreSQL server is version ${serverMajor}: Mister_Todo needs 13 or newer`)
          if (role?.may !== true) problems.push(`role "${role?.name}" may not create databases, which backups and rehearsals restore into: ALTER ROLE "${role?.name}" CREATEDB`)
        })
      } catch (err) {
        const { explainConnectionError } = /** @type {typeof import('../../../bot/db-postgres.js')} */ (await importTs('bot/db-postgres.ts'))
        const explained = explainConnectionError(err, target)
        return [explained instanceof Error ? explained.message : String(explained)]
      }
      const dir = pgToolsDir(env)
      if (dir === null) problems.push('pg_dump/pg_restore not found: install the PostgreSQL client (apt-get install -y postgresql-client) or set PG_BIN to their folder')
      else {
        const version = (await $({ quiet: true, nothrow: true })`${path.join(dir, 'pg_dump')} --version`).stdout
        const dumpMajor = Number(/(\d+)(?:\.\d+)?/.exec(version)?.[1] ?? 0)
        if (dumpMajor < serverMajor) problems.push(`pg_dump in ${dir} is version ${dumpMajor}, older than the server (${serverMajor}): set PG_BIN to a pg_dump ${serverMajor} or newer`)
      }
      return problems
    },
    /** `incoming` renamed to the live name (there was no live database). @param {string} incoming */
    async swapInto (incoming) {
      await admin((k) => k.raw(`alter database ${ident(incoming)} rename to ${ident(live)}`))
    },
    /** Bytes the live database takes on the server. */
    async size () {
      return await admin(async (k) => Number((await k.raw('select pg_database_size(?) as n', [live])).rows[0]?.n ?? 0))
    },
    /** @param {string} database */
    async exists (database = live) {
      return await admin(async (k) => (await k('pg_database').where({ datname: database }).first('datname')) !== undefined)
    },
  }
}

/** @typedef {ReturnType<typeof postgresStorage>} PostgresStorage */
