// @ts-check
// Deploy and rollback records in storage/deploys.jsonl (append-only JSON lines, read with
// journal.mjs): writing one, and the questions rollback asks of them (which releases are bad, which
// deploy to undo).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import crypto from 'node:crypto'
import { readJournal } from './journal.mjs'
import { formatTable } from './format.mjs'

/**
 * @typedef {{
 *   id: string, kind: 'deploy' | 'rollback', start: string, end?: string, from: string | null, to: string | null,
 *   backup: string | null, migrations: string[], batch?: number | null, steps: import('./steps.mjs').StepRecord[],
 *   outcome: 'good' | 'bad' | 'rolled-back' | 'failed' | 'cancelled' | 'interrupted', reason: string | null, who: string,
 *   skippedTests?: boolean, undoes?: string | string[] | null, dryRun?: boolean, downtimeMs?: number, kept?: string[]
 * }} Release
 */

export function newId () {
  return `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${crypto.randomBytes(2).toString('hex')}`
}

export function who () {
  return `${os.userInfo().username}@${os.hostname()}`
}

/** Appends one record, flushed. @param {string} file @param {Release} record */
export function appendRelease (file, record) {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const fd = fs.openSync(file, 'a', 0o600)
  try {
    fs.writeSync(fd, JSON.stringify(record) + '\n')
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** @param {string} file @returns {Release[]} */
export function readReleases (file) {
  return /** @type {Release[]} */ (readJournal(file).filter((e) => e.kind === 'deploy' || e.kind === 'rollback'))
}

/** Ids of deploys that failed or that a rollback undid. @param {Release[]} releases */
export function badDeployIds (releases) {
  const bad = new Set(releases.filter((r) => r.kind === 'deploy' && r.outcome !== 'good').map((r) => r.id))
  for (const r of releases) {
    if (r.kind !== 'rollback' || r.outcome !== 'good') continue
    for (const id of typeof r.undoes === 'string' ? [r.undoes] : r.undoes ?? []) bad.add(id)
  }
  return bad
}

/** The newest good deploy not yet undone: what a plain rollback undoes. @param {Release[]} releases */
export function deployToUndo (releases) {
  const bad = badDeployIds(releases)
  return [...releases].reverse().find((r) => r.kind === 'deploy' && !r.dryRun && !bad.has(r.id)) ?? null
}

/**
 * The good deploys a rollback from `current` to `target` undoes: the chain of deploys that brought
 * the checkout from `target` to `current`, newest first. Empty when `target` is not on that chain
 * (an older commit no deploy started from, or a newer one).
 * @param {Release[]} releases @param {string} current @param {string} target @returns {Release[]}
 */
export function deploysBetween (releases, current, target) {
  const bad = badDeployIds(releases)
  const good = releases.filter((r) => r.kind === 'deploy' && !r.dryRun && !bad.has(r.id)).reverse()
  const chain = []
  let at = current
  for (const r of good) {
    if (at === target) break
    if (r.to !== at || r.from === null) continue
    chain.push(r)
    at = r.from
  }
  return at === target ? chain : []
}

/** Commits that were the target of a bad deploy. @param {Release[]} releases */
export function badCommits (releases) {
  const bad = badDeployIds(releases)
  return new Set(releases.filter((r) => r.kind === 'deploy' && bad.has(r.id) && r.to !== null).map((r) => /** @type {string} */ (r.to)))
}

/** The --history / --list table; `kind` shows only those rows (bad-ness still counts every record). @param {Release[]} releases @param {Release['kind']} [kind] */
export function historyTable (releases, kind) {
  const bad = badDeployIds(releases)
  const rows = releases.filter((r) => kind === undefined || r.kind === kind).map((r) => [
    r.start.slice(0, 19).replace('T', ' '),
    r.kind,
    `${r.from?.slice(0, 7) ?? '-'} → ${r.to?.slice(0, 7) ?? '-'}`,
    r.kind === 'deploy' ? (bad.has(r.id) ? `bad (${r.outcome})` : 'good') : r.outcome,
    r.backup === null ? '-' : path.basename(r.backup),
    r.who,
  ])
  return formatTable([['date (UTC)', 'kind', 'commits', 'release', 'backup', 'who'], ...rows], [0, 1, 2, 3, 4, 5])
}
