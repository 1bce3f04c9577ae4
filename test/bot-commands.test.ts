// The chat as a user sees it: adding, listing, completing, editing, deleting tasks, and the
// answers to bad input. Real bot, real SQLite, emulator over HTTP.
import t from 'tap'
import { FRIEND, OWNER, startHarness } from './support/bot-harness.js'

const h = await startHarness()
t.teardown(() => h.close())

t.test('add: a plain message adds one task per non-empty line, numbered', async (t) => {
  const reply = await h.say('buy milk\n\n  call mom  \nfix bike')
  t.equal(reply.rendered, 'Added 3 tasks:\n#1 buy milk\n#2 call mom\n#3 fix bike')
  t.equal(reply.parse_mode, 'HTML')
  const one = await h.say('/add water plants')
  t.equal(one.rendered, 'Added:\n#4 water plants')
})

t.test('add: /add with no text explains how', async (t) => {
  const reply = await h.say('/add')
  t.match(reply.rendered, /What should I add\?/)
})

t.test('list: shows open tasks with done and delete buttons', async (t) => {
  const reply = await h.say('/list')
  t.equal(reply.rendered, 'Your tasks (4 open)\n\n#1 buy milk\n#2 call mom\n#3 fix bike\n#4 water plants')
  const rows = reply.reply_markup?.inline_keyboard ?? []
  t.equal(rows.length, 4)
  t.same(rows[0]?.map((b) => b.text), ['✓ 1', '🗑 1'])
})

t.test('done: single, several and ranges; twice never hits another task', async (t) => {
  t.equal((await h.say('/done 2')).rendered, '✅ Done: #2 call mom')
  t.equal((await h.say('/done 2')).rendered, '#2 was already done.')
  const many = await h.say('/done 1 3-4 9')
  t.equal(many.rendered, '✅ Done: #1 buy milk\n✅ Done: #3 fix bike\n✅ Done: #4 water plants\nThere is no task #9.')
  t.equal((await h.say('/list')).rendered, 'Nothing to do 🎉 Send me a message to add a task.')
})

