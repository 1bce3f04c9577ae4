// /health: the same summary as GET /healthz, for the people allowed to use the bot.
import type { Health } from '../health.js'
import { escapeHtml } from '../tasks/render.js'
import type { CommandSpec } from './types.js'

function ago (iso: string | null, now: number): string {
  if (iso === null) return 'never'
  return `${Math.max(0, Math.round((now - Date.parse(iso)) / 1000))} s ago`
}

export function formatHealth (h: Health, now = Date.now()): string {
  const lines = [
    `${h.status === 'ok' ? '✅' : '⚠️'} <b>${h.status === 'ok' ? 'Healthy' : h.status === 'degraded' ? 'Healthy, with a backup problem' : 'Not healthy'}</b>`,
    ...h.problems.map((p) => `• ${escapeHtml(p)}`),
    `Version: <code>${escapeHtml(h.version.slice(0, 12))}</code>, up ${h.uptimeS} s`,
    formatMode(h, now),
    ...(h.instance.several ? [`Instance: ${escapeHtml(h.instance.name)}, ${h.instance.leads ? 'leads (runs reminders, digests, backups)' : 'does not lead'}`] : []),
    `Database: ${h.database.ok ? 'ok' : escapeHtml(h.database.check)}; schema ${escapeHtml(h.schema.current ?? 'none')}${h.schema.pending.length > 0 ? `, ${h.schema.pending.length} pending` : ''}`,
  ]
  if (h.tasks !== null) lines.push(`Tasks: ${h.tasks.open} open, ${h.tasks.done} done, in ${h.tasks.chats} chat${h.tasks.chats === 1 ? '' : 's'}`)
  if (h.instance.several && !h.instance.leads) {
    lines.push('Reminders, digests and backups: run by the leading instance')
  } else if (h.reminders !== null) {
    const r = h.reminders
    lines.push(`Reminders: ${r.running ? 'running' : 'stopped'}, next ${r.nextDueAt === null ? 'none' : r.nextDueAt.slice(0, 16).replace('T', ' ') + ' UTC'}, last sent ${r.lastSentAt === null ? 'never' : r.lastSentAt.slice(0, 16).replace('T', ' ') + ' UTC'}, backlog ${r.backlog}`)
  }
  if (h.backups != null) lines.push(formatBackups(h.backups))
  lines.push(`Updates: ${h.metrics.updates} handled, ${h.metrics.errors} errors, p50 ${h.metrics.p50Ms ?? '–'} ms, p99 ${h.metrics.p99Ms ?? '–'} ms`)
  return lines.join('\n')
}

function formatMode (h: Health, now: number): string {
  if (h.webhook === null) return `Mode: polling, last poll ${ago(h.lastPollAt, now)}`
  const t = h.webhook.telegram
  const pending = t.pendingUpdateCount === null ? 'pending unknown' : `${t.pendingUpdateCount} pending`
  const error = t.lastErrorMessage === null ? 'no delivery error' : `last error "${escapeHtml(t.lastErrorMessage)}"${t.lastErrorAt === null ? '' : ` at ${t.lastErrorAt.slice(0, 16).replace('T', ' ')} UTC`}`
  return `Mode: webhook on ${escapeHtml(h.webhook.listen)}; Telegram: ${pending}, ${error}`
}

function formatBackups (b: NonNullable<Health['backups']>): string {
  const when = (iso: string | null): string => iso === null ? 'never' : `${iso.slice(0, 16).replace('T', ' ')} UTC`
  const parts = [`last ${b.last === null ? 'none' : `${escapeHtml(b.last.file)} (${when(b.last.at)})`}`]
  if (b.lastCopy !== null) parts.push(`copy ${b.lastCopy.ok ? 'ok' : 'failed'}`)
  if (b.lastDrill !== null) parts.push(`drill ${b.lastDrill.ok ? 'ok' : `failed at ${escapeHtml(b.lastDrill.step ?? '')}`} (${when(b.lastDrill.at)})`)
  return `Backups: ${parts.join(', ')}${b.problem === null ? '' : `\n• ${escapeHtml(b.problem)}`}`
}

export function healthCommand (health: () => Promise<Health>): CommandSpec {
  return {
    name: 'health',
    description: 'Is the bot well?',
    handler: async (turn) => turn.reply(formatHealth(await health())),
  }
}
