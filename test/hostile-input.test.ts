// Hostile chat input: 200 cases from test/fixtures/hostile-corpus.ts against the real bot. Each
// gets its expected reply or deliberate silence; no chat sees or changes another chat's tasks;
// the bot keeps serving and the database passes integrity_check.
import t from 'tap'
import { HOSTILE_CASES } from './fixtures/hostile-corpus.js'
import { FRIEND, OWNER, startHarness } from './support/bot-harness.js'

const h = await startHarness()
t.teardown(() => h.close())

const VICTIM = FRIEND
const ATTACKER = OWNER

t.test('hostile input: every case gets its expected answer or silence, and nothing leaks', async (t) => {
  t.ok(HOSTILE_CASES.length >= 200, `${HOSTILE_CASES.length} cases`)
  await h.say('victim task one\nvictim task two', VICTIM, VICTIM)
  const victimBefore = await h.bot.db('tasks').where({ chat_id: VICTIM }).select('id', 'number', 'text', 'done_at', 'deleted_at')
  const list = await h.say('/list', ATTACKER, ATTACKER)

  for (const c of HOSTILE_CASES) {
    const sentBefore = h.emu.messages(ATTACKER).length
    const answersBefore = h.emu.callbackAnswers().length
    const update = c.button !== undefined
      ? h.emu.pressButton(ATTACKER, ATTACKER, list.message_id, c.button)
      : c.update !== undefined ? h.emu.pushUpdate(c.update(ATTACKER, ATTACKER)) : h.emu.sendText(ATTACKER, ATTACKER, c.text ?? '')
    // Handled and its replies delivered once the bot has confirmed the update with its next poll.
    await h.emu.waitFor(() => h.emu.confirmedOffset > update.update_id, 10_000)
    const newMessages = h.emu.messages(ATTACKER).slice(sentBefore)
    if (c.silence === true) {
      t.same(newMessages.map((m) => m.rendered), [], `${c.name}: silence`)
      continue
    }
    const said = c.button !== undefined ? h.emu.callbackAnswers()[answersBefore]?.text ?? '' : newMessages[0]?.rendered ?? ''
    t.match(said, c.reply ?? /^$/, c.name)
  }

  t.same(h.emu.unansweredCallbacks(), [], 'every button press was answered')
  const victimAfter = await h.bot.db('tasks').where({ chat_id: VICTIM }).select('id', 'number', 'text', 'done_at', 'deleted_at')
  t.same(victimAfter, victimBefore, "the other chat's tasks are untouched")
  t.same(await h.bot.db.raw('PRAGMA integrity_check'), [{ integrity_check: 'ok' }])
  t.match((await h.say('/help')).rendered, /Mister Todo/, 'still serving')
  t.equal(h.bot.metrics.errors, 0, 'no handler crashed')
  const stored = await h.bot.db('tasks').where({ chat_id: ATTACKER }).pluck('text') as string[]
  t.ok(stored.every((text) => !/[\u0000-\u0008\u000B-\u001F\u007F]/.test(text)), 'no control characters stored') // eslint-disable-line no-control-regex
  t.ok(stored.includes("'; DROP TABLE tasks; --"), 'SQL-looking text is stored as text')
})
