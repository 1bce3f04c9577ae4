// The running bot's services (instance lock, database, health server, outbox, backups, reminders,
// poller or webhook server) in one stack: each is started in order and pushed with its stop;
// `stop()` stops them in reverse, each stop awaited, so the lock is released only after the
// database is closed and the database only after everything that writes to it has stopped. One
// stop that fails is logged and the rest are still stopped. The same stack unwinds on every path:
// a throw while starting, a signal, a fatal poll error, webhook mode's stop.
import { AppError } from './errors.js'
import type { Logger } from './logger.js'

type Entry = { name: string, stop: () => Promise<void> | void }

function stoppingError (name: string): AppError {
  return new AppError('EABORTED', `not starting ${name}: the bot is stopping`)
}

export class Lifecycle {
  private readonly started: Entry[] = []
  private stopping: Promise<void> | undefined
  private inHand: Promise<void> = Promise.resolve()

  constructor (private readonly logger: Logger) {}

  /**
   * Starts one service: `start` runs now; when it returns, `stop` (given what it returned) is
   * pushed, to run when the bot stops. A start that throws pushes nothing (it left nothing
   * running). A stop asked for meanwhile waits for the start in hand (the lock is not let go of
   * while a migration runs under it), then stops it with the rest; the start then throws EABORTED.
   */
  async start<T> (name: string, start: () => Promise<T> | T, stop: (started: T) => Promise<void> | void): Promise<T> {
    if (this.stopping !== undefined) throw stoppingError(name)
    const run = (async () => {
      const value = await start()
      this.started.push({ name, stop: () => stop(value) })
      return value
    })()
    this.inHand = run.then(() => {}, () => {})
    const value = await run
    if (this.stopping !== undefined) throw stoppingError(name)
    return value
  }

  /** Names of the services running, oldest first (for logs and tests). */
  names (): string[] {
    return this.started.map((e) => e.name)
  }

  get isStopping (): boolean {
    return this.stopping !== undefined
  }

  /** Stops every started service, newest first. Safe to call again: the same stop is returned. */
  stop (): Promise<void> {
    this.stopping ??= (async () => {
      await this.inHand
      for (let entry = this.started.pop(); entry !== undefined; entry = this.started.pop()) await this.stopOne(entry)
    })()
    return this.stopping
  }

  private async stopOne (entry: Entry): Promise<void> {
    try {
      await entry.stop()
      this.logger.debug({ service: entry.name }, 'stopped a service')
    } catch (err) {
      this.logger.error({ err, service: entry.name }, `stopping ${entry.name} failed; stopping the rest anyway`)
    }
  }
}
