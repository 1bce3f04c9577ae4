// @ts-check
// Which backups retention keeps, and by which rule. Scheduled backups: the newest of each of the
// last 7 days, 4 ISO weeks and 12 months that have one (UTC, as the names are). Every other backup
// (deploy, rollback, by hand, _pre-restore): the newest `keep`, plus any the deploy journal names.

import { listBackupFiles, readManifest } from './backups.mjs'

export const GFS = Object.freeze({ daily: 7, weekly: 4, monthly: 12 })

/**
 * @typedef {{ name: string, stamp: string, seq: number, origin: 'schedule' | 'command' }} RetentionEntry
 * @typedef {{ keep: boolean, rules: string[] }} RetentionVerdict
 */

/** 2026-11-24_10-02-11 → Date. @param {string} stamp */
function dateOf (stamp) {
  return new Date(`${stamp.slice(0, 10)}T${stamp.slice(11).replaceAll('-', ':')}Z`)
}

/** ISO week key, e.g. 2026-W48. @param {Date} date */
function isoWeek (date) {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()))
  const day = d.getUTCDay() || 7
  d.setUTCDate(d.getUTCDate() + 4 - day)
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1)
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7)
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`
}

/** @type {Record<keyof typeof GFS, (d: Date) => string>} */
const PERIOD = {
  daily: (d) => d.toISOString().slice(0, 10),
  weekly: isoWeek,
  monthly: (d) => d.toISOString().slice(0, 7),
}

/**
 * The verdict for each entry (by name). `keep: null` keeps everything (no pruning asked).
 * @param {RetentionEntry[]} entries any order
 * @param {{ keep: number | null, pinned: Set<string> }} options
 * @returns {Map<string, RetentionVerdict>}
 */
export function planRetention (entries, options) {
  const newestFirst = [...entries].sort((a, b) => a.stamp === b.stamp ? b.seq - a.seq : (a.stamp < b.stamp ? 1 : -1))
  /** @type {Map<string, RetentionVerdict>} */
  const plan = new Map(newestFirst.map((e) => [e.name, { keep: options.keep === null, rules: [] }]))
  const verdict = (/** @type {string} */ name) => /** @type {RetentionVerdict} */ (plan.get(name))

  const scheduled = newestFirst.filter((e) => e.origin === 'schedule')
  for (const rule of /** @type {Array<keyof typeof GFS>} */ (['daily', 'weekly', 'monthly'])) {
    const seen = new Set()
    for (const e of scheduled) {
      if (seen.size >= GFS[rule]) break
      const period = PERIOD[rule](dateOf(e.stamp))
      if (seen.has(period)) continue
      seen.add(period)
      verdict(e.name).rules.push(rule)
    }
  }
  let counted = 0
  for (const e of newestFirst.filter((x) => x.origin === 'command')) {
    if (options.keep !== null && counted < options.keep) {
      counted += 1
      verdict(e.name).rules.push(`newest ${options.keep}`)
    }
  }
  for (const e of newestFirst) if (options.pinned.has(e.name)) verdict(e.name).rules.push('deploy journal')
  for (const v of plan.values()) if (v.rules.length > 0) v.keep = true
  return plan
}

/** Every backup in a folder with its origin (from its manifest; none means 'command'). @param {string} dir */
export function retentionEntries (dir) {
  return listBackupFiles(dir).map((b) => ({ ...b, origin: readManifest(b.file)?.origin === 'schedule' ? /** @type {const} */ ('schedule') : /** @type {const} */ ('command') }))
}
