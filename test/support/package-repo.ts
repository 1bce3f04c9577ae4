// A small git repository in a temp folder whose commits change package.json and the lockfile:
// what ops/lib/deps.mjs reads a commit's dependencies from (deps-lib and deps-stage tests).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'

/** A git repository in a temp folder; `commit` writes the files given (null deletes) and returns the new commit. */
export function repo (t: Test): { dir: string, commit: (files: Record<string, string | null>) => string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mister-todo-deps-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim()
  git('init', '-q', '-b', 'main')
  return {
    dir,
    commit: (files) => {
      for (const [name, text] of Object.entries(files)) {
        if (text === null) fs.rmSync(path.join(dir, name), { force: true })
        else fs.writeFileSync(path.join(dir, name), text)
      }
      git('add', '-A')
      git('commit', '-q', '--allow-empty', '-m', 'c')
      return git('rev-parse', 'HEAD')
    },
  }
}

/** A package.json text with `fields` beside a fixed name and version. */
export const pkg = (fields: Record<string, unknown>): string => JSON.stringify({ name: 'x', version: '1.0.0', private: true, ...fields }, null, 2)
