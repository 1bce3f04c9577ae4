// What users type, read by bot/tasks/parse.ts directly (the bot-commands tests reach it through
// the bot): commands, task lines, numbers and ranges, /edit — each refusal in the exact words the
// user gets.
import t from 'tap'
import { cleanTaskText, MAX_NUMBERS_AT_ONCE, MAX_TASK_LENGTH, parseCommand, parseEdit, parseTaskNumbers, taskLines } from '../bot/tasks/parse.js'

const refused = (message: string): { name: string, code: string, message: string } => ({ name: 'UserInputError', code: 'EINPUT', message })

t.test('parse: commands with and without a bot name and arguments', async (t) => {
  t.same(parseCommand('/Done 3 5'), { name: 'done', addressedTo: undefined, args: '3 5' })
  t.same(parseCommand('/add@mister_todo_bot  milk \n eggs '), { name: 'add', addressedTo: 'mister_todo_bot', args: 'milk \n eggs' })
  t.same(parseCommand('/list'), { name: 'list', addressedTo: undefined, args: '' })
  t.same(parseCommand('/add\tmilk'), { name: 'add', addressedTo: undefined, args: 'milk' })
  t.same(parseCommand('/add\nmilk\neggs'), { name: 'add', addressedTo: undefined, args: 'milk\neggs' })
  t.same(parseCommand(`/${'a'.repeat(64)}`)?.name, 'a'.repeat(64), 'a name of 64 characters')
  for (const text of ['buy milk', ' /list', '/', '/li-st', '/list@', '/listmilk?', `/${'a'.repeat(65)}`, `/list@${'b'.repeat(65)}`, '/done3 ok'.replace('3', '-')]) {
    t.equal(parseCommand(text), undefined, JSON.stringify(text))
  }
})

t.test('parse: task text loses control characters and tabs, keeps the rest', async (t) => {
  t.equal(cleanTaskText('  a\u0000b\u0007c\u000Bd\u001Fe\u007Ff\tg  '), 'abcdef g')
  t.equal(cleanTaskText('emoji 😀 and \ud800 lone'), 'emoji 😀 and \ufffd lone', 'a lone surrogate becomes U+FFFD')
  t.equal(cleanTaskText('\u0008\u000A\u000C'), '\n'.trim(), 'only controls: nothing left')
})

t.test('parse: one task per non-empty line; a line over the limit is named', async (t) => {
  t.same(taskLines('milk\r\n\n  eggs \n\t\nbread'), ['milk', 'eggs', 'bread'])
  t.same(taskLines('x'.repeat(MAX_TASK_LENGTH)), ['x'.repeat(MAX_TASK_LENGTH)], 'exactly the limit is fine')
  t.throws(() => taskLines(`ok\n${'y'.repeat(MAX_TASK_LENGTH + 1)}`), refused(`Line 2 is too long (1001 characters). A task can be at most 1000 characters: split it into several lines.`))
  t.same(taskLines(' \n \n'), [])
})

t.test('parse: task numbers, lists and ranges, sorted and unique', async (t) => {
  t.same(parseTaskNumbers('8 3,5 #3', 'done'), [3, 5, 8])
  t.same(parseTaskNumbers('3-6', 'done'), [3, 4, 5, 6])
  t.same(parseTaskNumbers('7-7 1', 'done'), [1, 7])
  t.same(parseTaskNumbers(`1-${MAX_NUMBERS_AT_ONCE}`, 'done').length, MAX_NUMBERS_AT_ONCE, 'a range of exactly the limit')
  t.same(parseTaskNumbers('999999999', 'done'), [999_999_999], 'nine digits')
})

t.test('parse: each bad number gets its own answer', async (t) => {
  const usage = 'Give task numbers like 3, 3 5 8 or 3-6.'
  const cases: Array<[string, string]> = [
    ['', 'Which task? Example: /undo 3 (task numbers like 3, 3 5 8 or 3-6.)'],
    [' , ', 'Which task? Example: /undo 3 (task numbers like 3, 3 5 8 or 3-6.)'],
    ['abc', `“abc” is not a task number. ${usage}`],
    ['3x', `“3x” is not a task number. ${usage}`],
    ['x3', `“x3” is not a task number. ${usage}`],
    ['-3', `“-3” is not a task number. ${usage}`],
    ['3#', `“3#” is not a task number. ${usage}`],
    ['a1-3', `“a1-3” is not a task number. ${usage}`],
    ['1-3x', `“1-3x” is not a task number. ${usage}`],
    ['a'.repeat(30), `“${'a'.repeat(20)}” is not a task number. ${usage}`],
    ['0', 'Task numbers start at 1.'],
    ['0-3', 'Task numbers start at 1.'],
    ['1234567890', `There is no task #1234567890. ${usage}`],
    ['9'.repeat(25), `There is no task #${'9'.repeat(20)}…. ${usage}`],
    ['5-3', 'The range 5-3 goes backwards: write 3-5.'],
    [`1-${MAX_NUMBERS_AT_ONCE + 1}`, 'That range is too long: at most 100 tasks at once.'],
    [`1-60 61-101`, 'That is too many tasks: at most 100 at once.'],
    [Array.from({ length: 101 }, (_, i) => i + 1).join(' '), 'That is too many tasks: at most 100 at once.'],
  ]
  for (const [args, message] of cases) t.throws(() => parseTaskNumbers(args, 'undo'), refused(message), JSON.stringify(args))
  t.same(parseTaskNumbers(Array.from({ length: 100 }, (_, i) => i + 1).join(' '), 'undo').length, 100, '100 listed is still fine')
})

t.test('parse: /edit takes a number and the new text on one line', async (t) => {
  t.same(parseEdit(' #3   buy oat milk '), { number: 3, text: 'buy oat milk' })
  t.same(parseEdit('12 two\n  lines\tand tab'), { number: 12, text: 'two lines and tab' })
  t.same(parseEdit(`4 ${'z'.repeat(MAX_TASK_LENGTH)}`).text.length, MAX_TASK_LENGTH)
  t.throws(() => parseEdit('  '), refused('Which task, and what should it say? Example: /edit 3 buy oat milk'))
  t.throws(() => parseEdit('3'), refused('What should task #3 say? Example: /edit 3 buy oat milk'))
  t.throws(() => parseEdit('3 \u0000 '), refused('What should task #3 say? Example: /edit 3 buy oat milk'))
  t.throws(() => parseEdit('three apples'), refused('“three” is not a task number. Give task numbers like 3, 3 5 8 or 3-6.'))
  t.throws(() => parseEdit(`3 ${'z'.repeat(MAX_TASK_LENGTH + 1)}`), refused('That text is too long: a task can be at most 1000 characters.'))
})
