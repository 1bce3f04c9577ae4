// Access and isolation: strangers get one refusal and leave no trace; buttons cannot reach
// another chat's tasks; forged button data changes nothing.
import t from 'tap'
import { FRIEND, OWNER, STRANGER, startHarness } from './support/bot-harness.js'

const h = await startHarness()
t.teardown(() => h.close())

t.test('access: a stranger gets one short refusal and nothing is stored', async (t) => {
  const reply = await h.say('let me in', STRANGER)
  t.equal(reply.rendered, `Sorry, this is a private to-do bot. (Your Telegram user id is ${STRANGER}; the owner can add it to ALLOWED_USER_IDS.)`)
  const chats = await h.bot.db('chats').select('id')
  const outbox = await h.bot.db('outbox').select('id')
  t.same(chats, [])
  t.same(outbox, [])
  const refusals = h.logs.lines.filter((l) => l.includes('refused: user not on the allow-list'))
  t.equal(refusals.length, 1, 'the refusal is logged once')
  t.match(refusals[0], `"userId":${STRANGER}`, 'with their user id')
  t.notOk(h.logs.lines.some((l) => l.includes('let me in')), 'their text is not logged')
})

t.test('access: a stranger pressing a button gets a refusal answer, nothing changes', async (t) => {
  const list = await h.say('secret plan')
  t.equal(list.rendered, 'Added:\n#1 secret plan')
  const shown = await h.say('/list')
  const done = shown.reply_markup?.inline_keyboard[0]?.[0]?.callback_data ?? ''
  h.emu.pressButton(STRANGER, OWNER, shown.message_id, done)
  await h.emu.waitFor(() => h.emu.callbackAnswers().find((a) => a.text === 'Sorry, this is a private to-do bot.'))
  t.match((await h.say('/list')).rendered, /#1 secret plan/)
})

t.test('isolation: a button with another chat\'s task id changes nothing', async (t) => {
  const shown = await h.say('/list')
  const done = shown.reply_markup?.inline_keyboard[0]?.[0]?.callback_data ?? ''
  const friendsList = await h.say('mine', FRIEND, FRIEND)
  t.equal(friendsList.rendered, 'Added:\n#1 mine')
  h.emu.pressButton(FRIEND, FRIEND, friendsList.message_id, done)
  await h.emu.waitFor(() => h.emu.callbackAnswers().find((a) => a.text === 'That task is not in this list any more.'))
  t.match((await h.say('/list')).rendered, /#1 secret plan/, "the owner's task is still open")
  t.match((await h.say('/list', FRIEND, FRIEND)).rendered, /#1 mine/, "the friend's task is untouched")
})

t.test('buttons: forged or oversized callback data changes nothing and is answered', async (t) => {
  const shown = await h.say('/list')
  for (const data of ['d:1', 'x:abc:0:o', 'DROP TABLE tasks', 'd:1:0:o:extra', '💥'.repeat(16), '']) {
    const before = h.emu.callbackAnswers().length
    h.emu.pressButton(OWNER, OWNER, shown.message_id, data)
    await h.emu.waitFor(() => h.emu.callbackAnswers().length > before)
    t.equal(h.emu.callbackAnswers().at(-1)?.text, 'This button does not work any more. Send /list for a fresh list.', JSON.stringify(data))
  }
  t.match((await h.say('/list')).rendered, /#1 secret plan/)
  t.same(h.emu.unansweredCallbacks(), [])
})

t.test('buttons: done edits the list in place; pressing again is harmless', async (t) => {
  const shown = await h.say('/list')
  const done = shown.reply_markup?.inline_keyboard[0]?.[0]?.callback_data ?? ''
  h.emu.pressButton(OWNER, OWNER, shown.message_id, done)
  await h.emu.waitFor(() => h.emu.messages(OWNER).find((m) => m.message_id === shown.message_id && m.rendered.startsWith('Nothing to do')))
  h.emu.pressButton(OWNER, OWNER, shown.message_id, done)
  await h.emu.waitFor(() => h.emu.callbackAnswers().find((a) => a.text === '#1 was already done'))
  t.same(h.emu.unansweredCallbacks(), [])
  const errors = h.logs.lines.filter((l) => /"level":(40|50)/.test(l) && /not modified/.test(l))
  t.same(errors, [], '"message is not modified" is not an error')
})

t.test('buttons: every button fits in 64 bytes and pages keep messages small', async (t) => {
  const added = h.emu.waitForMessage(OWNER, (m) => m.rendered.includes('item 24'))
  h.emu.sendText(OWNER, OWNER, Array.from({ length: 25 }, (_, i) => `item ${i} ${'y'.repeat(900)}`).join('\n'))
  await added
  const shown = await h.say('/list')
  t.match(shown.rendered, /^Your tasks \(25 open\) · page 1\/3/)
  t.ok(shown.rendered.length <= 4096)
  const next = shown.reply_markup?.inline_keyboard.at(-1)?.find((b) => b.text === 'Next ›')
  h.emu.pressButton(OWNER, OWNER, shown.message_id, next?.callback_data ?? '')
  await h.emu.waitFor(() => h.emu.messages(OWNER).find((m) => m.message_id === shown.message_id && /page 2\/3/.test(m.rendered)))
  const data = (shown.reply_markup?.inline_keyboard.flat() ?? []).map((b) => b.callback_data ?? '')
  t.equal(data.length, 21, 'a ✓ and a 🗑 for each of the 10 tasks on the page, and Next ›')
  t.same(data.filter((d) => Buffer.byteLength(d) > 64), [], 'no button over 64 bytes')
})
