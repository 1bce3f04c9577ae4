// /privacy (issue 15): what the bot stores, for how long, and how to delete it. The backup part
// follows the retention rules of ops/lib/retention.mjs and the BACKUP_SCHEDULE setting.
import type { Config } from '../config.js'
import type { CommandSpec } from './types.js'

export function privacyText (config: Pick<Config, 'backupSchedule' | 'backupCopyTo' | 'backupCopyCommand' | 'logKeep'>): string {
  const scheduled = config.backupSchedule === null
    ? 'No scheduled backups are made here.'
    : 'A backup of the whole database is made every day; the newest of each of the last 7 days, 4 weeks and 12 months is kept, so something you deleted can stay in a backup for up to about 13 months.'
  const copied = config.backupCopyTo !== null || config.backupCopyCommand !== null ? ' The backups are also copied off this machine, under the same rules.' : ''
  return [
    '<b>What I store about this chat</b>',
    '• Your tasks: their text, numbers, due dates, repeats and reminders, and when they were added and done. Deleted tasks are kept until /forget (so Undo works).',
    '• The chat\'s settings: /tz, /digest, /remind.',
    '• Replies waiting to be sent, until they are delivered.',
    '• The ids of the updates Telegram sent me (not their content), for 24 hours, so none is applied twice; and how many messages you sent in the current minute (for the rate limit).',
    '• Logs: update ids, user ids and errors, never your task text at the normal log level. They are rotated by size and the oldest is dropped after ' + String(config.logKeep) + ' files.',
    '',
    '<b>Backups</b>',
    `${scheduled} Backups made by updates of the bot or by hand: until 10 newer ones exist.${copied}`,
    '',
    '<b>Deleting it</b>',
    '/forget deletes everything stored about this chat at once (after a confirm button). Backups made before that are not changed: they age out as above.',
  ].join('\n')
}

export function privacyCommand (config: Parameters<typeof privacyText>[0]): CommandSpec {
  return { name: 'privacy', description: 'What I store and how to delete it', handler: async (turn) => turn.reply(privacyText(config)) }
}
