// The PM2 app `mister_todo`: one instance in cluster mode, so that `pm2 reload` starts the new
// process first, waits for its `ready` (loaded, standing by for the instance lock) and only then
// sends SIGINT to the old one, which finishes the update in hand and lets go of the lock; the new
// one takes it at once (docs/decisions.md, "Hand-over"). Only one process ever polls: the instance
// lock, not PM2, guarantees it. Cluster mode starts node in the PM2 daemon's folder, so every path
// here is absolute. WEB_CONCURRENCY > 1 runs that many instances, for webhook mode on PostgreSQL
// only (docs/decisions.md, "Several instances").
// This project is "type": "module", so this file is ESM: PM2 require()s it, which Node ≥ 20.19
// answers with the module's exports, so `apps` must be a named export (a default export is not
// seen by PM2). See docs/decisions.md.
import fs from 'node:fs'
import path from 'node:path'
import { parseEnv } from 'node:util'
import { RUNTIME_NODE_FLAGS } from './scripts/runtime-flags.mjs'

const root = import.meta.dirname
const log = path.join(root, 'storage', 'logs', 'bot.log')
const MAX_MEMORY = '300M'

// ---- Several instances (issue 15): WEB_CONCURRENCY from the environment, else from .env (PM2
// reads this file without it), default 1. More than 1 only in webhook mode on PostgreSQL: the bot
// refuses anything else at start with the reason (bot/config.ts), so a wrong value shows in the log.
function webConcurrency () {
  let raw = process.env.WEB_CONCURRENCY
  if (raw === undefined || raw.trim() === '') {
    try {
      raw = parseEnv(fs.readFileSync(path.join(root, '.env'), 'utf8')).WEB_CONCURRENCY
    } catch {
      raw = undefined
    }
  }
  const n = Number(raw ?? '1')
  return Number.isInteger(n) && n >= 1 ? n : 1
}
const instances = webConcurrency()
// ---- end several instances ----

export const apps = [{
  name: 'mister_todo',
  // Follows releases/current (or runs this checkout before the first deploy).
  script: path.join(root, 'bot', 'pm2-entry.mjs'),
  cwd: root,
  // The bot runs its build (dist/) with plain node when it is current, else tsx (bot/pm2-entry.mjs).
  node_args: [`--env-file-if-exists=${path.join(root, '.env')}`, ...RUNTIME_NODE_FLAGS],
  // A leak restarts the bot rather than swapping the box. ~92 MB after the scale benchmark's
  // traffic, but exports of a 10,000-task chat (1,000 characters each, the largest allowed) peak at
  // 190–205 MB (with the flags above) and stay at 150–180 MB for a while: 300 MB keeps ~100 MB above
  // that, so a legitimate export is never restarted into a loop (docs/decisions.md, "Memory").
  // PM2 looks every 30 s.
  max_memory_restart: MAX_MEMORY,
  exec_mode: 'cluster',
  // 1 unless WEB_CONCURRENCY says more (see above); each instance then serves health on HEALTH_PORT + NODE_APP_INSTANCE.
  instances,
  // Graceful stop: SIGINT, then up to kill_timeout for the update in hand (a handler takes
  // milliseconds; a slow Bot API call times out after 15 s).
  kill_timeout: 20_000,
  // Ready = standing by: database and schema checked, token works, commands set; the process then
  // takes the instance lock as soon as the running one lets go (at once on a plain start).
  wait_ready: true,
  // Past it PM2 stops the running process even if the new one never said ready: far above the
  // 30 s ops gives a new version (ops then stops the stalled one, see ops/lib/handover.mjs).
  listen_timeout: 120_000,
  // Crash restarts: the crashing bot itself waits 200 ms, 400 ms ... up to 5 s before it exits
  // (bot/crash-backoff.ts; PM2's exp_backoff_restart_delay would hide "errored" behind
  // "waiting restart"), and ten crashes within min_uptime end in a clear "errored" state.
  autorestart: true,
  max_restarts: 10,
  min_uptime: 10_000,
  out_file: log,
  error_file: log,
  merge_logs: true,
  log_date_format: 'YYYY-MM-DDTHH:mm:ss.SSSZ',
  time: false,
  env: {
    NODE_ENV: 'production',
    LOG_FILE: log,
    MISTER_TODO_ROOT: root,
    // A new process stands by this long for the old one to hand over before it gives up.
    HANDOVER_WAIT_S: '60',
    // The bot checks the same number PM2 runs (PM2's env wins over .env).
    ...(instances > 1 ? { WEB_CONCURRENCY: String(instances) } : {}),
  },
}]
