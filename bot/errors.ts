// The base error of Mister_Todo: a stable `code` to branch on, and the `cause` kept.

export class AppError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** Input a user typed that we cannot act on; the message is shown to them as is. */
export class UserInputError extends AppError {
  constructor (message: string) {
    super('EINPUT', message)
  }
}
