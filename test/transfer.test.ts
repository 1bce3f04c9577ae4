// /export and /import end to end: the real bot, the emulator's sendDocument, getFile and file
// download, a real SQLite file. Round trips in every format, another chat's tasks never in an
// export, hostile files refused with the line and the problem and nothing stored.
import t from 'tap'
import { AdjustableClock } from '../bot/clock.js'
import { TaskRepository } from '../bot/tasks/repository.js'
import type { BotMessage } from '../dev/emulator/bot-api-emulator.js'
import { FRIEND, OWNER, startHarness } from './support/bot-harness.js'

// Wed 25 Nov 2026, 08:00 in Berlin; the clock stands still so every date below is exact.
const NOW = Date.parse('2026-11-25T07:00:00Z')
const h = await startHarness({ DEFAULT_TIMEZONE: 'Europe/Berlin' }, { clock: new AdjustableClock(NOW, 0) })
t.teardown(() => h.close())

type Row = { number: number, text: string, due_at: number | null, due_has_time: number, repeat: string | null, remind_before_min: number | null, remind_at: number | null, done_at: number | null, created_at: number }
const rows = (chat: number): Promise<Row[]> => h.bot.db('tasks').where({ chat_id: chat }).whereNull('deleted_at').orderBy('number')
  .select('number', 'text', 'due_at', 'due_has_time', 'repeat', 'remind_before_min', 'remind_at', 'done_at', 'created_at')
/** What a round trip must keep: text, due, repeat, reminder lead, done. */
const essence = (r: Row): string => JSON.stringify([r.text, r.due_at, r.due_has_time, r.repeat, r.remind_before_min, r.done_at !== null])
const bytesOf = (m: BotMessage): Buffer => {
  const file = m.document === undefined ? undefined : h.emu.fileBytes(m.document.file_id)
  if (file === undefined) throw new Error(`not a document: ${m.rendered}`)
  return file
}

async function exportAs (chat: number, args = ''): Promise<BotMessage> {
  return await h.say(`/export${args === '' ? '' : ` ${args}`}`, OWNER, chat)
}

async function importFile (chat: number, name: string, data: Buffer | string): Promise<string> {
  const waiting = h.emu.waitForMessage(chat)
  h.emu.sendDocument(OWNER, chat, { name, data, caption: '/import' })
  return (await waiting).rendered
}

const SOURCE = -1001
await h.say([
  'pay rent tomorrow 9am',
  'standup every weekday 9:00',
  'call mom friday',
  'dentist 3 dec 14:30 remind 1h before',
  'rent every month on the 1st',
  'gym every monday 7pm',
  'water plants every 2 days',
  '=HYPERLINK("http://evil.example","click")',
  '+1 for the idea, -2 for the cost, @SUM(A1:A9)',
  "'=already quoted",
  'a "quoted", comma, task',
  'x marks the spot',
  'delete me',
].join('\n'), OWNER, SOURCE)
// Typed, this would be read as a date; a file from elsewhere may hold it as text.
await new TaskRepository(h.bot.db, () => NOW).add(SOURCE, ['2026-12-24 is christmas eve'])
await h.say('/done 3', OWNER, SOURCE)
await h.say('/del 13', OWNER, SOURCE)
await h.say('friend secret task', FRIEND, FRIEND)

