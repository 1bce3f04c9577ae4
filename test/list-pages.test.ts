// /list and /all in pages of 10: only the page's rows are read, and the pages of /all run from the
// open tasks on into the recently completed ones without a gap or a repeat.
import t from 'tap'
import type { BotMessage } from '../dev/emulator/bot-api-emulator.js'
import { OWNER, startHarness } from './support/bot-harness.js'

const h = await startHarness()
t.teardown(() => h.close())

const numbers = (m: BotMessage): number[] => [...m.rendered.matchAll(/^✅ #(\d+)|^#(\d+)/gm)].map((x) => Number(x[1] ?? x[2]))
async function pressNav (m: BotMessage, label: string): Promise<BotMessage> {
  const data = m.reply_markup?.inline_keyboard.at(-1)?.find((b) => b.text === label)?.callback_data
  if (data === undefined) throw new Error(`no ${label} on ${m.rendered}`)
  const before = h.emu.callbackAnswers().length
  h.emu.pressButton(OWNER, OWNER, m.message_id, data)
  await h.emu.waitFor(() => h.emu.callbackAnswers().length > before)
  return await h.emu.waitFor(() => {
    const now = h.emu.messages(OWNER).find((x) => x.message_id === m.message_id)
    return now !== undefined && now.rendered !== m.rendered && now
  })
}

t.test('pages: /list walks 23 open tasks in pages of 10; /all continues into the done ones', async (t) => {
  await h.say(Array.from({ length: 26 }, (_, i) => `task ${i + 1}`).join('\n'))
  await h.say('/done 2 4 6')
  const first = await h.say('/list')
  t.match(first.rendered, /^Your tasks \(23 open\) · page 1\/3\n/)
  t.same(numbers(first), [1, 3, 5, 7, 8, 9, 10, 11, 12, 13])
  const second = await pressNav(first, 'Next ›')
  t.same(numbers(second), [14, 15, 16, 17, 18, 19, 20, 21, 22, 23])
  const third = await pressNav(second, 'Next ›')
  t.match(third.rendered, /· page 3\/3\n/)
  t.same(numbers(third), [24, 25, 26])
  t.same(third.reply_markup?.inline_keyboard.at(-1)?.map((b) => b.text), ['‹ Prev'])

  const all = await h.say('/all')
  t.match(all.rendered, /^All tasks \(23 open, 3 done recently\) · page 1\/3\n/)
  const allThird = await pressNav(await pressNav(all, 'Next ›'), 'Next ›')
  t.same(numbers(allThird), [24, 25, 26, 2, 4, 6], 'the last open ones, then the done ones')
  t.match(allThird.rendered, /✅ #2 task 2/)
})

t.test('pages: a page number past the end (a stale button) shows the last page', async (t) => {
  await h.say('/del 1-20')
  const list = await h.say('/list')
  t.same(numbers(list), [21, 22, 23, 24, 25, 26])
  const before = h.emu.callbackAnswers().length
  h.emu.pressButton(OWNER, OWNER, list.message_id, 'p:9:o')
  await h.emu.waitFor(() => h.emu.callbackAnswers().length > before)
  // The last page is the page already shown: Telegram answers "message is not modified".
  const edit = await h.emu.waitFor(() => h.emu.calls('editMessageText').find((c) => c.params.message_id === list.message_id))
  t.equal(edit.params.text, list.text, 'the same page, read again after the clamp')
})
