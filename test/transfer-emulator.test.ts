// The emulator's files, as the bot's client uses them: sendDocument as a multipart upload,
// getFile, the download route, documents users send and replies quoting them, and Telegram's
// limits (20 MB to download, 50 MB to upload, 1,024-character captions).
import t from 'tap'
import { Api, InputFile, TelegramApiError } from 'node-telegram-bot-api'
import { BotApiEmulator } from '../dev/emulator/bot-api-emulator.js'

const USER = 42

async function start (t: { teardown: (fn: () => unknown) => void }): Promise<{ emu: BotApiEmulator, api: Api }> {
  const emu = await BotApiEmulator.start()
  t.teardown(() => emu.stop())
  emu.sendText(USER, USER, '/start')
  return { emu, api: new Api(emu.token, { apiRoot: emu.apiRoot, maxRetries: 0 }) }
}

const apiError = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p
    return 'no error'
  } catch (err) {
    return err instanceof TelegramApiError ? `${err.errorCode} ${err.description}` : String(err)
  }
}

t.test('emulator files: sendDocument takes a multipart upload; getFile and the download give the bytes back', async (t) => {
  const { emu, api } = await start(t)
  const bytes = Buffer.from('{"tasks":[]}\n', 'utf8')
  const sent = await api.sendDocument({ chat_id: USER, caption: '<b>12</b> tasks', parse_mode: 'HTML', document: new InputFile(bytes, { filename: 'mister "todo".json', contentType: 'application/json' }) })
  t.match(sent, { chat: { id: USER }, caption: '12 tasks', caption_entities: [{ type: 'bold', offset: 0, length: 2 }], document: { file_name: 'mister "todo".json', mime_type: 'application/json', file_size: bytes.length } })
  t.notOk('text' in sent, 'a document has a caption, not a text')
  const message = emu.messages(USER).at(-1)
  t.match(message, { text: '<b>12</b> tasks', rendered: '12 tasks', document: { file_id: sent.document?.file_id } })
  t.same(emu.fileBytes(sent.document?.file_id ?? ''), bytes)
  t.match(emu.calls('sendDocument')[0]?.params, { document: { file: 'mister %22todo%22.json', size: bytes.length } })

  const file = await api.getFile({ file_id: sent.document?.file_id ?? '' })
  t.match(file, { file_id: sent.document?.file_id, file_size: bytes.length, file_path: /^documents\/file_\d+\.json$/ })
  const download = await fetch(`${emu.apiRoot}/file/bot${emu.token}/${file.file_path}`)
  t.equal(download.status, 200)
  t.same(Buffer.from(await download.arrayBuffer()), bytes)
  t.equal((await fetch(`${emu.apiRoot}/file/bot123:wrong/${file.file_path}`)).status, 404, 'a wrong token finds nothing')
  t.same(await (await fetch(`${emu.apiRoot}/file/bot${emu.token}/documents/nope.txt`)).json(), { ok: false, error_code: 404, description: 'Not Found' })

  const again = await api.sendDocument({ chat_id: USER, document: sent.document?.file_id ?? '' })
  t.equal(again.document?.file_id, sent.document?.file_id, 'a known file_id is sent again without an upload')
})

t.test('emulator files: Telegram\'s refusals and limits', async (t) => {
  const { emu, api } = await start(t)
  const doc = (data: Uint8Array): InputFile => new InputFile(data, { filename: 'a.txt' })
  t.equal(await apiError(api.sendDocument({ chat_id: USER, document: doc(new Uint8Array(0)) })), '400 Bad Request: file must be non-empty')
  t.equal(await apiError(api.sendDocument({ chat_id: USER, document: 'no-such-file' })), '400 Bad Request: wrong file identifier/HTTP URL specified')
  t.equal(await apiError(api.sendDocument({ chat_id: USER, document: doc(Buffer.from('x')), caption: 'c'.repeat(1025) })), '400 Bad Request: message caption is too long')
  t.equal(await apiError(api.sendDocument({ chat_id: 999, document: doc(Buffer.from('x')) })), '400 Bad Request: chat not found')
  t.equal(await apiError(api.sendDocument({ chat_id: USER, document: doc(new Uint8Array(50 * 1024 * 1024 + 1)) })), '413 Request Entity Too Large')
  t.equal(await apiError(api.getFile({ file_id: 'nope' })), '400 Bad Request: invalid file_id')
  const big = emu.sendDocument(USER, USER, { name: 'big.bin', data: Buffer.alloc(20 * 1024 * 1024 + 1) })
  const bigId = (big.message?.document as { file_id: string } | undefined)?.file_id ?? ''
  t.equal(await apiError(api.getFile({ file_id: bigId })), '400 Bad Request: file is too big', 'bots download up to 20 MB')
  t.equal(emu.messages(USER).length, 0, 'nothing refused was shown')
})

t.test('emulator files: a user sends a document with a caption, and replies to it', async (t) => {
  const { emu } = await start(t)
  const sent = emu.sendDocument(USER, USER, { name: 'todo.txt', data: 'buy milk\n', mimeType: 'text/plain', caption: '/import now' })
  t.match(sent.message, {
    from: { id: USER }, chat: { id: USER, type: 'private' }, caption: '/import now',
    caption_entities: [{ type: 'bot_command', offset: 0, length: 7 }],
    document: { file_name: 'todo.txt', mime_type: 'text/plain', file_size: 9 },
  })
  const reply = emu.sendText(USER, USER, '/import', sent.message?.message_id)
  t.match(reply.message?.reply_to_message, { message_id: sent.message?.message_id, document: { file_name: 'todo.txt' }, caption: '/import now' })
  t.notOk((reply.message?.reply_to_message as Record<string, unknown>).reply_to_message, 'the quote does not nest')
})
