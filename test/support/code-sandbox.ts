// A copy of this project's code in a temp folder, as its own git repository, with node_modules
// linked: a "server checkout" that PM2, deploy and rollback tests can run and change freely.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT } from '../../bot/config.js'
import { tempDir } from './bot-harness.js'

const CODE = ['bot', 'ops', 'dev', 'scripts', 'storage/migrations', 'ecosystem.config.js', 'knexfile.ts', 'package.json', 'package-lock.json', 'tsconfig.json', '.gitignore', '.env.example']

export function git (cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GIT_AUTHOR_NAME: 'test', GIT_AUTHOR_EMAIL: 'test@example.com', GIT_COMMITTER_NAME: 'test', GIT_COMMITTER_EMAIL: 'test@example.com' } }).trim()
}

export function createCodeSandbox (): string {
  const dir = tempDir('mister-todo-code-')
  for (const item of CODE) {
    fs.cpSync(path.join(PROJECT_ROOT, item), path.join(dir, item), { recursive: true })
  }
  fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  git(dir, 'init', '-q', '-b', 'main')
  git(dir, 'add', '-A')
  git(dir, 'commit', '-qm', 'sandbox')
  return dir
}
