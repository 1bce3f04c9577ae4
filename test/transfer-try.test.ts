// `npm run try` with files: /export saves the file the bot sends and prints its path; `!file path`
// sends a file back, with /import as its caption.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { PROJECT_ROOT } from '../bot/config.js'
import { tempDir } from './support/bot-harness.js'

t.test('try: /export prints where the file is saved, and !file imports it again', async (t) => {
  const tmp = tempDir()
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
  const missing = path.join(tmp, 'missing.txt')
  const run = (input: string): string => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'dev/try.ts'], { cwd: PROJECT_ROOT, input, encoding: 'utf8', env: { PATH: process.env.PATH, TMPDIR: tmp }, timeout: 30_000 })
    t.equal(r.status, 0, r.stderr)
    return r.stdout
  }
  const first = run('buy milk\ncall mom friday 9am\n/done 1\n/export\n/quit\n')
  const saved = /📎 bot sent (mister-todo-\d{4}-\d\d-\d\d\.json) \(\d+ bytes\), saved as (\S+)\n/.exec(first)
  t.ok(saved !== null, 'the saved path is printed')
  const file = saved?.[2] ?? ''
  t.equal(path.dirname(file), path.join(tmp, 'mister-todo-try-exports'))
  t.match(fs.readFileSync(file, 'utf8'), /"text":"call mom"/)
  t.match(first, /🤖 bot: 📦 2 tasks \(1 open, 1 done\) as JSON\./)

  const second = run(`!file ${missing}\n!file ${file}\n/export\n/quit\n`)
  t.match(second, `   (no file at ${missing})`)
  t.match(second, /📎 you sent mister-todo-\d{4}-\d\d-\d\d\.json\n.*🤖 bot: 📥 Imported 2 tasks from JSON \(1 open, 1 done\):\n {3}✅ #1 buy milk \(was #1\)\n {3}#2 call mom — due \w{3} \d+ \w{3} 09:00 \(was #2\)/)
  t.match(second, /saved as \S+mister-todo-\d{4}-\d\d-\d\d-2\.json\n/, 'a second export does not replace the first')
})
