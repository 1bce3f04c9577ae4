// Injected trouble: faults for the next N calls or for a time window, and per-method latency.
// A fault replaces the normal answer entirely, so a faulted getUpdates confirms nothing.
import type { Fault } from './types.js'
import { TelegramError, tooManyRequests } from './telegram-errors.js'

type Rule = { method: string, fault: Fault, remaining: number, until: number }

export class FaultBook {
  private rules: Rule[] = []
  private delays = new Map<string, number>()

  failNext (method: string, fault: Fault, times = 1): void {
    if (times > 0) this.rules.push({ method, fault, remaining: times, until: Infinity })
  }

  failFor (method: string, fault: Fault, ms: number): void {
    this.rules.push({ method, fault, remaining: Infinity, until: performance.now() + ms })
  }

  clear (): void {
    this.rules = []
  }

  setDelay (method: string, ms: number): void {
    if (ms > 0) this.delays.set(method, ms)
    else this.delays.delete(method)
  }

  delayFor (method: string): number {
    return this.delays.get(method) ?? 0
  }

  /** The fault this call gets, if any; rules apply in the order they were added. */
  take (method: string): Fault | undefined {
    const now = performance.now()
    this.rules = this.rules.filter((r) => r.remaining > 0 && r.until > now)
    const rule = this.rules.find((r) => r.method === '*' || r.method === method)
    if (rule === undefined) return undefined
    rule.remaining--
    return rule.fault
  }
}

/** The error a status fault answers with; undefined for drop and hang, which answer nothing. */
export function faultError (fault: Fault): TelegramError | undefined {
  if (!('status' in fault)) return undefined
  if (fault.status === 429) return tooManyRequests(fault.retryAfter)
  return new TelegramError(fault.status, fault.description)
}
