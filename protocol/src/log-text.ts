/**
 * Text from outside (a participant's name, agent or reason, an event name, a file name) made safe
 * for one log line: every control character, including newline, carriage return, ESC (so no ANSI
 * escape sequence reaches a terminal), the C1 controls (0x80–0x9F, among them the one-byte CSI
 * 0x9B), the Unicode line and paragraph separators and the bidirectional overrides (which reorder
 * what a terminal shows, "Trojan Source", CVE-2021-42574) is written out visibly as `\n`, `\r`,
 * `\t`, `\xHH` or `\u{HHHH}`, and the result is at most `maxLength` characters.
 *
 * Backslashes are left as they are, so escaping twice changes nothing: each sink may escape what it
 * prints without knowing whether a caller already did.
 */
export function escapeText(text: string, maxLength = 500): string {
  if (!Number.isInteger(maxLength) || maxLength < 32)
    throw new RangeError(`escapeText: expected a maxLength of at least 32, got ${maxLength}`)
  const pieces: string[] = []
  let length = 0
  for (const char of text) {
    const piece = escapeChar(char)
    pieces.push(piece)
    length += piece.length
    if (length > maxLength) break
  }
  if (length <= maxLength) return pieces.join('')
  // Cut so that the kept text and the marker saying how much was cut fit in maxLength.
  const marker = (shown: number) => `… (+${text.length - shown} characters)`
  let out = ''
  let shown = 0
  for (const piece of pieces) {
    const next = shown + (piece.length > 1 && piece.startsWith('\\') ? 1 : piece.length)
    if (out.length + piece.length + marker(next).length > maxLength) break
    out += piece
    shown = next
  }
  return out + marker(shown)
}

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function escapeChar(char: string): string {
  const code = char.codePointAt(0) as number
  const named = NAMED[char]
  if (named !== undefined) return named
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return `\\x${code.toString(16).padStart(2, '0')}`
  if (
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069) ||
    code === 0x200e ||
    code === 0x200f ||
    code === 0x061c ||
    (code >= 0xd800 && code <= 0xdfff) ||
    code === 0xfeff
  )
    return `\\u{${code.toString(16)}}`
  return char
}
