// Turning what the user wrote into a task's schedule, and completing tasks so that a repeating
// one comes back as its next occurrence.
import { reminderTime } from '../reminders/schedule.js'
import { taskLine } from '../tasks/render.js'
import type { NewTask, Schedule, Task } from '../tasks/repository.js'
import type { ParsedDue } from '../time/parse-due.js'
import { nextAfter } from '../time/repeat.js'
import { inZone } from '../time/zone.js'
import type { Turn } from '../turn.js'

export function scheduleFor (turn: Turn, parsed: Omit<ParsedDue, 'text'>): Schedule {
  const schedule = {
    dueAt: parsed.due?.at ?? null,
    dueHasTime: parsed.due?.hasTime ?? false,
    repeat: parsed.repeat ?? null,
    remindBeforeMin: parsed.remindBeforeMin ?? null,
  }
  return { ...schedule, remindAt: reminderTime(schedule, turn.settings.remindBeforeMin, turn.zone, turn.now) }
}

/** A line as a new task: its date phrase read off, unless the line is nothing but a date. */
export function newTaskFrom (turn: Turn, line: string, parse: (text: string) => ParsedDue): NewTask {
  const parsed = parse(line)
  if (parsed.text === '' || (parsed.due === undefined && parsed.repeat === undefined)) return { text: line }
  return { text: parsed.text, ...scheduleFor(turn, parsed) }
}

/** Completes open tasks; each repeating one gets its next occurrence as a new task. Returns
 * the lines announcing those. */
export async function completeTasks (turn: Turn, tasks: readonly Task[]): Promise<string[]> {
  const open = tasks.filter((t) => t.doneAt === null)
  await turn.tasks.complete(turn.chatId, open.map((t) => t.id))
  const lines: string[] = []
  for (const task of open) {
    if (task.repeat === null || task.dueAt === null) continue
    const next = nextAfter(task.repeat, inZone(task.dueAt, turn.zone), inZone(turn.now, turn.zone), !task.dueHasTime)
    const schedule = { dueAt: next.toMillis(), dueHasTime: task.dueHasTime, repeat: task.repeat, remindBeforeMin: task.remindBeforeMin }
    const [added] = await turn.tasks.add(turn.chatId, [{ text: task.text, ...schedule, remindAt: reminderTime(schedule, turn.settings.remindBeforeMin, turn.zone, turn.now) }])
    if (added !== undefined) lines.push(`🔁 Next: ${taskLine(added, turn.view)}`)
  }
  return lines
}
