// Inline button presses. Each press is answered exactly once; the list it came from is edited in
// place. A button that does not decode, or names a task that is not in this chat, changes nothing.
import { decodeButton, type ListView } from '../tasks/callback-data.js'
import { escapeHtml, shorten, undoKeyboard } from '../tasks/render.js'
import { reminderKeyboard } from '../reminders/render.js'
import { snoozeUntil } from '../reminders/schedule.js'
import { formatDue } from '../time/format.js'
import type { Turn } from '../turn.js'
import { completeTasks } from './schedule.js'
import { loadListPage } from './tasks.js'

export type ButtonPress = { id: string, data: string | undefined, messageId: number | undefined }

async function refreshList (turn: Turn, messageId: number, view: ListView, page: number): Promise<void> {
  const reply = await loadListPage(turn, view, page)
  turn.edit(messageId, reply.text, reply.keyboard)
}

export async function handleButton (turn: Turn, press: ButtonPress): Promise<void> {
  const action = decodeButton(press.data)
  if (action === undefined || press.messageId === undefined) {
    turn.answer(press.id, 'This button does not work any more. Send /list for a fresh list.')
    return
  }
  const messageId = press.messageId
  switch (action.kind) {
    case 'page':
      await refreshList(turn, messageId, action.view, action.page)
      turn.answer(press.id)
      return
    case 'done': case 'reopen': case 'delete': {
      const task = await turn.tasks.byId(turn.chatId, action.taskId)
      if (task === undefined) {
        turn.answer(press.id, 'That task is not in this list any more.')
      } else if (action.kind === 'done') {
        const next = await completeTasks(turn, [task])
        turn.answer(press.id, task.doneAt === null ? `✅ Done: #${task.number}` : `#${task.number} was already done`)
        if (next.length > 0) turn.replyLines(next)
      } else if (action.kind === 'reopen') {
        await turn.tasks.reopen(turn.chatId, [task.id])
        turn.answer(press.id, `↩ Reopened #${task.number}`)
      } else {
        await turn.tasks.remove(turn.chatId, [task.id], turn.updateId)
        turn.answer(press.id, `🗑 Deleted #${task.number}`)
        turn.reply(`🗑 Deleted: <b>#${task.number}</b> ${escapeHtml(shorten(task.text))}`, undoKeyboard(turn.updateId))
      }
      await refreshList(turn, messageId, action.view, action.page)
      return
    }
    case 'undo': {
      const restored = await turn.tasks.restore(turn.chatId, action.batch)
      if (restored.length === 0) {
        turn.answer(press.id, 'Nothing to undo: already restored.')
        return
      }
      turn.answer(press.id, `↩ Restored ${restored.length} task${restored.length === 1 ? '' : 's'}`)
      turn.edit(messageId, restored.map((t) => `↩ Restored: <b>#${t.number}</b> ${escapeHtml(shorten(t.text))}`).join('\n').slice(0, 4000))
      return
    }
    case 'remindDone': case 'snooze': {
      const task = await turn.tasks.byId(turn.chatId, action.taskId)
      const title = task === undefined ? '' : `<b>#${task.number}</b> ${escapeHtml(shorten(task.text))}`
      if (task === undefined) {
        turn.answer(press.id, 'That task is not in your list any more.')
        turn.edit(messageId, '⏰ (this task was deleted)')
      } else if (task.doneAt !== null) {
        turn.answer(press.id, `#${task.number} is already done`)
        turn.edit(messageId, `✅ Done: ${title}`)
      } else if (action.kind === 'remindDone') {
        const next = await completeTasks(turn, [task])
        turn.answer(press.id, `✅ Done: #${task.number}`)
        turn.edit(messageId, [`✅ Done: ${title}`, ...next].join('\n'))
      } else {
        const until = snoozeUntil(action.snooze, turn.zone, turn.now)
        await turn.tasks.setRemindAt(turn.chatId, task.id, until)
        const shown = formatDue({ at: until, hasTime: true }, turn.view)
        turn.answer(press.id, `💤 Until ${shown}`)
        turn.edit(messageId, `💤 ${title}\nI'll remind you again ${shown}.`, reminderKeyboard(task.id))
      }
      return
    }
    case 'clear': {
      if (!action.confirmed) {
        turn.answer(press.id)
        turn.edit(messageId, 'Kept your completed tasks.')
        return
      }
      const removed = await turn.tasks.removeDone(turn.chatId, turn.updateId)
      turn.answer(press.id, removed === 0 ? 'Nothing to remove.' : `Removed ${removed}`)
      turn.edit(messageId, removed === 0 ? 'There were no completed tasks to remove.' : `🧹 Removed ${removed} completed task${removed === 1 ? '' : 's'}.`, removed === 0 ? undefined : undoKeyboard(turn.updateId))
    }
  }
}
