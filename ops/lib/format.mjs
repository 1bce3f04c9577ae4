// @ts-check
// How ops output writes numbers, sizes, ages and before/after row-count tables.

/** @param {number} n */
export function formatCount (n) {
  return n.toLocaleString('en-US')
}

/** Decimal units, one decimal place: 2.1 MB. @param {number} bytes */
export function formatBytes (bytes) {
  if (bytes < 1000) return `${bytes} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 'B'
  for (const next of units) {
    if (value < 1000) break
    value /= 1000
    unit = next
  }
  return `${value.toFixed(1)} ${unit}`
}

/** @param {number} ms */
export function formatAge (ms) {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.round(s / 60)} min`
  if (s < 172800) return `${Math.round(s / 3600)} h`
  return `${Math.round(s / 86400)} d`
}

/**
 * Indented columns; the first row is the header. Numbers read best right-aligned, so only the
 * columns listed in `left` are left-aligned.
 * @param {string[][]} rows @param {number[]} [left]
 */
export function formatTable (rows, left = [0]) {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((row) => '  ' + row.map((cell, i) => {
    const width = widths[i] ?? 0
    return left.includes(i) ? cell.padEnd(width) : cell.padStart(width)
  }).join('  ').trimEnd()).join('\n')
}

/**
 * Row counts before and after, one line per table (missing = table absent).
 * @param {Record<string, number> | null} before @param {Record<string, number> | null} after
 */
export function countsTable (before, after) {
  const tables = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])]
    .filter((t) => !t.startsWith('knex_')).sort()
  /** @param {Record<string, number> | null} counts @param {string} t */
  const cell = (counts, t) => counts?.[t] === undefined ? '-' : formatCount(counts[t] ?? 0)
  return formatTable([['table', 'before', 'after'], ...tables.map((t) => [t, cell(before, t), cell(after, t)])])
}
