// The file download route, GET /file/bot<token>/<file_path>: the bytes of a stored file as
// Telegram serves them, 404 for a wrong token or path; faults and delays under the name 'file'.
import type { ServerResponse } from 'node:http'
import { faultError, type FaultBook } from './faults.js'
import type { FileStore } from './files.js'
import { TelegramError, type Envelope } from './telegram-errors.js'
import type { ApiCall } from './types.js'

export type DownloadContext = {
  token: string
  files: FileStore
  faults: FaultBook
  log: ApiCall[]
  answer: (res: ServerResponse, call: ApiCall, status: number, envelope: Envelope) => void
}

export function serveDownload (url: URL, res: ServerResponse, ctx: DownloadContext): void {
  const route = /^\/file\/bot([^/]*)\/(.+)$/.exec(url.pathname)
  // The log names the path only: the token stays out of what tests print.
  const call: ApiCall = { method: 'file', params: { path: route?.[2] ?? url.pathname }, at: Date.now(), status: 0 }
  ctx.log.push(call)
  const fault = ctx.faults.take('file')
  const file = route !== null && decodeURIComponent(route[1] ?? '') === ctx.token ? ctx.files.atPath(decodeURIComponent(route[2] ?? '')) : undefined
  if (fault !== undefined && 'drop' in fault) {
    res.destroy()
    return
  }
  const failed = fault === undefined ? undefined : faultError(fault)
  if (failed !== undefined || file === undefined) {
    ctx.answer(res, call, failed?.status ?? 404, (failed ?? new TelegramError(404)).envelope())
    return
  }
  call.status = 200
  const send = (): void => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.data.length })
    res.end(file.data)
  }
  const delay = fault !== undefined && 'hangMs' in fault ? fault.hangMs : ctx.faults.delayFor('file')
  // unref: a held download must not keep a test process alive after the emulator stopped.
  if (delay > 0) setTimeout(() => { if (!res.destroyed) send() }, delay).unref()
  else send()
}
