// One writer at a time. better-sqlite3 is synchronous: if a second connection writes while the
// first holds an open transaction across an await, SQLite's busy wait blocks the event loop and
// with it the transaction it waits for. So everything that writes (an update with its delivery,
// the outbox flush, the reminder loop's claims) takes turns through this gate.
export class WriteGate {
  private tail: Promise<unknown> = Promise.resolve()

  run<T> (fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn)
    this.tail = result.catch(() => {})
    return result
  }
}
