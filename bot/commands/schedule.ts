// Turning what the user wrote into a task's schedule, and completing tasks so that a repeating
// one comes back as its next occurrence.
import { reminderTime } from '../reminders/schedule.js'
import { taskLine } from '../tasks/render.js'
import type { NewTask, Schedule, Task } from '../tasks/repository.js'
import { parseDue, type ParsedDue } from '../time/parse-due.js'
import { nextAfter } from '../time/repeat.js'
import { inZone } from '../time/zone.js'
import type { Turn } from '../turn.js'

/** A schedule with its reminder time, on the chat's default lead (in `zone`, the chat's by default). */
export function withReminder (turn: Turn, schedule: Omit<Schedule, 'remindAt'>, zone = turn.zone): Schedule {
  return { ...schedule, remindAt: reminderTime(schedule, turn.settings.remindBeforeMin, zone, turn.now) }
}

export function scheduleFor (turn: Turn, parsed: Omit<ParsedDue, 'text'>): Schedule {
  return withReminder(turn, {
    dueAt: parsed.due?.at ?? null,
    dueHasTime: parsed.due?.hasTime ?? false,
    repeat: parsed.repeat ?? null,
    remindBeforeMin: parsed.remindBeforeMin ?? null,
  })
}

/** A task text with its date phrase read off, and the schedule it names; undefined when the text
 * names no date, or is nothing but a date (then the words are the task). */
export function datedText (turn: Turn, text: string): NewTask & Schedule | undefined {
  const parsed = parseDue(text, turn.view)
  if (parsed.text === '' || (parsed.due === undefined && parsed.repeat === undefined)) return undefined
  return { text: parsed.text, ...scheduleFor(turn, parsed) }
}

/** Completes open tasks; each repeating one gets its next occurrence as a new task. Returns
 * the lines announcing those. */
export async function completeTasks (turn: Turn, tasks: readonly Task[]): Promise<string[]> {
  const open = tasks.filter((t) => t.doneAt === null)
  await turn.tasks.complete(turn.chatId, open.map((t) => t.id))
  return await addNextOccurrences(turn, open)
}

/** For tasks just completed: each repeating one gets its next occurrence as a new task. Returns
 * the lines announcing those. */
export async function addNextOccurrences (turn: Turn, completed: readonly Task[]): Promise<string[]> {
  const lines: string[] = []
  for (const task of completed) {
    if (task.repeat === null || task.dueAt === null) continue
    const next = nextAfter(task.repeat, inZone(task.dueAt, turn.zone), inZone(turn.now, turn.zone), !task.dueHasTime)
    const [added] = await turn.tasks.add(turn.chatId, [{ text: task.text, ...withReminder(turn, { dueAt: next.toMillis(), dueHasTime: task.dueHasTime, repeat: task.repeat, remindBeforeMin: task.remindBeforeMin }) }])
    if (added !== undefined) lines.push(`🔁 Next: ${taskLine(added, turn.view)}`)
  }
  return lines
}
