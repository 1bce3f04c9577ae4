// The inline-button protocol: short ASCII strings well under Telegram's 64-byte callback_data
// limit. Anything that does not decode exactly is treated as forged and ignored.

export type ListView = 'open' | 'all'

export type ButtonAction =
  | { kind: 'done', taskId: number, page: number, view: ListView }
  | { kind: 'reopen', taskId: number, page: number, view: ListView }
  | { kind: 'delete', taskId: number, page: number, view: ListView }
  | { kind: 'page', page: number, view: ListView }
  | { kind: 'undo', batch: number }
  | { kind: 'clear', confirmed: boolean }
  | { kind: 'remindDone', taskId: number }
  | { kind: 'snooze', taskId: number, snooze: 10 | 60 | 'morning' }

const VIEW_CODE: Record<ListView, string> = { open: 'o', all: 'a' }
const TASK_KIND_CODE = { done: 'd', reopen: 'r', delete: 'x' } as const

export function encodeButton (action: ButtonAction): string {
  switch (action.kind) {
    case 'done': case 'reopen': case 'delete':
      return `${TASK_KIND_CODE[action.kind]}:${action.taskId}:${action.page}:${VIEW_CODE[action.view]}`
    case 'page': return `p:${action.page}:${VIEW_CODE[action.view]}`
    case 'undo': return `u:${action.batch}`
    case 'clear': return action.confirmed ? 'c:y' : 'c:n'
    case 'remindDone': return `rd:${action.taskId}`
    case 'snooze': return `rs:${action.taskId}:${action.snooze === 'morning' ? 'm' : action.snooze}`
  }
}

const ID = '(\\d{1,15})'
const PAGE = '(\\d{1,5})'
const VIEW = '([oa])'

export function decodeButton (data: string | undefined): ButtonAction | undefined {
  if (data === undefined || data.length > 64) return undefined
  let m = new RegExp(`^([drx]):${ID}:${PAGE}:${VIEW}$`).exec(data)
  if (m !== null) {
    const kind = m[1] === 'd' ? 'done' : m[1] === 'r' ? 'reopen' : 'delete'
    return { kind, taskId: Number(m[2]), page: Number(m[3]), view: m[4] === 'a' ? 'all' : 'open' }
  }
  m = new RegExp(`^p:${PAGE}:${VIEW}$`).exec(data)
  if (m !== null) return { kind: 'page', page: Number(m[1]), view: m[2] === 'a' ? 'all' : 'open' }
  m = new RegExp(`^u:${ID}$`).exec(data)
  if (m !== null) return { kind: 'undo', batch: Number(m[1]) }
  if (data === 'c:y' || data === 'c:n') return { kind: 'clear', confirmed: data === 'c:y' }
  m = new RegExp(`^rd:${ID}$`).exec(data)
  if (m !== null) return { kind: 'remindDone', taskId: Number(m[1]) }
  m = new RegExp(`^rs:${ID}:(10|60|m)$`).exec(data)
  if (m !== null) return { kind: 'snooze', taskId: Number(m[1]), snooze: m[2] === 'm' ? 'morning' : Number(m[2]) as 10 | 60 }
  return undefined
}
