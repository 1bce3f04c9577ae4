// ops/migrate.mjs rehearse with its progress: in a log (no terminal) the plain lines name what the
// rehearsal is doing — the migration running — and everything else it prints is unchanged; on a
// terminal NO_COLOR takes the colour out of the ✓ lines.
import path from 'node:path'
import t from 'tap'
import { CODE_ROOT, createSandbox } from './support/ops-sandbox.js'
import { runOnTerminal } from './support/step-run.js'

const SLOW = '20261201000000_slow_index.ts'

t.test('migrate: rehearse in a log says which migration runs while it runs, and prints nothing else new', async (t) => {
  const box = await createSandbox(t, { tasks: 300, pending: ['migrations-slow'] })
  const run = await box.run('migrate', ['rehearse', '--fresh'], { MISTER_TODO_PROGRESS_INTERVAL_S: '0.3' })
  t.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trimEnd().split('\n')
  const progress = lines.filter((l) => l.startsWith('  rehearse  '))
  t.ok(progress.length >= 3, `a line every 0.3 s of the 1.2 s migration (${progress.length})`)
  for (const line of progress) t.match(line, /^ {2}rehearse {2}(running 20261201000000_slow_index\.ts · 0\/1 migrations done \(0 %\)|copying todo_\S+\.sqlite · [\d.]+ kB of [\d.]+ kB \(\d+ %\)|counting the rows of the copy of \S+|checking the migrated copy \(integrity, foreign keys, rows\)|taking a fresh backup to rehearse on.*) · 0:0\d$/)
  t.ok(progress.some((l) => l.includes(`running ${SLOW} · 0/1 migrations done (0 %)`)), 'the running migration is named')
  const name = /storage\/backups\/(todo_\S+\.sqlite)/.exec(run.stdout)?.[1] ?? ''
  t.match(lines.filter((l) => !l.startsWith('  rehearse  ')).join('\n'), new RegExp([
    '^✓ backup  storage/backups/todo_\\S+\\.sqlite \\([\\d.]+ kB, 300 tasks, integrity ok\\)',
    `  rehearsing 1 migration\\(s\\) on a copy of ${name}: ${SLOW}`,
    // every table, rows before and after (the migration changes none)
    '  table +before  after',
    '(?:  (?!tasks)\\w+ +(\\d+) +\\1\\n)+  tasks +300 +300(?:\\n  \\w+ +(\\d+) +\\2)*',
    `✓ rehearse  1 migration\\(s\\) ran on a copy of ${name}, rows as expected$`,
  ].join('\n')), 'the rest is what rehearse always printed')
  t.equal(run.stderr, '')
})

t.test('migrate: on a terminal the ✓ line is green, and NO_COLOR takes the colour out', async (t) => {
  const box = await createSandbox(t)
  const zx = path.join(CODE_ROOT, 'node_modules', 'zx', 'build', 'cli.js')
  const env: NodeJS.ProcessEnv = { ...box.env, TERM: 'xterm-256color' }
  delete env.FORCE_COLOR
  delete env.NO_COLOR
  delete env.CI // a terminal in CI is still a terminal; colour support reads CI as "no colour"
  const status = async (extra: Record<string, string>): Promise<string> => (await runOnTerminal([process.execPath, zx, path.join(CODE_ROOT, 'ops', 'migrate.mjs'), 'status'], { ...env, ...extra }, box.root)).replaceAll('\r\n', '\n').trimEnd().split('\n').at(-1) ?? ''
  const line = / migrate {2}storage\/db\/todo\.sqlite: \d+ applied, 0 pending, 0 unknown to this code$/
  const coloured = await status({})
  t.match(coloured, line)
  t.ok(coloured.startsWith('\u001b[32m✓\u001b[39m migrate  '), 'a green ✓')
  t.match(await status({ NO_COLOR: '1' }), new RegExp(`^✓${line.source}`), 'a plain ✓')
})
