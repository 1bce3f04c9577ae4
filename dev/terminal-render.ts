// Shows the bot's HTML replies in a terminal: bold and strike-through as ANSI, entities decoded.
const ANSI = process.stdout.isTTY === true

export function renderForTerminal (html: string): string {
  const styled = html
    .replace(/<b>([\s\S]*?)<\/b>/g, ANSI ? '\u001b[1m$1\u001b[22m' : '$1')
    .replace(/<s>([\s\S]*?)<\/s>/g, ANSI ? '\u001b[9m$1\u001b[29m' : '$1')
    .replace(/<[^>]+>/g, '')
  return styled.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&')
}
