// Telegram's error answers: the exact descriptions bots see, and the `{ ok: false }` envelope
// that carries them with the matching HTTP status.

/** Descriptions copied from the real Bot API, so tests can assert on what production shows. */
export const DESCRIPTIONS = {
  unauthorized: 'Unauthorized',
  notFound: 'Not Found',
  conflictPolling: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
  conflictWebhook: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
  textEmpty: 'Bad Request: message text is empty',
  textTooLong: 'Bad Request: message is too long',
  chatNotFound: 'Bad Request: chat not found',
  chatIdEmpty: 'Bad Request: chat_id is empty',
  buttonDataInvalid: 'Bad Request: BUTTON_DATA_INVALID',
  textButtonsUnallowed: "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
  keyboardNotArray: 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays',
  markupUnparsable: "Bad Request: can't parse reply keyboard markup JSON object",
  notModified: 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
  editNotFound: 'Bad Request: message to edit not found',
  cantEdit: "Bad Request: message can't be edited",
  deleteNotFound: 'Bad Request: message to delete not found',
  queryInvalid: 'Bad Request: query is too old and response timeout expired or query ID is invalid',
  answerTooLong: 'Bad Request: MESSAGE_TOO_LONG',
  commandInvalid: 'Bad Request: BOT_COMMAND_INVALID',
  parseModeUnsupported: 'Bad Request: unsupported parse_mode',
  tooLarge: 'Request Entity Too Large',
  badJson: "Bad Request: can't parse JSON encoded request",
  webhookHttpsRequired: 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook',
  webhookUrlInvalid: 'Bad Request: bad webhook: Failed to resolve host: Name or service not known',
  webhookSecretInvalid: 'Bad Request: secret token contains unallowed characters',
} as const

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden: bot was blocked by the user',
  404: 'Not Found',
  409: DESCRIPTIONS.conflictPolling,
  413: DESCRIPTIONS.tooLarge,
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
}

export type ResponseParameters = { retry_after?: number, migrate_to_chat_id?: number }

export type Envelope =
  | { ok: true, result: unknown }
  | { ok: false, error_code: number, description: string, parameters?: ResponseParameters }

/** Thrown by a method handler; the router turns it into the error envelope. */
export class TelegramError extends Error {
  readonly status: number
  readonly description: string
  readonly parameters: ResponseParameters | undefined

  constructor (status: number, description?: string, parameters?: ResponseParameters) {
    const text = description ?? STATUS_TEXT[status] ?? `Error ${status}`
    super(text)
    this.name = 'TelegramError'
    this.status = status
    this.description = text
    this.parameters = parameters
  }

  envelope (): Envelope {
    const base = { ok: false as const, error_code: this.status, description: this.description }
    return this.parameters === undefined ? base : { ...base, parameters: this.parameters }
  }
}

export function badRequest (description: string): TelegramError {
  return new TelegramError(400, description)
}

export function tooManyRequests (retryAfter: number): TelegramError {
  return new TelegramError(429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter })
}

/** The "can't parse entities" family, e.g. `Unsupported start tag "br" at byte offset 5`. */
export function cantParseEntities (detail: string): TelegramError {
  return badRequest(`Bad Request: can't parse entities: ${detail}`)
}
