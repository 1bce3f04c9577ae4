// @ts-check
// BACKUP_COPY_COMMAND without a shell: the setting is split into words once, when it is read
// (quotes and backslashes as a shell reads them, nothing else: no variables, globs or pipes), and
// {file} and {name} are then replaced inside each word, so a value is never split again.

/**
 * Words of a command line: whitespace separates, '…' keeps everything, "…" keeps everything but
 * \" and \\, a backslash outside quotes keeps the next character.
 * @param {string} line @returns {{ words: string[] } | { problem: string }}
 */
export function splitCommand (line) {
  /** @type {string[]} */
  const words = []
  let word = ''
  let inWord = false
  /** @type {"'" | '"' | null} */
  let quote = null
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i] ?? ''
    if (quote === "'") {
      if (c === "'") quote = null
      else word += c
    } else if (quote === '"') {
      if (c === '"') quote = null
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i]
      else word += c
    } else if (c === "'" || c === '"') {
      quote = c
      inWord = true
    } else if (c === '\\') {
      if (i + 1 >= line.length) return { problem: 'ends with a lone backslash' }
      word += line[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += c
      inWord = true
    }
  }
  if (quote !== null) return { problem: `has an unclosed ${quote === '"' ? 'double' : 'single'} quote` }
  if (inWord) words.push(word)
  if (words.length === 0) return { problem: 'is empty' }
  return { words }
}

/** The argv for one file: {file} and {name} replaced inside each word, never re-split. @param {readonly string[]} words @param {{ file: string, name: string }} values */
export function commandFor (words, values) {
  return words.map((w) => w.replaceAll('{file}', values.file).replaceAll('{name}', values.name))
}
