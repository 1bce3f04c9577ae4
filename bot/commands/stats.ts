// /stats (issue 15), for the owner alone: how many people, chats and tasks, and how busy the bot
// is, from the database (numbers only, never task text).
import type { Knex } from 'knex'
import type { Config } from '../config.js'
import { countInstances } from '../leader-presence.js'
import { contextOf } from './context.js'
import type { CommandSpec } from './types.js'

export type Stats = { users: number, chats: number, open: number, done: number, lastMinute: number, lastHour: number }

async function count (q: Knex.QueryBuilder): Promise<number> {
  const row = await q.count({ n: '*' }).first() as { n: number | string } | undefined
  return Number(row?.n ?? 0)
}

export async function readStats (db: Knex | Knex.Transaction, now: number): Promise<Stats> {
  return {
    // A private chat's id is its user's id; groups have negative ids.
    users: await count(db('chats').where('id', '>', 0)),
    chats: await count(db('chats')),
    open: await count(db('tasks').whereNull('deleted_at').whereNull('done_at')),
    done: await count(db('tasks').whereNull('deleted_at').whereNotNull('done_at')),
    lastMinute: await count(db('handled_updates').where('handled_at', '>', now - 60_000)),
    lastHour: await count(db('handled_updates').where('handled_at', '>', now - 3_600_000)),
  }
}

const n = (v: number): string => v.toLocaleString('en-US')

export function formatStats (s: Stats, instances: string): string {
  return [
    '<b>Stats</b>',
    `Users: ${n(s.users)} (private chats)`,
    `Chats: ${n(s.chats)}`,
    `Tasks: ${n(s.open)} open, ${n(s.done)} done`,
    `Updates: ${n(s.lastMinute)} in the last minute, ${n(s.lastHour)} in the last hour`,
    `Instances: ${instances}`,
  ].join('\n')
}

/** The dispatch's config: `database` is there at run time (the whole Config). */
type StatsConfig = Pick<Config, 'webhook'> & { database?: Config['database'] }

/** Polling allows one process per token, SQLite one writer; webhook mode on PostgreSQL counts the
 * instances' presence sessions (bot/leader.ts). */
export async function instancesOf (config: StatsConfig, db: Knex | Knex.Transaction): Promise<string> {
  if (config.webhook === null) return '1 (polling)'
  if (config.database?.engine !== 'postgres') return '1 (SQLite: one process)'
  const running = await countInstances(db, config.database.applicationName)
  return `${running} (webhook mode on PostgreSQL)`
}

export function statsCommand (config: StatsConfig): CommandSpec {
  return {
    name: 'stats',
    description: 'Users, chats, tasks and load (owner only)',
    menu: false,
    handler: async (turn) => turn.reply(formatStats(await readStats(contextOf(turn).trx, turn.now), await instancesOf(config, contextOf(turn).trx))),
  }
}
