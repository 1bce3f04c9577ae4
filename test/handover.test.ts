// The hand-over under a real PM2 daemon (own PM2_HOME), the emulator and real SQLite: `npm run
// reload` with a user writing every 50 ms, kill -9 of the old process while the new one stands by,
// kill -9 of the new one right after it took over. Each time: every message answered, each applied
// once and in order, and PM2 has a version serving again.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { FRIEND } from './support/bot-harness.js'
import { createDeploySandbox } from './support/deploy-sandbox.js'
import { waitUntil } from './support/wait.js'

const s = await createDeploySandbox(process.env.HANDOVER_DEBUG === '1' ? { LOG_LEVEL: 'debug' } : {})
t.teardown(() => s.close())
const servingFile = path.join(path.dirname(s.dbFile), 'serving.json')
const serving = (): { pid: number, version: string } => JSON.parse(fs.readFileSync(servingFile, 'utf8')) as { pid: number, version: string }
const logText = (): string => fs.readFileSync(path.join(s.live, 'storage', 'logs', 'bot.log'), 'utf8')
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
/** The bot processes PM2 started in this sandbox (PM2 titles each "node <its script>"). */
const entry = path.join(s.live, 'bot', 'pm2-entry.mjs')
function entryProcesses (): number[] {
  const pids: number[] = []
  for (const name of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let cmd = ''
    try {
      cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (cmd.includes(entry) && !cmd.includes('--dry-start')) pids.push(Number(name))
  }
  return pids.sort((a, b) => a - b)
}
await s.ask('buy milk')

t.test('handover: npm run reload hands over to a new process with no wait a user notices', async (t) => {
  const before = serving()
  const traffic = s.traffic('during reload', FRIEND, 50)
  await wait(300)
  const run = await s.runScript('reload', [])
  const report = await traffic.finish()
  t.comment(`${run.stdout}${report.sent.length} messages; longest gap ${report.longestGapMs} ms; ${s.handoverTimeline()}`)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, new RegExp(`✓ hand over {2}${before.version.slice(0, 7)} serves \\(pid \\d+, took over from ${before.pid}; pm2 reload\\)`))
  t.match(run.stdout, /✓ reload {2}reloaded without a stop/)
  t.not(serving().pid, before.pid, 'a new process serves')
  t.equal(serving().version, before.version, 'the same version')
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  t.equal(s.handoverOrder(before.pid, serving().pid), 'new stood by → old asked to stop → old ended polling → new took over', 'a hand-over, not a stop and a start')
  const apps = JSON.parse((await s.pm2.pm2('jlist')).replace(/^[^[]*/, '')) as Array<{ name: string }>
  t.same(apps.map((a) => a.name), ['mister_todo'], 'pm2 ls shows one app')
})

t.test('handover: kill -9 of the old process while the new one stands by → the new one takes over, nothing lost or doubled', async (t) => {
  const old = serving()
  const traffic = s.traffic('during kill old', FRIEND, 50)
  const logStart = logText().length
  const reload = s.startScript('reload', [])
  // The moment the new process stands by (loaded, waiting for the lock), the old one dies hard.
  await s.emu.waitFor(() => /standby: loaded, waiting/.test(logText().slice(logStart)), 60_000)
  process.kill(old.pid, 'SIGKILL')
  const run = await reload.done
  const report = await traffic.finish()
  t.comment(`${run.stdout}${run.stderr}${report.sent.length} messages; longest gap ${report.longestGapMs} ms`)
  t.equal(run.code, 0, run.stderr)
  t.not(serving().pid, old.pid)
  t.equal((await s.pm2.app())?.status, 'online')
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  t.equal(s.integrity(), 'ok')
})

t.test('handover: the old process dies while the new one is still loading → the new one takes over, and PM2\'s restart of the parked process never serves', async (t) => {
  const old = serving()
  const traffic = s.traffic('during old dies early', FRIEND, 50)
  const reload = s.startScript('reload', [])
  // PM2 has parked the old process and forked the new one, which has not said ready yet.
  const incoming = await waitUntil(() => entryProcesses().find((pid) => pid !== old.pid), { what: 'PM2 to fork the new process', timeoutMs: 60_000, everyMs: 5 })
  process.kill(old.pid, 'SIGKILL')
  const run = await reload.done
  const report = await traffic.finish()
  t.comment(`${run.stdout}${run.stderr}${report.sent.length} messages; longest gap ${report.longestGapMs} ms; incoming pid ${String(incoming)}`)
  t.equal(run.code, 0, run.stderr)
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  const app = await s.pm2.app()
  t.equal(serving().pid, app?.pid, 'the process PM2 lists serves')
  // PM2 restarts the parked process it lost (seen in PM2 7.0.4); give that copy time to start.
  await wait(4000)
  t.same(entryProcesses(), [app?.pid], 'one bot process: no copy of the parked one stands by')
  const next = await s.runScript('reload', [])
  t.equal(next.code, 0, next.stderr)
  t.equal(serving().pid, (await s.pm2.app())?.pid, 'the next reload hands over to PM2\'s new process')
})

t.test('handover: kill -9 of the new process right after it took over → PM2 brings it back, nothing lost or doubled', async (t) => {
  const traffic = s.traffic('during kill new', FRIEND, 50)
  const run = await s.runScript('reload', [])
  t.equal(run.code, 0, run.stderr)
  const fresh = serving()
  process.kill(fresh.pid, 'SIGKILL')
  await s.emu.waitFor(() => { try { return serving().pid !== fresh.pid } catch { return false } }, 60_000)
  await wait(500)
  const report = await traffic.finish()
  t.comment(`${report.sent.length} messages; longest gap ${report.longestGapMs} ms (a crash: PM2's restart and a cold start)`)
  // What the bot logged, beside a failure (its lines other than the per-update ones).
  if (report.unanswered.length > 0) t.comment(logText().split('\n').filter((l) => !l.includes('"msg":"update handled"')).slice(-30).join('\n'))
  t.equal((await s.pm2.app())?.status, 'online')
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  t.equal(s.integrity(), 'ok')
})

t.test('handover: the old version ends polling quietly when the next poller takes the long poll (409)', async (t) => {
  const old = serving()
  const logStart = logText().length
  const run = await s.runScript('reload', [])
  t.equal(run.code, 0, run.stderr)
  const oldLines = logText().slice(logStart).split('\n').filter((l) => l.includes(`"pid":${old.pid}`))
  t.ok(oldLines.some((l) => l.includes('polling ended for the stop')), 'its polling ended as a stop')
  t.same(oldLines.filter((l) => /"level":(40|50|60)/.test(l)), [], 'no warning or error from the outgoing version')
})