t.test('undo: reopens a completed task with the same number', async (t) => {
  t.equal((await h.say('/undo 3')).rendered, '↩ Reopened: #3 fix bike')
  t.equal((await h.say('/undo 3')).rendered, '#3 is not done, nothing to undo.')
  t.match((await h.say('/list')).rendered, /#3 fix bike/)
})

t.test('all: also shows recently completed tasks, struck through', async (t) => {
  const reply = await h.say('/all')
  t.equal(reply.rendered, 'All tasks (1 open, 3 done recently)\n\n#3 fix bike\n✅ #1 buy milk\n✅ #2 call mom\n✅ #4 water plants')
})

t.test('edit: changes the text, keeps the number', async (t) => {
  t.equal((await h.say('/edit 3 fix bike <brakes> & lights')).rendered, '✏️ #3 now says: fix bike <brakes> & lights')
  t.equal((await h.say('/edit 3')).rendered, 'What should task #3 say? Example: /edit 3 buy oat milk')
  t.equal((await h.say('/edit 77 x')).rendered, 'There is no task #77.')
})

t.test('del: deletes with an Undo button that restores the same number', async (t) => {
  const reply = await h.say('/del 3')
  t.equal(reply.rendered, '🗑 Deleted: #3 fix bike <brakes> & lights')
  const undo = reply.reply_markup?.inline_keyboard[0]?.[0]
  t.equal(undo?.text, '↩ Undo')
  t.equal((await h.say('/list')).rendered, 'Nothing to do 🎉 Send me a message to add a task.')
  h.emu.pressButton(OWNER, OWNER, reply.message_id, undo?.callback_data ?? '')
  await h.emu.waitFor(() => h.emu.messages(OWNER).find((m) => m.message_id === reply.message_id && m.rendered.startsWith('↩ Restored')))
  t.match((await h.say('/list')).rendered, /#3 fix bike <brakes> & lights/)
  t.same(h.emu.unansweredCallbacks(), [])
})

t.test('numbers: a deleted number is never reused', async (t) => {
  await h.say('/del 3')
  t.equal((await h.say('new thing')).rendered, 'Added:\n#5 new thing')
  t.equal((await h.say('/done 3')).rendered, 'There is no task #3.')
})

t.test('clear: asks first, then removes completed tasks', async (t) => {
  const ask = await h.say('/clear')
  t.equal(ask.rendered, 'Remove 3 completed tasks?')
  const yes = ask.reply_markup?.inline_keyboard[0]?.[0]
  h.emu.pressButton(OWNER, OWNER, ask.message_id, yes?.callback_data ?? '')
  await h.emu.waitFor(() => h.emu.messages(OWNER).find((m) => m.message_id === ask.message_id && m.edited))
  t.equal(h.emu.messages(OWNER).find((m) => m.message_id === ask.message_id)?.rendered, '🧹 Removed 3 completed tasks.')
  t.equal((await h.say('/clear')).rendered, 'There are no completed tasks to remove.')
  t.match((await h.say('/all')).rendered, /^All tasks \(1 open, 0 done recently\)/)
})

t.test('bad input: a clear short answer and no change', async (t) => {
  const before = (await h.say('/all')).rendered
  const cases: Array<[string, string | RegExp]> = [
    ['/done', /^Which task\? Example: \/done 3/],
    ['/done abc', '“abc” is not a task number. Give task numbers like 3, 3 5 8 or 3-6.'],
    ['/done 0', 'Task numbers start at 1.'],
    ['/done 99999999999999999999', /^There is no task #99999999999999999999\./],
    ['/done 5-3', 'The range 5-3 goes backwards: write 3-5.'],
    ['/done 1-100000', 'That range is too long: at most 100 tasks at once.'],
    ['/done 42', 'There is no task #42.'],
    ['/frobnicate', "I don't know /frobnicate. Send /help to see what I can do."],
    ['/clear now', '/clear takes no arguments: it offers to remove all completed tasks.'],
  ]
  for (const [input, expected] of cases) {
    const reply = await h.say(input)
    if (typeof expected === 'string') t.equal(reply.rendered, expected, input)
    else t.match(reply.rendered, expected, input)
  }
  t.equal((await h.say('/all')).rendered, before)
})

t.test('non-text: a sticker or photo gets a hint', async (t) => {
  const waiting = h.emu.waitForMessage(OWNER)
  h.emu.pushUpdate({ message: { message_id: 9001, date: Math.floor(Date.now() / 1000), chat: { id: OWNER, type: 'private' }, from: { id: OWNER, is_bot: false, first_name: 'O' }, sticker: { file_id: 'x', file_unique_id: 'y', type: 'regular', width: 1, height: 1, is_animated: false, is_video: false } } })
  t.equal((await waiting).rendered, 'I keep text tasks only: send the task as a text message, one task per line.')
})

t.test('html: nothing a user types breaks the formatting', async (t) => {
  const reply = await h.say('<b>bold</b> </code> &amp; <a href="x">')
  t.equal(reply.rendered, 'Added:\n#6 <b>bold</b> </code> &amp; <a href="x">')
})

t.test('long: 4096 characters of emoji is answered, within the message limit', async (t) => {
  const reply = await h.say('😀'.repeat(2048))
  t.match(reply.rendered, /^Line 1 is too long/)
  const many = Array.from({ length: 300 }, (_, i) => `task number ${i} ${'x'.repeat(40)}`).join('\n')
  const waiting = h.emu.waitFor(() => h.emu.messages(OWNER).filter((m) => /task number 299/.test(m.rendered))[0])
  h.emu.sendText(OWNER, OWNER, many)
  await waiting
  const parts = h.emu.messages(OWNER).filter((m) => /task number \d+ x/.test(m.rendered))
  t.ok(parts.length >= 4, 'split into several messages')
  for (const p of parts) t.ok(p.rendered.length <= 4096)
})

t.test('chats: each chat has its own list and numbers', async (t) => {
  const group = { id: -5001, type: 'group' as const, title: 'Family' }
  const waiting = h.emu.waitForMessage(group.id)
  h.emu.sendText(FRIEND, group, 'group task')
  t.equal((await waiting).rendered, 'Added:\n#1 group task')
  t.equal((await h.say('/done 1', FRIEND, FRIEND)).rendered, 'There is no task #1.')
})

t.test('help: /start and /help explain the commands; the menu is set', async (t) => {
  t.match((await h.say('/start')).rendered, /Send any message to add it as a task/)
  t.match((await h.say('/help')).rendered, /\/done 3 – complete #3/)
  t.match((await h.say('/help')).rendered, /\/due 3 friday 9am/)
  const call = h.emu.calls('setMyCommands')[0]
  const names = (call?.params.commands as Array<{ command: string }>).map((c) => c.command)
  t.same(names, ['help', 'add', 'list', 'all', 'done', 'undo', 'edit', 'del', 'clear', 'today', 'due', 'tz', 'digest', 'remind', 'export', 'import', 'health', 'privacy', 'forget'])
})

t.test('commands to another bot are ignored', async (t) => {
  const lists = (): number => h.emu.messages(OWNER).filter((m) => /^Your tasks/.test(m.rendered)).length
  const before = lists()
  h.emu.sendText(OWNER, OWNER, '/list@OtherBot')
  const reply = await h.say('/list@mister_todo_bot')
  t.match(reply.rendered, /^Your tasks/)
  t.equal(lists(), before + 1)
})
