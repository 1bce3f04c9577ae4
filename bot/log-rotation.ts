// Keeps storage/logs/bot.log bounded without a downloaded PM2 module: when the file passes the
// size limit it is copied to bot.log.1 (older copies shift up to LOG_KEEP) and truncated in place.
// PM2 appends (O_APPEND), so it simply goes on writing at the new end: logrotate's "copytruncate".
import fs from 'node:fs'
import type { Logger } from './logger.js'

export const CHECK_EVERY_MS = 15_000

export function rotateIfLarge (file: string, maxBytes: number, keep: number): boolean {
  let size: number
  try { size = fs.statSync(file).size } catch { return false }
  if (size <= maxBytes) return false
  for (let i = keep - 1; i >= 1; i--) {
    if (fs.existsSync(`${file}.${i}`)) fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`)
  }
  fs.rmSync(`${file}.${keep + 1}`, { force: true })
  fs.copyFileSync(file, `${file}.1`)
  fs.chmodSync(`${file}.1`, 0o600)
  fs.truncateSync(file, 0)
  return true
}

export function startLogRotation (file: string, maxBytes: number, keep: number, logger: Logger): () => void {
  const check = (): void => {
    try {
      if (rotateIfLarge(file, maxBytes, keep)) logger.info({ file, keep }, 'log rotated')
    } catch (err) {
      logger.warn({ err, file }, 'log rotation failed')
    }
  }
  check()
  const timer = setInterval(check, CHECK_EVERY_MS)
  timer.unref()
  return () => clearInterval(timer)
}
