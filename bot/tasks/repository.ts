// The only module that reads or writes tasks on behalf of a chat (the reminder loop's store only
// claims `remind_at`). Every method takes the chat id first: there is no way to reach a task
// without naming the chat it belongs to. Numbers are per chat and never reused.
import type { Knex } from 'knex'
import { engineOf } from '../db.js'
import type { RepeatRule } from '../time/repeat.js'

export type Task = {
  id: number
  chatId: number
  number: number
  text: string
  createdAt: number
  doneAt: number | null
  dueAt: number | null
  dueHasTime: boolean
  repeat: RepeatRule | null
  remindBeforeMin: number | null
  remindAt: number | null
}

/** What a new task or a changed due date carries besides its text. */
export type Schedule = {
  dueAt: number | null
  dueHasTime: boolean
  repeat: RepeatRule | null
  remindBeforeMin: number | null
  remindAt: number | null
}

/** `createdAt`/`doneAt`: kept from a file by /import (a new task is created now and open). */
export type NewTask = { text: string, createdAt?: number, doneAt?: number | null } & Partial<Schedule>

type TaskRow = {
  id: number
  chat_id: number
  number: number
  text: string
  created_at: number
  done_at: number | null
  due_at: number | null
  due_has_time: number
  repeat: string | null
  remind_before_min: number | null
  remind_at: number | null
}

const COLUMNS = ['id', 'chat_id', 'number', 'text', 'created_at', 'done_at', 'due_at', 'due_has_time', 'repeat', 'remind_before_min', 'remind_at']

function toTask (row: TaskRow): Task {
  return {
    id: row.id,
    chatId: row.chat_id,
    number: row.number,
    text: row.text,
    createdAt: row.created_at,
    doneAt: row.done_at,
    dueAt: row.due_at,
    dueHasTime: row.due_has_time === 1,
    repeat: row.repeat === null ? null : JSON.parse(row.repeat) as RepeatRule,
    remindBeforeMin: row.remind_before_min,
    remindAt: row.remind_at,
  }
}

function scheduleColumns (s: Partial<Schedule>): Record<string, unknown> {
  return {
    due_at: s.dueAt ?? null,
    due_has_time: s.dueHasTime === true ? 1 : 0,
    repeat: s.repeat === undefined || s.repeat === null ? null : JSON.stringify(s.repeat),
    remind_before_min: s.remindBeforeMin ?? null,
    remind_at: s.remindAt ?? null,
  }
}

export type TaskCounts = { chats: number, open: number, done: number }
type TaskCountsRow = { chats: number | string, open: number | string | null, done: number | string | null }

/** Chats with tasks, open and done tasks: one pass over the table (health runs it off the main thread on SQLite). */
export const TASK_COUNTS_SQL = 'select count(distinct chat_id) as chats, sum(case when done_at is null then 1 else 0 end) as open, sum(case when done_at is null then 0 else 1 end) as done from tasks where deleted_at is null'

/** PostgreSQL answers counts and sums as strings. */
export function taskCountsOf (row: TaskCountsRow | undefined): TaskCounts {
  return { chats: Number(row?.chats ?? 0), open: Number(row?.open ?? 0), done: Number(row?.done ?? 0) }
}

/** Tasks per insert statement (an /import brings thousands; SQLite binds at most 32 766 values). */
const INSERT_ROWS = 200

export class TaskRepository {
  constructor (private readonly db: Knex | Knex.Transaction, private readonly now: () => number) {}

  private live (chatId: number): Knex.QueryBuilder {
    return this.db('tasks').where({ chat_id: chatId }).whereNull('deleted_at')
  }

