// CPU time spent by processes, from /proc (Linux): which part of a benchmark used the machine.
import fs from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100

type Stat = { ppid: number, own: number, reaped: number }

function statOf (pid: number): Stat | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
    const n = (i: number): number => Number(f[i - 3] ?? 0)
    return { ppid: n(4), own: (n(14) + n(15)) / TICKS_PER_S, reaped: (n(16) + n(17)) / TICKS_PER_S }
  } catch {
    return null
  }
}

/**
 * CPU seconds of `pid` and everything under it: its own, its live descendants', and what its
 * exited children left it (a PostgreSQL backend that ended, a compiler npm ran).
 */
export function treeCpuSeconds (pid: number): number {
  const children = new Map<number, number[]>()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const s = statOf(Number(entry))
    if (s !== null) children.set(s.ppid, [...(children.get(s.ppid) ?? []), Number(entry)])
  }
  const sum = (p: number): number => {
    const s = statOf(p)
    if (s === null) return 0
    return s.own + s.reaped + (children.get(p) ?? []).reduce((acc, c) => acc + sum(c), 0)
  }
  return sum(pid)
}

/** The PostgreSQL server's main process, from its data folder's postmaster.pid. */
export function postmasterPid (dataDir: string): number {
  return Number(fs.readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0])
}
