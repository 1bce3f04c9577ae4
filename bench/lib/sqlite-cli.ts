// The baseline for the backup benchmark: Debian's sqlite3 CLI. Installed on demand when running as
// root (apt-get install -y sqlite3); otherwise the baseline is skipped with a note.
import { execFileSync, spawnSync } from 'node:child_process'

export type Cli = { ok: true, version: string } | { ok: false, why: string }

function version (): string | null {
  const r = spawnSync('sqlite3', ['-version'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.split(' ')[0] ?? 'unknown' : null
}

export function ensureSqliteCli (): Cli {
  const found = version()
  if (found !== null) return { ok: true, version: found }
  if (process.getuid?.() !== 0) return { ok: false, why: 'sqlite3 CLI not found and not root: install it (sudo apt-get install -y sqlite3) for the baseline' }
  try {
    execFileSync('apt-get', ['install', '-y', 'sqlite3'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  } catch (err) {
    return { ok: false, why: `apt-get install -y sqlite3 failed: ${err instanceof Error ? err.message : String(err)}` }
  }
  const installed = version()
  return installed === null ? { ok: false, why: 'sqlite3 still missing after apt-get install' } : { ok: true, version: installed }
}
