// parse_mode HTML as Telegram (tdlib) parses it: the supported tags, the entity decoding, and
// the exact "can't parse entities" reasons with UTF-8 byte offsets.
import type { MessageEntity } from './types.js'
import { cantParseEntities } from './telegram-errors.js'

const TAG_TYPES: Record<string, string> = {
  a: 'text_link', b: 'bold', strong: 'bold', i: 'italic', em: 'italic', u: 'underline', ins: 'underline',
  s: 'strikethrough', strike: 'strikethrough', del: 'strikethrough', 'tg-spoiler': 'spoiler', span: 'spoiler',
  'tg-emoji': 'custom_emoji', pre: 'pre', code: 'code', blockquote: 'blockquote',
}
const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' }

type OpenTag = { name: string, argument: string, offset: number, expandable: boolean }
export type FormattedText = { text: string, entities: MessageEntity[] }

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n'
const isNameChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9.-]/.test(c)

/**
 * Decodes the entity at `pos` (which holds '&'); tdlib accepts it without the ';' too.
 * An '&' that starts no known entity is kept as a literal character, as Telegram does.
 */
function decodeEntity (s: string, pos: number): { char: string, end: number } | undefined {
  let end = pos + 1
  let code = 0
  if (s[end] === '#') {
    end++
    const hex = s[end] === 'x'
    if (hex) end++
    const digits = hex ? /[0-9a-fA-F]/ : /[0-9]/
    while (end < s.length && digits.test(s[end] ?? '')) {
      code = code * (hex ? 16 : 10) + parseInt(s[end] ?? '0', 16)
      end++
      if (code >= 0x10ffff) return undefined
    }
    if (code === 0 || (code >= 0xd800 && code <= 0xdfff)) return undefined
  } else {
    while (end < s.length && /[A-Za-z]/.test(s[end] ?? '')) end++
    const named = NAMED_ENTITIES[s.slice(pos + 1, end)]
    if (named === undefined) return undefined
    code = named.charCodeAt(0)
  }
  if (s[end] === ';') end++
  return { char: String.fromCodePoint(code), end }
}

