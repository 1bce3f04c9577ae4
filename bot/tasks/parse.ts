// Reads what users type: commands with their arguments, task lines, task numbers and ranges.
// Every rejection is a UserInputError whose message is shown to the user as is.
import { UserInputError } from '../errors.js'

export const MAX_TASK_LENGTH = 1000
export const MAX_NUMBERS_AT_ONCE = 100

export type ParsedCommand = { name: string, args: string, addressedTo: string | undefined }

/** `/name@bot args` → parts; undefined when the text is not a command. */
export function parseCommand (text: string): ParsedCommand | undefined {
  const m = /^\/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?(?:[ \t\n]+([\s\S]*))?$/.exec(text)
  if (m === null) return undefined
  return { name: (m[1] ?? '').toLowerCase(), addressedTo: m[2], args: (m[3] ?? '').trim() }
}

// C0 controls (but tab and newline), DEL, and lone surrogates have no place in a task text.
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F]/g // eslint-disable-line no-control-regex

export function cleanTaskText (raw: string): string {
  return raw.replace(CONTROL, '').replace(/\t/g, ' ').toWellFormed().trim()
}

/** One task per non-empty line. */
export function taskLines (text: string): string[] {
  const lines = text.split(/\r?\n/).map(cleanTaskText).filter((l) => l !== '')
  const tooLong = lines.findIndex((l) => l.length > MAX_TASK_LENGTH)
  if (tooLong >= 0) throw new UserInputError(`Line ${tooLong + 1} is too long (${lines[tooLong]?.length} characters). A task can be at most ${MAX_TASK_LENGTH} characters: split it into several lines.`)
  return lines
}

const USAGE_NUMBERS = 'Give task numbers like 3, 3 5 8 or 3-6.'

function toNumber (token: string): number {
  if (!/^\d+$/.test(token)) throw new UserInputError(`“${token.slice(0, 20)}” is not a task number. ${USAGE_NUMBERS}`)
  if (token.length > 9) throw new UserInputError(`There is no task #${token.slice(0, 20)}${token.length > 20 ? '…' : ''}. ${USAGE_NUMBERS}`)
  const n = Number(token)
  if (n === 0) throw new UserInputError('Task numbers start at 1.')
  return n
}

/** "3 5 8", "3,5", "3-6" → sorted unique numbers. */
export function parseTaskNumbers (args: string, command: string): number[] {
  const tokens = args.split(/[\s,]+/).map((t) => t.replace(/^#/, '')).filter((t) => t !== '')
  if (tokens.length === 0) throw new UserInputError(`Which task? Example: /${command} 3 (${USAGE_NUMBERS.toLowerCase().replace('give ', '')})`)
  const numbers = new Set<number>()
  for (const token of tokens) {
    const range = /^(\d+)-(\d+)$/.exec(token)
    if (range !== null) {
      const from = toNumber(range[1] ?? '')
      const to = toNumber(range[2] ?? '')
      if (from > to) throw new UserInputError(`The range ${from}-${to} goes backwards: write ${to}-${from}.`)
      if (to - from + 1 > MAX_NUMBERS_AT_ONCE) throw new UserInputError(`That range is too long: at most ${MAX_NUMBERS_AT_ONCE} tasks at once.`)
      for (let n = from; n <= to; n++) numbers.add(n)
    } else {
      numbers.add(toNumber(token))
    }
    if (numbers.size > MAX_NUMBERS_AT_ONCE) throw new UserInputError(`That is too many tasks: at most ${MAX_NUMBERS_AT_ONCE} at once.`)
  }
  return [...numbers].sort((a, b) => a - b)
}

/** "/edit 3 new text" → number and text. */
export function parseEdit (args: string): { number: number, text: string } {
  const m = /^#?(\S+)(?:\s+([\s\S]*))?$/.exec(args.trim())
  if (m === null) throw new UserInputError('Which task, and what should it say? Example: /edit 3 buy oat milk')
  const number = toNumber(m[1] ?? '')
  const text = cleanTaskText((m[2] ?? '').replace(/\s*\n\s*/g, ' '))
  if (text === '') throw new UserInputError(`What should task #${number} say? Example: /edit ${number} buy oat milk`)
  if (text.length > MAX_TASK_LENGTH) throw new UserInputError(`That text is too long: a task can be at most ${MAX_TASK_LENGTH} characters.`)
  return { number, text }
}
