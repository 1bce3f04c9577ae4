// @ts-check
// A database file the bot copied while nothing wrote (the take-over snapshot, the replaced database
// a restore keeps) becomes a backup like any other: verified, with its manifest, so a rollback or
// ops/restore.mjs can use it. Done while the new version already serves.
import fs from 'node:fs'
import path from 'node:path'
import { backupName, manifestPathOf, stampOf } from './backups.mjs'
import { inspectDatabase, sha256File } from './sqlite.mjs'

/**
 * @param {string} file @param {{ kind: 'backup' | 'pre-restore', source: string, gitCommit: string | null }} o
 * @returns {Promise<import('./backups.mjs').Manifest>}
 */
export async function writeManifestFor (file, o) {
  const started = performance.now()
  const inspection = inspectDatabase(file)
  const stat = fs.statSync(file)
  /** @type {import('./backups.mjs').Manifest} */
  const manifest = {
    file: path.basename(file),
    kind: o.kind,
    createdAt: stat.mtime.toISOString(),
    source: o.source,
    size: stat.size,
    sha256: await sha256File(file),
    integrity: inspection.ok ? 'ok' : inspection.problem ?? 'failed',
    verified: inspection.ok,
    counts: inspection.counts,
    migrationHead: inspection.head,
    gitCommit: o.gitCommit,
    durationMs: Math.round(performance.now() - started),
  }
  fs.writeFileSync(manifestPathOf(file), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 })
  return manifest
}

/**
 * The take-over snapshot for a hand-over plan: on SQLite a copy of the file taken while nothing
 * writes (what a rollback restores); none on PostgreSQL, where each migration batch runs in a
 * transaction and the deploy's verified pg_dump is the restore point (ops/restore.mjs).
 * @param {{ engine: 'sqlite' | 'postgres' }} storage @param {string} backupsDir @returns {{ snapshot?: string }}
 */
export function takeOverSnapshot (storage, backupsDir) {
  return storage.engine === 'sqlite' ? { snapshot: freeBackupPath(backupsDir, 'backup') } : {}
}

/**
 * A backup name nobody holds yet, for a file the bot will write at take-over.
 * @param {string} dir @param {'backup' | 'pre-restore'} kind
 */
export function freeBackupPath (dir, kind) {
  const stamp = stampOf(new Date())
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  for (let seq = 1; ; seq++) {
    const file = path.join(dir, backupName(stamp, seq, kind))
    if (!fs.existsSync(file)) return file
  }
}