t.test('export: /export sends the JSON file with everything, open tasks first, deleted ones left out', async (t) => {
  const reply = await exportAs(SOURCE)
  t.equal(reply.rendered, '📦 13 tasks (12 open, 1 done) as JSON. Send it back with /import to restore them in any chat.')
  t.match(reply.document, { file_name: 'mister-todo-2026-11-25.json', mime_type: 'application/json' })
  const data = JSON.parse(bytesOf(reply).toString('utf8')) as { tasks: Array<Record<string, unknown>>, [k: string]: unknown }
  t.match(data, { format: 'mister-todo', version: 1, exported_at: '2026-11-25T07:00:00.000Z', chat: { time_zone: 'Europe/Berlin', remind_before_min: 0, digest_time: null }, open: 12, done: 1 })
  t.same(data.tasks.map((x) => x.number), [7, 2, 1, 6, 5, 4, 8, 9, 10, 11, 12, 14, 3], 'open by due date (as /list), then done')
  t.same(data.tasks[2], {
    number: 1, text: 'pay rent', done: false, created_at: '2026-11-25T07:00:00.000Z', completed_at: null,
    due: { date: '2026-11-26', time: '09:00', time_zone: 'Europe/Berlin', at: '2026-11-26T08:00:00.000Z' }, repeat: null, remind_before_min: null,
  })
  t.same(data.tasks.find((x) => x.number === 4), {
    number: 4, text: 'dentist', done: false, created_at: '2026-11-25T07:00:00.000Z', completed_at: null,
    due: { date: '2026-12-03', time: '14:30', time_zone: 'Europe/Berlin', at: '2026-12-03T13:30:00.000Z' }, repeat: null, remind_before_min: 60,
  })
  t.same(data.tasks.find((x) => x.number === 5)?.repeat, { unit: 'month', every: 1, dayOfMonth: 1 })
  t.same(data.tasks.at(-1), { number: 3, text: 'call mom', done: true, created_at: '2026-11-25T07:00:00.000Z', completed_at: '2026-11-25T07:00:00.000Z', due: { date: '2026-11-27', time: null, time_zone: 'Europe/Berlin', at: '2026-11-26T23:00:00.000Z' }, repeat: null, remind_before_min: null })
  t.notOk(data.tasks.some((x) => x.text === 'delete me'), 'the deleted task is not exported')
})

t.test('export: CSV escapes cells a spreadsheet would run as formulas; todo.txt has dates and tags', async (t) => {
  const csv = bytesOf(await exportAs(SOURCE, 'csv')).toString('utf8')
  const lines = csv.split('\r\n')
  t.equal(lines[0], '\uFEFFnumber,status,text,due,repeat,remind_before,created,completed,time_zone')
  t.equal(lines[1], '7,open,water plants,2026-11-25,2d,,2026-11-25T07:00:00.000Z,,Europe/Berlin')
  t.ok(lines.includes('1,open,pay rent,2026-11-26 09:00,,,2026-11-25T07:00:00.000Z,,Europe/Berlin'))
  t.ok(lines.includes('8,open,"\'=HYPERLINK(""http://evil.example"",""click"")",,,,2026-11-25T07:00:00.000Z,,Europe/Berlin'), 'formula escaped with an apostrophe')
  t.ok(lines.includes("9,open,\"'+1 for the idea, -2 for the cost, @SUM(A1:A9)\",,,,2026-11-25T07:00:00.000Z,,Europe/Berlin"))
  t.ok(lines.includes("10,open,''=already quoted,,,,2026-11-25T07:00:00.000Z,,Europe/Berlin"), 'an apostrophe before = gets one more, so reading back is exact')
  t.ok(lines.includes('6,open,gym,2026-11-30 19:00,1w-mon,,2026-11-25T07:00:00.000Z,,Europe/Berlin'))
  t.ok(lines.includes('3,done,call mom,2026-11-27,,,2026-11-25T07:00:00.000Z,2026-11-25T07:00:00.000Z,Europe/Berlin'))
  t.notOk(lines.some((l) => /^[=+\-@]|,[=+\-@]/.test(l)), 'no cell starts with a formula character')

  const todo = bytesOf(await exportAs(SOURCE, 'todo')).toString('utf8').split('\n')
  t.equal(todo[0], '2026-11-25 water plants due:2026-11-25 rec:2d')
  t.ok(todo.includes('2026-11-25 pay rent due:2026-11-26 time:09:00'))
  t.ok(todo.includes('2026-11-25 standup due:2026-11-25 time:09:00 rec:1b'))
  t.ok(todo.includes('2026-11-25 dentist due:2026-12-03 time:14:30 remind:1h'))
  t.ok(todo.includes('2026-11-25 2026-12-24 is christmas eve'))
  t.equal(todo.at(-2), 'x 2026-11-25 2026-11-25 call mom due:2026-11-27')
})

