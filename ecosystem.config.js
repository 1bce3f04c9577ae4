// The PM2 app `mister_todo`: one forked instance (two long-pollers on one token get 409), started
// like `npm run bot`, logging to storage/logs/bot.log, stopped with SIGINT and time to finish.
// This project is "type": "module", so this file is ESM: PM2 require()s it, which Node ≥ 20.19
// answers with the module's exports, so `apps` must be a named export (a default export is not
// seen by PM2). See docs/decisions.md.
import path from 'node:path'

const root = import.meta.dirname
const log = path.join(root, 'storage', 'logs', 'bot.log')

export const apps = [{
  name: 'mister_todo',
  script: path.join(root, 'bot', 'pm2-entry.mjs'),
  cwd: root,
  interpreter: 'node',
  node_args: ['--env-file-if-exists=.env', '--import', 'tsx'],
  exec_mode: 'fork',
  instances: 1,
  // Graceful stop: SIGINT, then up to kill_timeout for the update in hand (a handler takes
  // milliseconds; a slow Bot API call times out after 15 s).
  kill_timeout: 20_000,
  // Ready = database open and current, token works, first getUpdates answered.
  wait_ready: true,
  listen_timeout: 30_000,
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
  },
}]