  async add (chatId: number, tasks: ReadonlyArray<string | NewTask>): Promise<Task[]> {
    const at = this.now()
    const texts = tasks.map((t) => typeof t === 'string' ? { text: t } : t)
    if (texts.length === 0) return []
    // The chat's numbers are reserved in one statement: it creates the chat's row or moves its
    // counter on, and on PostgreSQL holds that row's lock to the end of the transaction, so two
    // processes adding to one chat at once get distinct numbers (SQLite has one writer anyway).
    // It was three (ensure, read, update) and the rows read back after the insert.
    const reserve = this.db('chats').insert({ id: chatId, next_number: 1 + texts.length, created_at: at })
      .onConflict('id').merge({ next_number: this.db.raw('?? + ?', ['chats.next_number', texts.length]) })
      .returning('next_number')
    const rowOf = (t: NewTask, number: number | Knex.Raw): Record<string, unknown> =>
      ({ chat_id: chatId, number, text: t.text, created_at: t.createdAt ?? at, updated_at: at, done_at: t.doneAt ?? null, ...scheduleColumns(t) })
    const added: TaskRow[] = []
    if (engineOf(this.db) === 'postgres' && texts.length <= INSERT_ROWS) {
      // PostgreSQL: the reservation runs inside the insert (a data-modifying WITH, run once), so
      // an /add is one round trip; each row takes its number from the reserved ones.
      const rows = texts.map((t, i) => rowOf(t, this.db.raw('(select next_number - ? from reserved)', [texts.length - i])))
      added.push(...await this.db.with('reserved', reserve).insert(rows).into('tasks').returning(COLUMNS) as TaskRow[])
    } else {
      const reserved = await reserve as Array<{ next_number: number | string }>
      const first = Number(reserved[0]?.next_number) - texts.length
      const rows = texts.map((t, i) => rowOf(t, first + i))
      for (let i = 0; i < rows.length; i += INSERT_ROWS) added.push(...await this.db('tasks').insert(rows.slice(i, i + INSERT_ROWS)).returning(COLUMNS) as TaskRow[])
    }
    return added.map(toTask).sort((a, b) => a.number - b.number)
  }

  /** Open tasks: the ones with a due date first, soonest first, then by number. */
  async open (chatId: number): Promise<Task[]> {
    const rows = await this.live(chatId).whereNull('done_at').orderByRaw('due_at is null, due_at, number').select(COLUMNS)
    return rows.map(toTask)
  }

  /** One page of open(): only the rows shown are read. */
  async openPage (chatId: number, offset: number, limit: number): Promise<Task[]> {
    const rows = await this.live(chatId).whereNull('done_at').orderByRaw('due_at is null, due_at, number').limit(limit).offset(offset).select(COLUMNS)
    return rows.map(toTask)
  }

  /**
   * openPage and countOpen in one statement (a round trip less on PostgreSQL). The count rides on
   * the rows, so a page past the end comes back without it: `count` is then undefined.
   */
  async openPageCounted (chatId: number, offset: number, limit: number): Promise<{ tasks: Task[], count: number | undefined }> {
    const count = this.live(chatId).whereNull('done_at').count('*')
    const rows = await this.live(chatId).whereNull('done_at').orderByRaw('due_at is null, due_at, number').limit(limit).offset(offset)
      .select([...COLUMNS, this.db.raw('(?) as open_count', [count])]) as Array<TaskRow & { open_count: number | string }>
    return { tasks: rows.map(toTask), count: rows[0] === undefined ? undefined : Number(rows[0].open_count) }
  }

  async countOpen (chatId: number): Promise<number> {
    const row = await this.live(chatId).whereNull('done_at').count({ n: '*' }).first() as { n: number }
    return Number(row.n)
  }

  /** Open tasks due before `until` (overdue ones included), soonest first. */
  async dueBefore (chatId: number, until: number): Promise<Task[]> {
    const rows = await this.live(chatId).whereNull('done_at').whereNotNull('due_at').where('due_at', '<', until).orderBy(['due_at', 'number']).select(COLUMNS)
    return rows.map(toTask)
  }

  /** Open tasks with a due date (for re-anchoring them to a new time zone). */
  async openWithDue (chatId: number): Promise<Task[]> {
    const rows = await this.live(chatId).whereNull('done_at').whereNotNull('due_at').select(COLUMNS)
    return rows.map(toTask)
  }

  async setSchedule (chatId: number, id: number, schedule: Schedule): Promise<void> {
    await this.live(chatId).where({ id }).update({ ...scheduleColumns(schedule), updated_at: this.now() })
  }

  async setRemindAt (chatId: number, id: number, remindAt: number | null): Promise<void> {
    await this.live(chatId).where({ id }).update({ remind_at: remindAt, updated_at: this.now() })
  }

