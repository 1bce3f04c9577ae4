// ops/lib/progress.mjs as the operator sees it: the live line on a (pseudo-)terminal, replaced by
// the step's ✓ line; the plain lines at the promised interval without one; NO_COLOR, a narrow
// terminal, other output during a step, and nested steps.
import { stripVTControlCharacters } from 'node:util'
import t from 'tap'
import { formatElapsed, startProgress, withProgress } from '../ops/lib/progress.mjs'
import { frames, runStep } from './support/step-run.js'

const ELAPSED = '· 0:0\\d'

t.test('progress: on a terminal one line is redrawn in place and the ✓ line takes its place', async (t) => {
  const run = await runStep(['sleep', '2000'], { tty: { columns: 80 } })
  t.equal(run.code, 0, run.stdout)
  const seen = frames(run.stdout)
  const last = seen.pop() ?? ''
  t.match(last, /^✓ sleep {2}done \(\d\.\d s\)\n$/, 'the ✓ line is drawn where the live line was, and stays')
  t.ok(seen.length >= 4, `the line was redrawn (${seen.length} frames)`)
  for (const frame of seen) {
    t.notMatch(frame, /\n/, 'a live frame never ends its line')
    t.match(stripVTControlCharacters(frame), new RegExp(`^ {2}step {2}[1-4]/4 files ${ELAPSED}$`))
  }
  const texts = seen.map((f) => stripVTControlCharacters(f).replace(/ · 0:0\d$/, ''))
  const shown = [...new Set(texts)]
  t.same(shown, [...shown].sort(), 'the updates show in order')
  t.ok(shown.length >= 3 && shown.at(-1) === '  step  4/4 files', `the updates show as they come (${shown.join(', ')})`)
  t.ok(seen.at(-1)?.endsWith('\u001b[39m') === true && seen.at(-1)?.includes('\u001b[90m· 0:0') === true, 'the elapsed time is grey')
})

t.test('progress: NO_COLOR draws the live line without colour codes', async (t) => {
  const run = await runStep(['sleep', '1200'], { tty: { columns: 80 }, env: { NO_COLOR: '1' } })
  t.equal(run.code, 0, run.stdout)
  const seen = frames(run.stdout)
  t.match(seen.pop() ?? '', /^✓ sleep {2}done \(\d\.\d s\)\n$/)
  t.ok(seen.length >= 2)
  for (const frame of seen) t.match(frame, new RegExp(`^ {2}step {2}[1-4]/4 files ${ELAPSED}$`), 'no escape codes in the line')
})

t.test('progress: a narrow terminal gets the line cut to its width', async (t) => {
  const run = await runStep(['sleep', '1200'], { tty: { columns: 20 } })
  t.equal(run.code, 0, run.stdout)
  const seen = frames(run.stdout).map((f) => stripVTControlCharacters(f))
  t.match(seen.pop() ?? '', /^✓ sleep {2}done \(\d\.\d s\)\n$/, 'the ✓ line itself is not cut')
  t.ok(seen.length >= 2)
  for (const frame of seen) t.ok(frame.length <= 19, `"${frame}" fits in 19 columns`)
  t.equal(seen.at(-1), '  step  4/4 files …', 'the line is cut, with an ellipsis')
  const wider = frames((await runStep(['sleep', '1200'], { tty: { columns: 23 } })).stdout).map((f) => stripVTControlCharacters(f))
  t.match(wider.at(-2), /^ {2}step {2}4\/4 fi… · 0:0\d$/, 'with room for it, the elapsed time stays and the text is cut')
})

t.test('progress: a line printed during the step erases the live line, stays whole, and the live line comes back under it', async (t) => {
  const run = await runStep(['sleep', '3600', '--say'], { tty: { columns: 80 } })
  t.equal(run.code, 0, run.stdout)
  const seen = frames(run.stdout)
  const said = seen.findIndex((f) => f.includes('not ok'))
  t.ok(said > 0, 'the live line was shown before the line was printed')
  t.match(stripVTControlCharacters(seen[said] ?? ''), new RegExp(`^ {4}not ok: test/c\\.test\\.ts > area: fails\n {2}step {2}3/4 files ${ELAPSED}$`), 'the line is printed whole from the first column, and the live line comes back under it before the next update')
  t.match(seen.at(-1), /^✓ sleep {2}done/)
  const i = run.chunks.findIndex((c) => c.text.includes('not ok'))
  const printed = run.chunks[i]
  const back = run.chunks.slice(i).find((c, k) => (k === 0 ? c.text.slice(c.text.indexOf('not ok')) : c.text).includes('  step  '))
  t.ok(printed !== undefined && back !== undefined && back.at - printed.at < 400, `the live line is back ${Math.round((back?.at ?? 0) - (printed?.at ?? 0))} ms after the printed line (not at the next clock tick)`)
})

