// Restoring a backup must not make the bot answer twice. Kept apart (only better-sqlite3) so that
// ops/restore.mjs can load it cheaply, as the take-over does.
import Sqlite from 'better-sqlite3'

/**
 * After a backup is put in place (a rollback's take-over, ops/restore.mjs): the ids of the
 * updates the replaced database handled after the backup was taken go into the restored one. Their changes stay out (that is the restore; they are
 * in the kept copy), but the outgoing version answered them, and Telegram sends again the last
 * batch it handled (it learns the offset only from the next getUpdates): without their ids the
 * restored database would apply and answer those a second time (seen in the 100 MB hand-over
 * bench: one command answered twice). Polling then resumes after the newest id, as before.
 */
export function carryHandledIds (replacedFile: string, restoredFile: string): number {
  const replaced = new Sqlite(replacedFile, { readonly: true, fileMustExist: true })
  const restored = new Sqlite(restoredFile, { timeout: 5000 })
  try {
    const hasTable = (db: Sqlite.Database): boolean => db.prepare("select 1 from sqlite_master where type = 'table' and name = 'handled_updates'").get() !== undefined
    if (!hasTable(replaced) || !hasTable(restored)) return 0
    const newest = Number((restored.prepare('select coalesce(max(update_id), 0) as n from handled_updates').get() as { n: number }).n)
    const rows = replaced.prepare('select update_id, handled_at from handled_updates where update_id > ?').all(newest) as Array<{ update_id: number, handled_at: number }>
    const insert = restored.prepare('insert or ignore into handled_updates (update_id, handled_at) values (?, ?)')
    restored.transaction(() => { for (const r of rows) insert.run(r.update_id, r.handled_at) })()
    return rows.length
  } finally {
    replaced.close()
    restored.close()
  }
}
