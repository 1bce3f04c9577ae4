// Webhook mode under a real PM2 daemon (cluster mode, as the ecosystem file runs the bot): a
// `npm run reload` while a user writes every 50 ms is answered like polling's hand-over, and no
// delivery of Telegram's meets a closed port or an error — the standby already listens on the
// port PM2 shares and holds the requests it gets until it has taken over.
import t from 'tap'
import { FRIEND, freePort } from './support/bot-harness.js'
import { createDeploySandbox } from './support/deploy-sandbox.js'

const port = await freePort()
const s = await createDeploySandbox({
  TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}/telegram`,
  TELEGRAM_WEBHOOK_SECRET: 'handover-secret-0123456789abcdefghijklmnop',
  WEBHOOK_LISTEN: `127.0.0.1:${port}`,
})
t.teardown(() => s.close())
await s.ask('buy milk')

t.test('webhook: npm run reload under traffic → every message answered once, in order, and no delivery refused or failed', async (t) => {
  const before = await s.healthz()
  t.match(before, { mode: 'webhook' })
  const attemptsBefore = s.emu.webhookAttempts().length
  const traffic = s.traffic('during webhook reload', FRIEND, 50)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const run = await s.runScript('reload', [])
  const report = await traffic.finish()
  t.comment(`${run.stdout}${report.sent.length} messages; longest gap ${report.longestGapMs} ms; ${s.handoverTimeline()}`)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /✓ reload {2}reloaded without a stop/)
  t.same(report.unanswered, [], 'every message answered')
  t.same(report.stored, report.sent, 'each applied once, in order')
  const attempts = s.emu.webhookAttempts().slice(attemptsBefore)
  t.ok(attempts.length >= report.sent.length, `${attempts.length} deliveries`)
  t.same(attempts.filter((a) => a.status !== 200), [], 'no delivery refused, failed or answered with an error')
  const after = await s.healthz()
  t.not(after.pid, before.pid, 'a new process serves')
})