t.test('progress: without a terminal a plain line comes every interval while the step runs, and nothing else changes', async (t) => {
  const run = await runStep(['sleep', '2000'], { env: { MISTER_TODO_PROGRESS_INTERVAL_S: '0.5' } })
  t.equal(run.code, 0, run.stderr)
  const lines = run.stdout.split('\n')
  t.equal(lines.pop(), '', 'every line is complete: the output ends with a newline')
  const done = lines.pop() ?? ''
  t.match(done, /^✓ sleep {2}done \(2\.\d s\)$/)
  t.ok(lines.length >= 3 && lines.length <= 4, `one line per half second of a 2 s step (${lines.length})`)
  for (const line of lines) t.match(line, new RegExp(`^ {2}step {2}[1-4]/4 files · 0:0[0-2]$`), 'plain text, no escape codes')
  const at = run.chunks.filter((c) => c.text.startsWith('  step')).map((c) => c.at)
  for (let i = 1; i < at.length; i++) {
    const gap = (at[i] ?? 0) - (at[i - 1] ?? 0)
    t.ok(gap >= 450 && gap <= 1200, `lines ${Math.round(gap)} ms apart (interval 500 ms)`)
  }
  t.equal(run.stderr, '')

  const quiet = await runStep(['sleep', '600'])
  t.match(quiet.stdout, /^✓ sleep {2}done \(0\.\d s\)\n$/, 'a step shorter than the default 15 s prints only its ✓ line')
})

t.test('progress: amounts, countdowns and a nested step, drawn on an injected terminal stream', async (t) => {
  let out = ''
  const stream = Object.assign(Object.create(process.stdout) as NodeJS.WriteStream, { isTTY: true, columns: 100, write: (s: string) => { out += s; return true } })
  const options = { stream, live: true, color: false, showAfterMs: 0 }
  const outer = startProgress('rehearse', options)
  outer.update('copying todo.sqlite', { done: 3_000_000, total: 9_000_000, unit: 'bytes' })
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(frames(out).at(-1), '  rehearse  copying todo.sqlite · 3.0 MB of 9.0 MB (33 %) · 0:00')
  await withProgress('backup', async (inner) => {
    inner.update('pages', { done: 1, total: 4, unit: 'pages' })
    await new Promise((resolve) => setTimeout(resolve, 150))
    t.equal(frames(out).at(-1), '  backup  pages · 1/4 pages (25 %) · 0:00', 'the inner step has the line')
  }, options)
  t.equal(frames(out).at(-1), '  rehearse  copying todo.sqlite · 3.0 MB of 9.0 MB (33 %) · 0:00', 'then the outer one has it back')
  outer.update('watching bot.log', { deadline: performance.now() + 9_500 })
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(frames(out).at(-1), '  rehearse  watching bot.log · 10 s left · 0:00')
  outer.stop()
  t.equal(frames(out).at(-1), '', 'stop leaves the line empty for the ✓ line')
  outer.stop()
  t.equal(formatElapsed(134_000), '2:14')
  t.equal(formatElapsed(3_723_000), '1:02:03')
})

t.test('progress: without a terminal a nested step keeps the cadence of the plain lines (no longer silence when it starts)', async (t) => {
  const lines: Array<{ at: number, text: string }> = []
  const started = performance.now()
  const stream = Object.assign(Object.create(process.stdout) as NodeJS.WriteStream, { isTTY: false, write: (s: string) => { lines.push({ at: performance.now() - started, text: s }); return true } })
  const options = { stream, intervalMs: 300 }
  // Waits on what was printed, not on fixed sleeps: on a busy machine a timer may fire late.
  const printed = async (what: (text: string) => boolean, after = 0): Promise<number> => {
    for (;;) {
      const i = lines.findIndex((l, n) => n >= after && what(l.text))
      if (i >= 0) return i
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  let innerStartedAt = 0
  let firstInner = 0
  await withProgress('deps', async (outer) => {
    outer.update('staging')
    await printed((x) => x.includes('deps  staging'))
    // The inner step starts 200 ms into the outer's 300 ms: its first line is due at the outer's
    // next one (~100 ms), not 300 ms after it started.
    await new Promise((resolve) => setTimeout(resolve, 200))
    innerStartedAt = performance.now() - started
    await withProgress('install', async (inner) => {
      inner.update('fetching packages', { done: 2, total: 3 })
      firstInner = await printed((x) => x.includes('install'))
    }, options)
    await printed((x) => x.includes('deps  staging'), firstInner + 1)
  }, options)
  const texts = lines.map((l) => l.text.replace(/ · \d+:\d\d\n$/, ''))
  t.same(texts.filter((x, i) => x !== texts[i - 1]), ['  deps  staging', '  install  fetching packages · 2/3 (66 %)', '  deps  staging'], 'the inner step prints while it runs, the outer one before and after, nothing more')
  const innerWaited = (lines[firstInner]?.at ?? 0) - innerStartedAt
  t.ok(innerWaited < 250, `the inner step's first line keeps the outer's cadence (${Math.round(innerWaited)} ms after it started, not 300)`)
  const gaps = lines.slice(1).map((l, i) => l.at - (lines[i]?.at ?? 0))
  t.ok(gaps.every((g) => g >= 295), `never closer than the interval (${gaps.map(Math.round).join(', ')} ms)`)
})