  async doneSince (chatId: number, since: number): Promise<Task[]> {
    const rows = await this.live(chatId).where('done_at', '>=', since).orderBy('number').select(COLUMNS)
    return rows.map(toTask)
  }

  async byNumbers (chatId: number, numbers: readonly number[]): Promise<Task[]> {
    const rows: TaskRow[] = []
    for (let i = 0; i < numbers.length; i += 500) {
      rows.push(...await this.live(chatId).whereIn('number', numbers.slice(i, i + 500)).select(COLUMNS))
    }
    return rows.map(toTask).sort((a, b) => a.number - b.number)
  }

  async byId (chatId: number, id: number): Promise<Task | undefined> {
    const row = await this.live(chatId).where({ id }).first(COLUMNS) as TaskRow | undefined
    return row === undefined ? undefined : toTask(row)
  }

  /**
   * The tasks with these numbers, as they were, and the open ones among them completed. On
   * PostgreSQL one statement (a /done is then 2 round trips, not 3): the rows are read under lock
   * in a WITH and updated by a data-modifying WITH, which sees them as they were. SQLite: a read
   * and an update (no round trips to save in-process).
   */
  async completeByNumbers (chatId: number, numbers: readonly number[]): Promise<Task[]> {
    if (engineOf(this.db) !== 'postgres' || numbers.length > 500) {
      const found = await this.byNumbers(chatId, numbers)
      await this.complete(chatId, found.filter((t) => t.doneAt === null).map((t) => t.id))
      return found
    }
    const at = this.now()
    const found = this.live(chatId).whereIn('number', numbers).select(COLUMNS).forUpdate()
    const completing = this.db('tasks').whereIn('id', this.db('found').select('id').whereNull('done_at')).update({ done_at: at, remind_at: null, updated_at: at })
    const rows = await this.db.with('found', found).with('completing', completing).select(COLUMNS).from('found') as TaskRow[]
    return rows.map(toTask).sort((a, b) => a.number - b.number)
  }

  async complete (chatId: number, ids: readonly number[]): Promise<void> {
    const at = this.now()
    await this.live(chatId).whereIn('id', ids).whereNull('done_at').update({ done_at: at, remind_at: null, updated_at: at })
  }

  async reopen (chatId: number, ids: readonly number[]): Promise<void> {
    await this.live(chatId).whereIn('id', ids).update({ done_at: null, updated_at: this.now() })
  }

  async edit (chatId: number, id: number, text: string): Promise<void> {
    await this.live(chatId).where({ id }).update({ text, updated_at: this.now() })
  }

  /** Soft delete: `batch` (the update id) lets one Undo bring back exactly what it removed. */
  async remove (chatId: number, ids: readonly number[], batch: number): Promise<void> {
    const at = this.now()
    await this.live(chatId).whereIn('id', ids).update({ deleted_at: at, deleted_batch: batch, updated_at: at })
  }

  async removeDone (chatId: number, batch: number): Promise<number> {
    const at = this.now()
    return await this.live(chatId).whereNotNull('done_at').update({ deleted_at: at, deleted_batch: batch, updated_at: at })
  }

  async countDone (chatId: number): Promise<number> {
    const row = await this.live(chatId).whereNotNull('done_at').count({ n: '*' }).first() as { n: number }
    return Number(row.n)
  }

  async restore (chatId: number, batch: number): Promise<Task[]> {
    const rows = await this.db('tasks').where({ chat_id: chatId, deleted_batch: batch }).whereNotNull('deleted_at').select(COLUMNS)
    if (rows.length === 0) return []
    await this.db('tasks').where({ chat_id: chatId, deleted_batch: batch }).update({ deleted_at: null, deleted_batch: null, updated_at: this.now() })
    return (rows as TaskRow[]).map(toTask).sort((a, b) => a.number - b.number)
  }

  /** Totals for health: numbers only, never text. */
  async counts (): Promise<TaskCounts> {
    const rows = await this.db.raw(TASK_COUNTS_SQL) as Array<TaskCountsRow> | { rows: TaskCountsRow[] }
    return taskCountsOf((Array.isArray(rows) ? rows : rows.rows)[0])
  }
}