t.test('export: another chat\'s tasks never appear, in any format', async (t) => {
  for (const format of ['', 'csv', 'todo']) {
    const text = bytesOf(await exportAs(SOURCE, format)).toString('utf8')
    t.notMatch(text, /friend secret/, `/export ${format}`)
  }
  const friend = await h.say('/export', FRIEND, FRIEND)
  const data = JSON.parse(bytesOf(friend).toString('utf8')) as { tasks: Array<{ text: string }> }
  t.same(data.tasks.map((x) => x.text), ['friend secret task'])
  t.equal((await h.say('/export', OWNER, -1999)).rendered, 'Nothing to export yet: this chat has no tasks.')
  t.equal((await h.say('/export pdf', OWNER, SOURCE)).rendered, 'I export as JSON (/export), CSV (/export csv) or todo.txt (/export todo), not “pdf”.')
})

t.test('import: export → import into a fresh chat gives the same tasks, in every format', async (t) => {
  const source = await rows(SOURCE)
  for (const [i, format] of ['', 'csv', 'todo'].entries()) {
    const file = await exportAs(SOURCE, format)
    const chat = -3000 - i
    const reply = await importFile(chat, file.document?.file_name ?? '', bytesOf(file))
    const kind = ['JSON', 'CSV', 'todo.txt'][i] ?? ''
    t.match(reply, new RegExp(`^📥 Imported 13 tasks from ${kind.replace('.', '\\.')} \\(12 open, 1 done\\):\n`), `${kind}: the reply`)
    const imported = await rows(chat)
    t.same(imported.map(essence).sort(), source.map(essence).sort(), `${kind}: text, due, repeat, lead and done kept`)
    t.same(imported.map((r) => r.remind_at).sort(), source.map((r) => r.remind_at).sort(), `${kind}: the same reminders pending`)
    if (kind !== 'todo.txt') {
      t.same(imported.map((r) => r.text), source.map((r) => r.text), `${kind}: numbered in the order of the old numbers`)
      t.same(imported.map((r) => [r.created_at, r.done_at]), source.map((r) => [r.created_at, r.done_at]), `${kind}: created and completed times kept`)
    }
  }
  const json = await importFile(-3100, 'tasks.json', bytesOf(await exportAs(SOURCE)))
  t.equal(json.split('\n').slice(0, 4).join('\n'), '📥 Imported 13 tasks from JSON (12 open, 1 done):\n#1 pay rent — due Thu 26 Nov 09:00 (was #1)\n#2 standup — due Wed 25 Nov 09:00 🔁 every weekday (was #2)\n✅ <s>#3 call mom</s> (was #3)'.replace(/<\/?s>/g, ''))
  t.match(json, /\n#13 2026-12-24 is christmas eve \(was #14\)$/, 'new numbers, the file\'s beside them')
})

t.test('import: reply /import to a file sent earlier; a file without a command gets a hint', async (t) => {
  const chat = -3200
  const hint = h.emu.waitForMessage(chat)
  const sent = h.emu.sendDocument(OWNER, chat, { name: 'list.txt', data: 'buy milk\n\ncall the bank friday 10am\n' })
  t.equal((await hint).rendered, 'I keep text tasks only: send the task as a text message, one task per line. To add the tasks in a file, reply /import to it.')
  const waiting = h.emu.waitForMessage(chat)
  h.emu.sendText(OWNER, chat, '/import', sent.message?.message_id)
  t.equal((await waiting).rendered, '📥 Imported 2 tasks from text (2 open, 0 done):\n#1 buy milk\n#2 call the bank — due Fri 27 Nov 10:00')
  t.equal((await h.say('/import', OWNER, chat)).rendered, 'Send me a file with /import as its caption, or reply /import to a file you sent. I read the JSON or CSV from /export, todo.txt, and plain text (one task per line), up to 1 MB and 10,000 tasks.')
})

t.test('import: a todo.txt from another tool keeps its dates, priorities as text and done marks', async (t) => {
  const reply = await importFile(-3300, 'todo.txt', [
    '(A) 2026-11-20 call mom +family @phone due:2026-11-30',
    'x 2026-11-22 2026-11-01 file taxes',
    'x 2026-11-23 renew passport',
    '2026-11-20 team sync due:2026-12-01 time:10:00 rec:+1w',
    '',
  ].join('\n'))
  t.equal(reply, '📥 Imported 4 tasks from todo.txt (2 open, 2 done):\n#1 (A) call mom +family @phone — due Mon 30 Nov\n✅ #2 file taxes\n✅ #3 renew passport\n#4 team sync — due Tue 1 Dec 10:00 🔁 every week')
  const imported = await rows(-3300)
  t.same(imported.map((r) => [r.created_at, r.done_at]), [
    [Date.parse('2026-11-20T12:00:00Z'), null],
    [Date.parse('2026-11-01T12:00:00Z'), Date.parse('2026-11-22T12:00:00Z')],
    [NOW, Date.parse('2026-11-23T12:00:00Z')],
    [Date.parse('2026-11-20T12:00:00Z'), null],
  ])
})

t.test('import: hostile files get one reply naming the line and the problem, and nothing is stored', async (t) => {
  const cases: Array<[string, string, Buffer | string, string]> = [
    ['binary', 'photo.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe, 0x10]),
      'Nothing was imported: line 1: this is not text (a byte that is not UTF-8): is it a binary file? I import the JSON or CSV that /export writes, todo.txt, or plain text with one task per line.'],
    ['NUL bytes', 'notes.txt', 'fine\nstill fine\nbad \u0000 line\n', 'Nothing was imported: line 3: this is not text (it contains a NUL byte): is it a binary file? I import the JSON or CSV that /export writes, todo.txt, or plain text with one task per line.'],
    ['10 MB', 'big.txt', Buffer.alloc(10 * 1024 * 1024, 'a'), 'Nothing was imported: the file is 10 MB; I import files up to 1 MB. Split it into parts.'],
    ['100,001 lines', 'lines.txt', 'x\n'.repeat(100_001), 'Nothing was imported: line 10,001: more than 10,000 tasks; split the file and import the parts one by one.'],
    ['broken JSON', 'tasks.json', '{\n  "tasks": [\n    {"text": "a"},\n    {"text": "b",}\n  ]\n}\n', 'Nothing was imported: line 4: this is not valid JSON (Expected double-quoted property name).'],
    ['truncated JSON', 'tasks.json', '{\n  "tasks": [\n    {"text": "a"},\n', 'Nothing was imported: line 3: this is not valid JSON (Unexpected end of JSON input).'],
    ['JSON task without text', 'tasks.json', '{\n  "tasks": [\n    {"text": "a"},\n\n    {"txt": "b"}\n  ]\n}\n', 'Nothing was imported: line 5: the task has no "text".'],
    ['JSON bad repeat', 'tasks.json', '{"tasks": [{"text": "a", "due": {"date": "2026-12-01", "time": null}, "repeat": {"unit": "fortnight", "every": 1}}]}', 'Nothing was imported: line 1: repeat.unit must be one of day, weekday, week, month, year.'],
    ['a 5,000-character todo.txt task', 'todo.txt', `2026-11-20 call mom\n2026-11-20 ${'a'.repeat(5000)} due:2026-12-01\n`, 'Nothing was imported: line 2: the task is 5,000 characters long; a task can be at most 1,000.'],
    ['todo.txt bad date', 'todo.txt', 'call mom due:2026-02-30\n', 'Nothing was imported: line 1: due:2026-02-30 is not a date like due:2026-11-30.'],
    ['CSV without a text column', 'tasks.csv', 'name,when\nmilk,today\n', 'Nothing was imported: line 1: the first row must name the columns, with one called "text" (as /export csv writes it).'],
    ['CSV open quote', 'tasks.csv', 'number,status,text\n1,open,"never closed\n2,open,b\n', 'Nothing was imported: line 2: a quoted CSV cell is never closed.'],
    ['empty', 'empty.txt', '\n\n  \n', 'Nothing was imported: the file has no tasks. I import the JSON or CSV that /export writes, todo.txt, or plain text with one task per line.'],
  ]
  for (const [i, [name, file, data, expected]] of cases.entries()) {
    const chat = -4000 - i
    const before = h.emu.calls('file').length
    t.equal(await importFile(chat, file, data), expected, name)
    t.same(await rows(chat), [], `${name}: nothing stored`)
    if (name === '10 MB') t.equal(h.emu.calls('file').length, before, '10 MB: refused by its size, never downloaded')
  }
  t.equal(h.bot.metrics.errors, 0, 'no handler crashed')
})

t.test('import: a download that fails is answered and can be retried by replying /import', async (t) => {
  const chat = -5000
  h.emu.failNext('file', { status: 502 })
  const sent = h.emu.waitForMessage(chat)
  const doc = h.emu.sendDocument(OWNER, chat, { name: 'list.txt', data: 'one\ntwo\n', caption: '/import' })
  t.equal((await sent).rendered, 'I could not fetch the file from Telegram (the download answered HTTP 502). Nothing was imported: reply /import to the file to try again.')
  t.same(await rows(chat), [])
  const again = h.emu.waitForMessage(chat)
  h.emu.sendText(OWNER, chat, '/import', doc.message?.message_id)
  t.equal((await again).rendered, '📥 Imported 2 tasks from text (2 open, 0 done):\n#1 one\n#2 two')
})

t.test('import: due dates keep their local time in a chat with another time zone', async (t) => {
  const ny = -6000
  await h.say('/tz America/New_York', OWNER, ny)
  const reply = await importFile(ny, 'tasks.json', bytesOf(await exportAs(SOURCE)))
  t.match(reply, /\n#4 dentist — due Thu 3 Dec 14:30 \(was #4\)\n/)
  const dentist = (await rows(ny)).find((r) => r.text === 'dentist')
  t.equal(dentist?.due_at, Date.parse('2026-12-03T19:30:00Z'), '14:30 in New York')
})

t.test('export: a chat of 10,000 tasks of 1,000 characters goes out as one file within Telegram\'s 50 MB', async (t) => {
  const chat = -7000
  const text = (i: number): string => `${i} ${'long task text '.repeat(70)}`.slice(0, 1000)
  await new TaskRepository(h.bot.db, () => NOW).add(chat, Array.from({ length: 10_000 }, (_, i) => text(i)))
  for (const format of ['', 'csv', 'todo']) {
    const started = performance.now()
    const reply = await exportAs(chat, format)
    const ms = Math.round(performance.now() - started)
    const file = bytesOf(reply)
    t.ok(file.length < 50 * 1024 * 1024 && file.length > 10_000_000, `/export ${format}: ${(file.length / 1024 / 1024).toFixed(1)} MB in ${ms} ms`)
    t.match(reply.rendered, /^📦 10,000 tasks \(10,000 open, 0 done\) as \S+\. Send it back with \/import to restore them in any chat\. At [\d.]+ MB it is over the 1 MB \/import reads: \/export todo writes a smaller file\.$/)
    if (format === '') t.equal((JSON.parse(file.toString('utf8')) as { tasks: unknown[] }).tasks.length, 10_000)
  }
  const outbox = (): Promise<number> => h.bot.db('outbox').count({ n: '*' }).first().then((r) => Number((r as { n: number }).n))
  for (let i = 0; i < 100 && await outbox() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await outbox(), 0, 'delivered files leave the outbox')
})

t.test('import: 10,000 tasks from a todo.txt export arrive in one update, numbered in order', async (t) => {
  const chat = -7100
  await new TaskRepository(h.bot.db, () => NOW).add(chat, Array.from({ length: 10_000 }, (_, i) => `task ${i + 1} due friday`))
  const file = await exportAs(chat, 'todo')
  t.ok(bytesOf(file).length < 1024 * 1024, 'the todo.txt of 10,000 short tasks fits the import limit')
  const reply = await importFile(-7101, file.document?.file_name ?? '', bytesOf(file))
  t.match(reply, /^📥 Imported 10,000 tasks from todo\.txt \(10,000 open, 0 done\):\n#1 task 1 due friday\n[\s\S]*\n… and 9,980 more tasks: #21–#10000, in the file's order\.$/)
  const imported = await rows(-7101)
  t.equal(imported.length, 10_000)
  t.same(imported.map((r) => r.text), Array.from({ length: 10_000 }, (_, i) => `task ${i + 1} due friday`))
})
