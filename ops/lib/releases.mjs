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
 *   outcome: 'good' | 'bad' | 'rolled-back' | 'failed' | 'cancelled', reason: string | null, who: string,
 *   skippedTests?: boolean, undoes?: string | null, dryRun?: boolean, downtimeMs?: number
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
  for (const r of releases) if (r.kind === 'rollback' && r.outcome === 'good' && typeof r.undoes === 'string') bad.add(r.undoes)
  return bad
}

/** The newest good deploy not yet undone: what a plain rollback undoes. @param {Release[]} releases */
export function deployToUndo (releases) {
  const bad = badDeployIds(releases)
  return [...releases].reverse().find((r) => r.kind === 'deploy' && !r.dryRun && !bad.has(r.id)) ?? null
}

/** Commits that were the target of a bad deploy. @param {Release[]} releases */
export function badCommits (releases) {
  const bad = badDeployIds(releases)
  return new Set(releases.filter((r) => r.kind === 'deploy' && bad.has(r.id) && r.to !== null).map((r) => /** @type {string} */ (r.to)))
}

/** The --history / --list table. @param {Release[]} releases */
export function historyTable (releases) {
  const bad = badDeployIds(releases)
  const rows = releases.map((r) => [
    r.start.slice(0, 19).replace('T', ' '),
    r.kind,
    `${r.from?.slice(0, 7) ?? '-'} → ${r.to?.slice(0, 7) ?? '-'}`,
    r.kind === 'deploy' ? (bad.has(r.id) ? `bad (${r.outcome})` : 'good') : r.outcome,
    r.backup === null ? '-' : path.basename(r.backup),
    r.who,
  ])
  return formatTable([['date (UTC)', 'kind', 'commits', 'release', 'backup', 'who'], ...rows], [0, 1, 2, 3, 4, 5])
}
