import { describe, expect, it } from 'vitest'
import { gfDiv, gfMul, mulByTable, mulTable } from '../../../protocol/src/secagg/gf256.ts'

/** Schoolbook multiplication mod 0x11b, bit by bit: the definition the tables must agree with. */
function slowMul(a: number, b: number): number {
  let r = 0
  for (let x = a, y = b; y > 0; y >>= 1) {
    if (y & 1) r ^= x
    x = (x << 1) ^ (x & 0x80 ? 0x11b : 0)
  }
  return r
}

describe('GF(2^8) with the AES polynomial', () => {
  it('multiplies as FIPS 197 §4.2 does: {57}·{83} = {c1} and {57}·{13} = {fe}', () => {
    expect(gfMul(0x57, 0x83)).toBe(0xc1)
    expect(gfMul(0x57, 0x13)).toBe(0xfe)
    expect(mulByTable(mulTable(0x57), 0x83)).toBe(0xc1)
  })

  it('agrees with schoolbook multiplication on every pair, table and constant-time paths alike', () => {
    const wrong: [number, number][] = []
    for (let a = 0; a < 256; a++) {
      const table = mulTable(a)
      for (let b = 0; b < 256; b++) {
        const expected = slowMul(a, b)
        if (gfMul(a, b) !== expected || mulByTable(table, b) !== expected) wrong.push([a, b])
      }
    }
    expect(wrong).toEqual([])
  })

  it('divides as the inverse of multiplication, and refuses to divide by zero', () => {
    const wrong: [number, number][] = []
    for (let a = 0; a < 256; a++)
      for (let b = 1; b < 256; b++) if (gfMul(gfDiv(a, b), b) !== a) wrong.push([a, b])
    expect(wrong).toEqual([])
    expect(() => gfDiv(1, 0)).toThrow(/division by zero/)
  })
})
