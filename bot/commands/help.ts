// /start and /help: the whole bot explained in a few lines, with the limits that apply here.
import type { Config } from '../config.js'
import { MAX_TASK_LENGTH } from '../tasks/parse.js'
import type { CommandSpec } from './types.js'

export const HELP_TEXT = [
  '<b>Mister Todo</b> keeps your to-do list.',
  '',
  'Send any message to add it as a task (one task per line).',
  '/list – open tasks, with buttons to complete ✓ or delete 🗑',
  '/all – also the ones completed this week',
  '/done 3 – complete #3 (also /done 3 5 8 or /done 3-6)',
  '/undo 3 – reopen #3',
  '/edit 3 new text – change #3',
  '/del 3 – delete #3 (with an Undo button)',
  '/clear – remove all completed tasks',
  '',
  'Dates in plain words: “pay rent tomorrow 9am”, “call mom friday”, “standup every weekday 9:00”, “dentist 3 dec 14:30 remind 1h before”. I remind you at the due time.',
  '/due 3 friday 9am – set or change a due date (/due 3 none clears it)',
  '/today – what is due today and overdue',
  '/tz Europe/Berlin – your time zone',
  '/digest 8:00 – a morning summary (/digest off)',
  '/remind 30m – remind ahead of due times (/remind off)',
  '/export – your tasks as a file (/export csv, /export todo); /import – send a file with /import as its caption',
  '/health – is the bot well?',
  '/privacy – what I store; /forget – delete everything about this chat',
  '',
  'Task numbers stay the same until a task is deleted.',
].join('\n')

const count = (n: number): string => n.toLocaleString('en-US')

/** The limits line: in open mode (ALLOWED_USER_IDS=*) the per-user limits, else the task length alone. */
export function limitsLine (config?: Pick<Config, 'openToAll' | 'limits'>): string {
  const text = `${count(MAX_TASK_LENGTH)} characters per task`
  if (config === undefined || !config.openToAll) return `Limits: ${text}.`
  return `Limits: ${count(config.limits.ratePerMinute)} messages a minute per person, ${count(config.limits.maxTasksPerChat)} tasks per chat, ${text}.`
}

export function helpText (config?: Pick<Config, 'openToAll' | 'limits'>): string {
  return `${HELP_TEXT}\n${limitsLine(config)}`
}

export function helpCommandsFor (config?: Pick<Config, 'openToAll' | 'limits'>): CommandSpec[] {
  const text = helpText(config)
  return [
    { name: 'start', description: 'Welcome and how to use me', menu: false, handler: async (turn) => turn.reply(`👋 Hi! ${text}`) },
    { name: 'help', description: 'How to use me', handler: async (turn) => turn.reply(text) },
  ]
}

export const helpCommands: CommandSpec[] = helpCommandsFor()