export function parseHtml (html: string): FormattedText {
  const byteOffset = (pos: number): number => Buffer.byteLength(html.slice(0, pos), 'utf8')
  const open: OpenTag[] = []
  const entities: MessageEntity[] = []
  let text = ''
  let i = 0
  while (i < html.length) {
    const c = html[i]
    if (c === '&') {
      const decoded = decodeEntity(html, i)
      if (decoded !== undefined) {
        text += decoded.char
        i = decoded.end
        continue
      }
    }
    if (c !== '<') {
      text += c
      i++
      continue
    }
    const begin = i++
    if (html[i] !== '/') {
      while (i < html.length && !isSpace(html[i]) && html[i] !== '>') i++
      if (i >= html.length) throw cantParseEntities(`Unclosed start tag at byte offset ${byteOffset(begin)}`)
      const name = html.slice(begin + 1, i).toLowerCase()
      if (TAG_TYPES[name] === undefined) {
        throw cantParseEntities(`Unsupported start tag "${name}" at byte offset ${byteOffset(begin)}`)
      }
      const tag: OpenTag = { name, argument: '', offset: text.length, expandable: false }
      i = readAttributes(html, i, tag, byteOffset(begin))
      if (name === 'span' && tag.argument !== 'spoiler') {
        throw cantParseEntities(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(begin)}`)
      }
      open.push(tag)
      i++ // past '>'
    } else {
      const last = open.pop()
      if (last === undefined) throw cantParseEntities(`Unexpected end tag at byte offset ${byteOffset(begin)}`)
      i++
      while (i < html.length && !isSpace(html[i]) && html[i] !== '>') i++
      const endName = html.slice(begin + 2, i)
      while (i < html.length && isSpace(html[i])) i++
      if (html[i] !== '>') throw cantParseEntities(`Unclosed end tag at byte offset ${byteOffset(begin)}`)
      if (endName !== '' && endName !== last.name) {
        throw cantParseEntities(`Unmatched end tag at byte offset ${byteOffset(begin)}, expected "</${last.name}>", found "</${endName}>"`)
      }
      i++
      addEntity(entities, last, text.length, open.at(-1))
    }
  }
  const unclosed = open.at(-1)
  if (unclosed !== undefined) throw cantParseEntities(`Can't find end tag corresponding to start tag "${unclosed.name}"`)
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length)
  return { text, entities }
}

/** Reads attributes up to (not past) the closing '>'; keeps only the ones Telegram uses. */
function readAttributes (html: string, start: number, tag: OpenTag, beginByte: number): number {
  let i = start
  while (html[i] !== '>') {
    while (i < html.length && isSpace(html[i])) i++
    if (html[i] === '>') break
    const nameStart = i
    while (i < html.length && !isSpace(html[i]) && html[i] !== '=' && html[i] !== '>') i++
    const attribute = html.slice(nameStart, i)
    if (attribute === '') throw cantParseEntities(`Empty attribute name in the tag "${tag.name}" at byte offset ${beginByte}`)
    while (i < html.length && isSpace(html[i])) i++
    if (html[i] !== '=') {
      if (tag.name === 'blockquote' && attribute === 'expandable') {
        tag.expandable = true
        continue
      }
      throw cantParseEntities(`Expected equal sign in declaration of an attribute of the tag "${tag.name}" at byte offset ${beginByte}`)
    }
    i++
    while (i < html.length && isSpace(html[i])) i++
    if (i >= html.length) throw cantParseEntities(`Unclosed start tag "${tag.name}" at byte offset ${beginByte}`)
    let value = ''
    const quote = html[i]
    if (quote !== '"' && quote !== "'") {
      const tokenStart = i
      while (isNameChar(html[i])) i++
      value = html.slice(tokenStart, i).toLowerCase()
      if (!isSpace(html[i]) && html[i] !== '>') {
        throw cantParseEntities(`Unexpected end of name token at byte offset ${Buffer.byteLength(html.slice(0, tokenStart), 'utf8')}`)
      }
    } else {
      i++
      while (i < html.length && html[i] !== quote) {
        const decoded = html[i] === '&' ? decodeEntity(html, i) : undefined
        if (decoded !== undefined) {
          value += decoded.char
          i = decoded.end
        } else {
          value += html[i]
          i++
        }
      }
      if (html[i] === quote) i++
    }
    if (i >= html.length) throw cantParseEntities(`Unclosed start tag at byte offset ${beginByte}`)
    if (tag.name === 'a' && attribute === 'href') tag.argument = value
    else if (tag.name === 'code' && attribute === 'class' && value.startsWith('language-')) tag.argument = value.slice(9)
    else if (tag.name === 'span' && attribute === 'class' && value.startsWith('tg-')) tag.argument = value.slice(3)
    else if (tag.name === 'tg-emoji' && attribute === 'emoji-id') tag.argument = value
  }
  return i
}

function addEntity (entities: MessageEntity[], tag: OpenTag, end: number, parent: OpenTag | undefined): void {
  const length = end - tag.offset
  if (length <= 0) return
  // <pre><code class="language-x"> is one pre entity with a language, as in tdlib.
  if (tag.name === 'code' && parent?.name === 'pre' && parent.offset === tag.offset) {
    if (tag.argument !== '') parent.argument = tag.argument
    return
  }
  const type = tag.name === 'blockquote' && tag.expandable ? 'expandable_blockquote' : TAG_TYPES[tag.name] ?? 'bold'
  const entity: MessageEntity = { type, offset: tag.offset, length }
  if (type === 'text_link') {
    if (tag.argument === '') return // tdlib drops a link without a URL and keeps the text
    entity.url = tag.argument
  }
  if (type === 'custom_emoji') entity.custom_emoji_id = tag.argument
  if (type === 'pre' && tag.argument !== '') entity.language = tag.argument
  entities.push(entity)
}
