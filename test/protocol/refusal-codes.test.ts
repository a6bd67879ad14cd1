import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseHelloAck, parseUpdateAck, REFUSAL_CODES } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

/** The codes in docs/protocol.md's table of refusal codes, in the table's order. */
function documentedCodes(): string[] {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/protocol.md', import.meta.url)), 'utf8')
  const section = doc.split(/^## /m).find((s) => s.startsWith('Refusal codes'))
  if (section === undefined) throw new Error('docs/protocol.md: expected a "## Refusal codes" section')
  const rows = section.split('\n').filter((line) => /^\| `/.test(line))
  return rows.map((row) => {
    const cells = row.split('|').map((c) => c.trim())
    const code = /^`([a-z-]+)`$/.exec(cells[1] ?? '')?.[1]
    if (code === undefined || (cells[2] ?? '') === '')
      throw new Error(`docs/protocol.md: expected a row "| \`code\` | when |", got ${JSON.stringify(row)}`)
    return code
  })
}

describe('refusal codes', () => {
  it('docs/protocol.md’s table lists exactly the codes of REFUSAL_CODES, each once, with when it is given', () => {
    const documented = documentedCodes()
    expect(new Set(documented).size).toBe(documented.length)
    expect([...documented].sort()).toEqual([...REFUSAL_CODES].sort())
  })

  it('a participant reads every known code as itself', () => {
    for (const code of REFUSAL_CODES) {
      expect(parseUpdateAck({ ok: false, code, reason: 'why' })).toEqual({ ok: false, code, reason: 'why' })
      expect(parseHelloAck({ ok: false, code, reason: 'why' })).toEqual({ ok: false, code, reason: 'why' })
    }
  })

  it('a code this participant does not know reads as unknown, with the code quoted in the reason', () => {
    expect(parseUpdateAck({ ok: false, code: 'from-the-future', reason: 'slow down' })).toEqual({
      ok: false,
      code: 'unknown',
      reason: 'slow down (code "from-the-future", unknown to this participant)',
    })
  })

  it('an ack without a code is malformed, not unknown', () => {
    expect(() => parseHelloAck({ ok: false, reason: 'no code' })).toThrow(
      'hello ack.code: expected a non-empty string, got undefined',
    )
  })
})
