// What a reminder and a digest look like, with the reminder's buttons.
import type * as T from 'node-telegram-bot-api/types'
import { encodeButton } from '../tasks/callback-data.js'
import { escapeHtml, shorten, taskLine, type Reply } from '../tasks/render.js'
import type { Task } from '../tasks/repository.js'
import { formatClock, formatDue, isSameDay, type TimeView } from '../time/format.js'
import { describeRepeat } from '../time/repeat.js'

/** A reminder sent this long after its time says it is late. */
export const LATE_AFTER_MS = 2 * 60_000
// Keeps a digest well under Telegram's 4096 characters (a task line shows at most 300).
const DIGEST_LINES = 10

export function reminderKeyboard (taskId: number): T.InlineKeyboardMarkup {
  return {
    inline_keyboard: [
      [{ text: '✅ Done', callback_data: encodeButton({ kind: 'remindDone', taskId }) }],
      [
        { text: '💤 10 min', callback_data: encodeButton({ kind: 'snooze', taskId, snooze: 10 }) },
        { text: '💤 1 hour', callback_data: encodeButton({ kind: 'snooze', taskId, snooze: 60 }) },
        { text: '🌅 Tomorrow', callback_data: encodeButton({ kind: 'snooze', taskId, snooze: 'morning' }) },
      ],
    ],
  }
}

function when (at: number, hasTime: boolean, view: TimeView): string {
  return hasTime && isSameDay(at, view) ? formatClock(at, view.zone) : formatDue({ at, hasTime }, view)
}

/** "⏰ #12 pay rent — due 09:00", or "— was due 09:00" when it comes late (after a stop). */
export function reminderMessage (task: Task, fireAt: number, view: TimeView): Reply {
  const lines = [`⏰ <b>#${task.number}</b> ${escapeHtml(shorten(task.text))}`]
  if (task.dueAt !== null) {
    const dueWhen = when(task.dueAt, task.dueHasTime, view)
    const overdue = task.dueHasTime ? view.now - task.dueAt > LATE_AFTER_MS : !isSameDay(task.dueAt, view) && task.dueAt < view.now
    const delayed = view.now - fireAt > LATE_AFTER_MS ? ` (reminder delayed: I was offline at ${formatClock(fireAt, view.zone)})` : ''
    lines.push(`${overdue ? 'was due' : 'due'} ${dueWhen}${delayed}`)
    if (task.repeat !== null) lines.push(`🔁 ${describeRepeat(task.repeat)}`)
  }
  return { text: lines.join('\n'), keyboard: reminderKeyboard(task.id) }
}

export function digestMessage (tasks: readonly Task[], view: TimeView): string {
  const day = formatDue({ at: view.now, hasTime: false }, view)
  if (tasks.length === 0) return `☀️ Good morning! Nothing is due today (${day}).`
  const shown = tasks.slice(0, DIGEST_LINES)
  const more = tasks.length > shown.length ? [`… and ${tasks.length - shown.length} more: /today`] : []
  return [`☀️ Good morning! Due today (${day}) and overdue:`, '', ...shown.map((t) => taskLine(t, view)), ...more].join('\n')
}
