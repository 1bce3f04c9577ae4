// @ts-check
// Several instances (webhook mode on PostgreSQL, WEB_CONCURRENCY > 1): PM2's reload replaces them
// one by one, and each answers /healthz on HEALTH_PORT + its number. After a deploy or a rollback
// every one of them must run the expected version, and exactly one must lead (run the reminders,
// digests and backups); the main health check reaches only one of them.
import { sleep } from 'zx'
import { OpsError } from './cli.mjs'

/** How long a new leader may take: the others ask for the lock every 2 s (bot/leader.ts). */
export const LEADER_WAIT_S = 10

/** @param {number} base HEALTH_PORT @param {number} count WEB_CONCURRENCY */
export function instancePorts (base, count) {
  return Array.from({ length: count }, (_, i) => base + i)
}

/** @typedef {{ port: number, answered: boolean, reason: string, status: string, problems: string[], version: string, leads: boolean, pid: number | null }} InstanceLook */

/** @param {number} port @returns {Promise<InstanceLook>} */
async function look (port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) })
    const body = /** @type {{ status?: unknown, problems?: unknown, version?: unknown, pid?: unknown, instance?: { leads?: unknown } }} */ (await res.json())
    return {
      port,
      answered: true,
      reason: '',
      status: String(body.status),
      problems: Array.isArray(body.problems) ? body.problems.map(String) : [],
      version: typeof body.version === 'string' ? body.version : '?',
      leads: body.instance?.leads === true,
      pid: typeof body.pid === 'number' ? body.pid : null,
    }
  } catch (err) {
    const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)
    return { port, answered: false, reason, status: '', problems: [], version: '', leads: false, pid: null }
  }
}

/** The first thing wrong with the instances, or null. @param {InstanceLook[]} looks @param {string} commit */
function problemOf (looks, commit) {
  for (const [i, l] of looks.entries()) {
    const who = `instance #${i} (127.0.0.1:${l.port})`
    if (!l.answered) return `${who} does not answer /healthz (${l.reason})`
    if (l.status !== 'ok' && l.status !== 'degraded') return `${who} is ${l.status}: ${l.problems.join('; ') || 'no reason given'}`
    if (l.version !== commit) return `${who} runs ${l.version.slice(0, 7)}, expected ${commit.slice(0, 7)}`
  }
  const leaders = looks.flatMap((l, i) => l.leads ? [i] : [])
  if (leaders.length === 0) return `no instance leads, so reminders, digests and backups run nowhere (waited ${LEADER_WAIT_S} s)`
  if (leaders.length > 1) return `instances ${leaders.map((i) => `#${i}`).join(' and ')} all lead; exactly one may`
  return null
}

/**
 * Waits (up to `waitS`) until every instance answers healthy with `commit` and exactly one leads;
 * then says so, else throws naming the first instance that is not right.
 * @param {{ ports: number[], commit: string, waitS?: number }} o @returns {Promise<string>}
 */
export async function verifyInstances (o) {
  const until = performance.now() + (o.waitS ?? LEADER_WAIT_S) * 1000
  for (;;) {
    const looks = await Promise.all(o.ports.map(look))
    const problem = problemOf(looks, o.commit)
    if (problem === null) {
      const leader = looks.findIndex((l) => l.leads)
      const where = looks.length === 1 ? `1 instance (health port ${o.ports[0]})` : `${looks.length} instances (health ports ${o.ports[0]}–${o.ports.at(-1)})`
      return `${where} run${looks.length === 1 ? 's' : ''} ${o.commit.slice(0, 7)}, #${leader} leads`
    }
    if (performance.now() >= until) throw new OpsError('verify', problem, { hint: 'npm run status, then npm run logs' })
    await sleep(500)
  }
}
