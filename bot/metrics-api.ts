// Bot API failures by method and code, counted where every call passes: the fetch given to
// node-telegram-bot-api. Each attempt counts (a retried 502 twice). The method is the URL's last
// path segment; the URL itself holds the token and is never kept.
export type ApiErrorKey = { method: string, code: string }

export class ApiErrorCounter {
  private readonly counts = new Map<string, number>()

  constructor (private readonly inner: typeof fetch = globalThis.fetch) {}

  /** What the library calls instead of fetch. */
  readonly fetch: typeof fetch = async (input, init) => {
    const method = methodOf(input)
    try {
      const res = await this.inner(input, init)
      if (!res.ok) this.add(method, String(res.status))
      return res
    } catch (err) {
      const name = err instanceof Error ? err.name : ''
      // AbortError: the bot stopped polling on purpose; not a failure of the API.
      if (name !== 'AbortError') this.add(method, name === 'TimeoutError' ? 'timeout' : 'network')
      throw err
    }
  }

  entries (): Array<ApiErrorKey & { count: number }> {
    return [...this.counts].map(([key, count]) => {
      const [method = '', code = ''] = key.split(' ')
      return { method, code, count }
    })
  }

  private add (method: string, code: string): void {
    const key = `${method} ${code}`
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }
}

function methodOf (input: Parameters<typeof fetch>[0]): string {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
  const last = url.split('?')[0]?.split('/').at(-1) ?? ''
  return /^[A-Za-z]{1,64}$/.test(last) ? last : 'other'
}
