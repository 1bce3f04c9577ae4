// One line per key: jobs with the same key (a chat) run one at a time in the order they were
// queued; jobs with different keys run side by side. A key's entry is dropped when its line empties.
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>()

  run<T> (key: string, job: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve()
    const result = before.then(job)
    const tail = result.then(() => {}, () => {})
    this.tails.set(key, tail)
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key) })
    return result
  }

  /** Keys with a job running or waiting. */
  get size (): number { return this.tails.size }
}
