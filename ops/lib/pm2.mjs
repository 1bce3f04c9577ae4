// @ts-check
// Is the bot running? Asked of PM2 (app mister_todo, honouring PM2_HOME) without ever starting a
// PM2 daemon: no daemon, or no pm2 installed, means not running.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { $ } from './shell.mjs'
import { isAlive } from './backups.mjs'
import { CODE_ROOT } from './paths.mjs'

export const APP_NAME = 'mister_todo'
export const RUNNING_STATES = ['online', 'launching', 'stopping']

/** @typedef {{ running: boolean, status: string | null, detail: string, pid?: number | null, restarts?: number }} AppStatus */

/**
 * @param {{ env?: NodeJS.ProcessEnv, name?: string }} [options]
 * @returns {Promise<AppStatus>}
 */
export async function appStatus (options = {}) {
  const env = options.env ?? process.env
  const name = options.name ?? APP_NAME
  const home = env.PM2_HOME?.trim() || path.join(os.homedir(), '.pm2')
  const pid = Number(readText(path.join(home, 'pm2.pid')).trim() || NaN)
  if (Number.isNaN(pid) || !isAlive(pid)) return { running: false, status: null, detail: 'no pm2 daemon' }
  const bin = path.join(CODE_ROOT, 'node_modules', '.bin', 'pm2')
  if (!fs.existsSync(bin)) return { running: false, status: null, detail: 'pm2 is not installed' }
  const out = await $({ quiet: true, nothrow: true, env: { ...env, PM2_HOME: home, PM2_DISCRETE_MODE: 'true' } })`${bin} jlist`
  /** @type {Array<{ name?: string, pid?: number, pm_id?: number | string, pm2_env?: { status?: string, restart_time?: number } }>} */
  let apps = []
  try {
    apps = JSON.parse(out.stdout.slice(out.stdout.indexOf('[')))
  } catch {
    return { running: false, status: null, detail: 'pm2 jlist gave no list' }
  }
  // During a cluster-mode reload PM2 lists only the incoming process (the outgoing one is parked
  // under "_old_<id>", which jlist leaves out): ops/lib/handover.mjs tells a reload from serving.json.
  const mine = apps.filter((a) => a.name === name)
  const app = mine.find((a) => RUNNING_STATES.includes(a.pm2_env?.status ?? 'unknown')) ?? mine[0]
  const status = app === undefined ? null : app.pm2_env?.status ?? 'unknown'
  return {
    running: status !== null && RUNNING_STATES.includes(status),
    status,
    detail: status === null ? `${name} is not in pm2` : `${name} is "${status}" in pm2`,
    pid: app?.pid ?? null,
    restarts: app?.pm2_env?.restart_time ?? 0,
  }
}

/** @param {string} file */
function readText (file) {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
