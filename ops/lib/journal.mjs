// @ts-check
// Reads the deploy journal (storage/deploys.jsonl, one JSON object per line, written by deploy and
// rollback) to answer one question: which backups may a rollback still need?
import fs from 'node:fs'
import path from 'node:path'
import { BACKUP_NAME } from './backups.mjs'

/** A backup named by any of the newest this-many entries is kept by retention. */
export const JOURNAL_WINDOW = 10

/** Entries in file order; a line that is not JSON (a torn last write) is skipped. @param {string} file @returns {Record<string, unknown>[]} */
export function readJournal (file) {
  let text = ''
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return []
  }
  /** @type {Record<string, unknown>[]} */
  const entries = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try {
      const entry = JSON.parse(line)
      if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) entries.push(entry)
    } catch {
      // a torn line cannot name a backup
    }
  }
  return entries
}

/** @param {unknown} value @param {Set<string>} names */
function collectNames (value, names) {
  if (typeof value === 'string') {
    const base = path.basename(value)
    if (BACKUP_NAME.test(base)) names.add(base)
  } else if (Array.isArray(value)) {
    for (const item of value) collectNames(item, names)
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) collectNames(item, names)
  }
}

/**
 * File names of backups that the newest `window` journal entries mention in any field (`backup`,
 * `preRestore`, …), so deploy and rollback need not agree with retention on a field name.
 * @param {string} file @param {number} [window] @returns {Set<string>}
 */
export function referencedBackups (file, window = JOURNAL_WINDOW) {
  const names = new Set()
  for (const entry of readJournal(file).slice(-window)) collectNames(entry, names)
  return names
}
