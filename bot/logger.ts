// The one pino logger. Redacts the bot token wherever it could hide: known fields, and any
// string that contains `/bot<token>/` (HTTP errors from the Bot API client carry the URL).
import pino from 'pino'

const TOKEN_IN_TEXT = /\d{5,}:[A-Za-z0-9_-]{20,}/g
// The password of a DATABASE_URL (postgres://user:password@host/db), wherever a library repeats it.
const URL_PASSWORD = /(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi

/** Replaces anything token-shaped, and database URL passwords, in a string; safe to apply to every log line and error text. */
export function scrubSecrets (text: string): string {
  return text.replace(TOKEN_IN_TEXT, '<redacted-token>').replace(URL_PASSWORD, '$1xxxxx@')
}

export type Logger = pino.Logger

/**
 * Standard output as the log's destination, silent for good once nobody reads it (EPIPE: PM2's
 * daemon was killed, or the test that spawned the bot). pino's default destination (sonic-boom
 * 4) retries its flush at exit forever on EPIPE, so such a bot could not be stopped by a signal.
 * Writes to a pipe or a file are synchronous here, as Node makes them on Linux.
 */
export function stdoutLines (out: NodeJS.WriteStream = process.stdout): pino.DestinationStream {
  let gone = false
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    gone = true
  })
  return { write: (line: string) => { if (!gone) out.write(line) } }
}

export function createLogger (level: string, destination?: pino.DestinationStream): Logger {
  return pino({
    level,
    base: { app: 'mister_todo', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['token', '*.token', 'config.token', 'headers.authorization'], censor: '<redacted>' },
    // The last line of defence: whatever an error or a library put in a message is scrubbed.
    hooks: {
      streamWrite: (line) => scrubSecrets(line),
    },
    serializers: {
      err: (err: unknown) => serializeError(err),
    },
  }, destination)
}

function serializeError (err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: scrubSecrets(String(err)) }
  const out: Record<string, unknown> = { type: err.name, message: scrubSecrets(err.message) }
  const code = (err as { code?: unknown }).code
  if (code !== undefined) out.code = code
  if (err.stack !== undefined) out.stack = scrubSecrets(err.stack)
  if (err.cause !== undefined) out.cause = serializeError(err.cause)
  return out
}
