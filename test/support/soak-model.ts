// The soak's model of the bot: what each command should do to a chat's tasks, applied in the order
// the commands are sent (the bot handles updates one at a time, in update_id order), so the final
// database can be compared row by row. Also the seeded PRNG that makes a failing run reproducible.

export type ModelTask = { number: number, text: string, done: boolean, deleted: boolean, batch: number | null }

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class ChatModel {
  readonly tasks: ModelTask[] = []

  get nextNumber (): number { return this.tasks.length + 1 }

  private live (n: number): ModelTask | undefined {
    const task = this.tasks[n - 1]
    return task === undefined || task.deleted ? undefined : task
  }

  add (texts: readonly string[]): void {
    for (const text of texts) this.tasks.push({ number: this.nextNumber, text, done: false, deleted: false, batch: null })
  }

  done (numbers: readonly number[]): void {
    for (const n of numbers) {
      const task = this.live(n)
      if (task !== undefined) task.done = true
    }
  }

  reopen (numbers: readonly number[]): void {
    for (const n of numbers) {
      const task = this.live(n)
      if (task !== undefined) task.done = false
    }
  }

  edit (n: number, text: string): void {
    const task = this.live(n)
    if (task !== undefined) task.text = text
  }

  remove (numbers: readonly number[], batch: number): void {
    for (const n of numbers) {
      const task = this.live(n)
      if (task === undefined) continue
      task.deleted = true
      task.batch = batch
    }
  }

  restore (batch: number): void {
    for (const task of this.tasks) {
      if (task.deleted && task.batch === batch) {
        task.deleted = false
        task.batch = null
      }
    }
  }

  /** A number that exists (live or not) most of the time, sometimes one past the end. */
  pickNumber (random: () => number): number {
    if (this.tasks.length === 0 || random() < 0.05) return this.nextNumber + Math.floor(random() * 3)
    return 1 + Math.floor(random() * this.tasks.length)
  }
}
