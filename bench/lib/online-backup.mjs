// @ts-check
// Child process for bench/backup.ts: runs the ops toolkit's online backup (the copy step of
// ops/backup.mjs) in its own process, as deploy does, and prints {"ms":…,"restarts":…}.
// Usage: node bench/lib/online-backup.mjs <source> <dest>
import { performance } from 'node:perf_hooks'
import { onlineBackup } from '../../ops/lib/sqlite.mjs'

const [source, dest] = process.argv.slice(2)
if (source === undefined || dest === undefined) {
  console.error('Error: usage: node bench/lib/online-backup.mjs <source> <dest>')
  process.exit(2)
}
const started = performance.now()
const { restarts } = await onlineBackup(source, dest)
console.log(JSON.stringify({ ms: performance.now() - started, restarts }))
