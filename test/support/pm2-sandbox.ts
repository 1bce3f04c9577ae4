// A real PM2 daemon with its own PM2_HOME in a temp folder, driving a code sandbox.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { PROJECT_ROOT } from '../../bot/config.js'
import { tempDir } from './bot-harness.js'

const run = promisify(execFile)
const PM2 = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'pm2')

export type Pm2App = { status: string, pid: number, restarts: number, exitCode: number | undefined }

export class Pm2Sandbox {
  readonly home = tempDir('mister-todo-pm2-')
  constructor (readonly cwd: string, readonly env: Record<string, string>) {}

  get fullEnv (): Record<string, string> {
    return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.env, PM2_HOME: this.home, PM2_DISCRETE_MODE: 'true' }
  }

  async pm2 (...args: string[]): Promise<string> {
    const { stdout } = await run(PM2, args, { cwd: this.cwd, env: this.fullEnv, timeout: 60_000 })
    return stdout
  }

  async app (): Promise<Pm2App | undefined> {
    const out = await this.pm2('jlist')
    const apps = JSON.parse(out.slice(out.indexOf('['))) as Array<{ name: string, pid: number, pm2_env: { status: string, restart_time: number, exit_code?: number } }>
    const a = apps.find((x) => x.name === 'mister_todo')
    return a === undefined ? undefined : { status: a.pm2_env.status, pid: a.pid, restarts: a.pm2_env.restart_time, exitCode: a.pm2_env.exit_code }
  }

  async kill (): Promise<void> {
    await this.pm2('kill').catch(() => '')
    fs.rmSync(this.home, { recursive: true, force: true })
  }
}
