import { ProtocolError, seededSource } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { chacha20Block } from '../../../protocol/src/privacy/seeded-source.ts'

const words = (source: { nextUint32: () => number }, n: number) =>
  Array.from({ length: n }, () => source.nextUint32())
const hex = (ws: number[]) => ws.map((w) => `0x${w.toString(16).padStart(8, '0')}`)

describe('the seeded random source (reproducible simulations, never participants’ noise)', () => {
  it('runs the ChaCha20 block function of RFC 8439 (§2.3.2 test vector)', () => {
    const input = Uint32Array.of(
      0x61707865,
      0x3320646e,
      0x79622d32,
      0x6b206574,
      0x03020100,
      0x07060504,
      0x0b0a0908,
      0x0f0e0d0c,
      0x13121110,
      0x17161514,
      0x1b1a1918,
      0x1f1e1d1c,
      0x00000001,
      0x09000000,
      0x4a000000,
      0x00000000,
    )
    const out = new Uint32Array(16)
    chacha20Block(input, out)
    expect(hex(Array.from(out))).toEqual(
      hex([
        0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3, 0xc7f4d1c7, 0x0368c033, 0x9aaa2204, 0x4e6cd4c3,
        0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9, 0xd19c12b5, 0xb94e16de, 0xe883d0cb, 0x4e3c50a2,
      ]),
    )
  })

  it('gives the pinned first words for seed 0 and for the seed bytes 1, 2, 3 (a change of key derivation is noticed)', () => {
    expect(hex(words(seededSource(0), 8))).toEqual([
      '0xca906672',
      '0xe2abbc52',
      '0x09bbda3b',
      '0x10baf2b7',
      '0x92476e21',
      '0x057b801d',
      '0xbd26bbc5',
      '0x84cb6294',
    ])
    expect(hex(words(seededSource(Uint8Array.of(1, 2, 3)), 4))).toEqual([
      '0x55638325',
      '0xd8c8f38f',
      '0x5f373f3b',
      '0xd65a68d1',
    ])
  })

  it('gives the same words for the same seed, and other words for another seed', () => {
    expect(words(seededSource(42), 100)).toEqual(words(seededSource(42), 100))
    expect(words(seededSource(42), 100)).not.toEqual(words(seededSource(43), 100))
  })

  it('takes a number seed as its 8 little-endian bytes', () => {
    const n = 2 ** 40 + 7
    const bytes = Uint8Array.of(7, 0, 0, 0, 0, 1, 0, 0)
    expect(words(seededSource(n), 40)).toEqual(words(seededSource(bytes), 40))
  })

  it('moves on to the next block after 16 words, never repeating one', () => {
    const stream = words(seededSource(1), 64)
    const blocks = [0, 1, 2, 3].map((b) => stream.slice(16 * b, 16 * b + 16).join(','))
    expect(new Set(blocks).size).toBe(4)
  })

  it('has uniform bits: each of the 32 bit positions is set in half of 64 000 words, within 4.5 standard deviations', () => {
    const source = seededSource(7)
    const counts = new Array<number>(32).fill(0)
    const n = 64_000
    for (let i = 0; i < n; i++) {
      const w = source.nextUint32()
      for (let b = 0; b < 32; b++) if ((w >>> b) & 1) counts[b] = (counts[b] as number) + 1
    }
    const sd = Math.sqrt(n / 4)
    for (const c of counts) expect(Math.abs(c - n / 2)).toBeLessThan(4.5 * sd)
  })

  it('refuses a seed that is negative, fractional or past 2^53', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) expect(() => seededSource(bad)).toThrow(ProtocolError)
    expect(() => seededSource(-1)).toThrow(/non-negative safe integer or a Uint8Array, got number -1/)
  })
})
