// The inline-button protocol (bot/tasks/callback-data.ts) read directly: every button's exact
// callback_data, and every string that is not exactly one of them decoded as nothing (the
// access and bot-commands tests press the same buttons through the bot).
import t from 'tap'
import { decodeButton, encodeButton, type ButtonAction } from '../bot/tasks/callback-data.js'

t.test('buttons: each action has its exact short callback data and decodes back to itself', async (t) => {
  const cases: Array<[ButtonAction, string]> = [
    [{ kind: 'done', taskId: 12, page: 3, view: 'all' }, 'd:12:3:a'],
    [{ kind: 'done', taskId: 7, page: 0, view: 'open' }, 'd:7:0:o'],
    [{ kind: 'reopen', taskId: 5, page: 1, view: 'all' }, 'r:5:1:a'],
    [{ kind: 'delete', taskId: 9, page: 0, view: 'open' }, 'x:9:0:o'],
    [{ kind: 'page', page: 2, view: 'open' }, 'p:2:o'],
    [{ kind: 'page', page: 4, view: 'all' }, 'p:4:a'],
    [{ kind: 'undo', batch: 31 }, 'u:31'],
    [{ kind: 'clear', confirmed: true }, 'c:y'],
    [{ kind: 'clear', confirmed: false }, 'c:n'],
    [{ kind: 'remindDone', taskId: 44 }, 'rd:44'],
    [{ kind: 'snooze', taskId: 44, snooze: 10 }, 'rs:44:10'],
    [{ kind: 'snooze', taskId: 44, snooze: 60 }, 'rs:44:60'],
    [{ kind: 'snooze', taskId: 44, snooze: 'morning' }, 'rs:44:m'],
  ]
  for (const [action, data] of cases) {
    t.equal(encodeButton(action), data, action.kind)
    t.strictSame(decodeButton(data), action, data)
  }
})

t.test('buttons: the largest ids and pages still fit and decode', async (t) => {
  const id = 999_999_999_999_999
  t.equal(encodeButton({ kind: 'delete', taskId: id, page: 99_999, view: 'all' }), 'x:999999999999999:99999:a')
  t.strictSame(decodeButton('x:999999999999999:99999:a'), { kind: 'delete', taskId: id, page: 99_999, view: 'all' })
  t.strictSame(decodeButton('p:99999:a'), { kind: 'page', page: 99_999, view: 'all' })
  t.strictSame(decodeButton('u:999999999999999'), { kind: 'undo', batch: id })
  t.strictSame(decodeButton('rd:999999999999999'), { kind: 'remindDone', taskId: id })
  t.strictSame(decodeButton('rs:999999999999999:m'), { kind: 'snooze', taskId: id, snooze: 'morning' })
})

t.test('buttons: anything not exactly a button decodes as nothing', async (t) => {
  const forged = [
    undefined, '', 'd', 'd:1', 'd:1:0', 'd:1:0:', 'd::0:o', 'd:1::o', 'd:1:0:x', 'd:1:0:oa', 'd:1:0:o:extra', ' d:1:0:o', 'd:1:0:o ',
    'D:1:0:o', 'q:1:0:o', 'dd:1:0:o', 'xd:1:0:o', 'd:-1:0:o', 'd:1.5:0:o', 'd:a1:0:o', 'd:1:b:o',
    'd:1234567890123456:0:o', 'd:1:123456:o',
    'p:', 'p:1', 'p::o', 'p:1:x', 'p:123456:o', 'xp:1:o', 'p:1:oo', 'p:a:o',
    'u:', 'u:x', 'u:1:2', 'xu:1', 'u:1234567890123456',
    'c:', 'c:yes', 'c:Y', 'xc:y', 'c:y ',
    'rd:', 'rd:x', 'rd:1:2', 'xrd:1', 'rd:1234567890123456',
    'rs:1', 'rs:1:', 'rs:1:30', 'rs:1:mm', 'rs:1:100', 'rs::10', 'xrs:1:10', 'rs:1:10x', 'rs:1234567890123456:m',
    'DROP TABLE tasks', '💥'.repeat(16), `d:1:0:o${' '.repeat(60)}`,
  ]
  for (const data of forged) t.equal(decodeButton(data), undefined, JSON.stringify(data))
})
