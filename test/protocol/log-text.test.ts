import { escapeText } from '@fedtune/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

/** Anything a terminal or a log reader could take for a line break, a control or a reordering. */
const unsafe = (text: string) =>
  [...text].some((char) => {
    const c = char.codePointAt(0) as number
    return (
      c < 0x20 ||
      (c >= 0x7f && c <= 0x9f) ||
      c === 0x2028 ||
      c === 0x2029 ||
      (c >= 0x202a && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069) ||
      c === 0x200e ||
      c === 0x200f ||
      c === 0x061c ||
      c === 0xfeff ||
      (c >= 0xd800 && c <= 0xdfff)
    )
  })

describe('escapeText', () => {
  it('shows a newline, a carriage return and an ANSI escape instead of acting on them', () => {
    expect(escapeText('ok\n[coordinator] joined: admin\r\u001b[2K\u001b[31mred\u009b')).toBe(
      'ok\\n[coordinator] joined: admin\\r\\x1b[2K\\x1b[31mred\\x9b',
    )
  })

  it('shows the line separators and the bidirectional overrides', () => {
    expect(escapeText('a\u2028b\u202ec\u2066d')).toBe('a\\u{2028}b\\u{202e}c\\u{2066}d')
  })

  it('keeps printable text, non-Latin letters and emoji as they are', () => {
    expect(escapeText('Hôpital Saint-Éloi — 北京 🏥 \\n')).toBe('Hôpital Saint-Éloi — 北京 🏥 \\n')
  })

  it('cuts a long text and says how many characters it left out', () => {
    const out = escapeText('x'.repeat(1000), 64)
    expect(out.length).toBeLessThanOrEqual(64)
    expect(out).toMatch(/^x+… \(\+\d+ characters\)$/)
    const kept = out.indexOf('…')
    expect(out).toContain(`(+${1000 - kept} characters)`)
  })

  it('for any text: one line, no control character, at most maxLength characters, and escaping twice changes nothing', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 400 }),
        fc.integer({ min: 32, max: 300 }),
        (text, max) => {
          const once = escapeText(text, max)
          expect(unsafe(once)).toBe(false)
          expect(once.length).toBeLessThanOrEqual(max)
          expect(escapeText(once, max)).toBe(once)
        },
      ),
      { numRuns: 2000 },
    )
  })
})
