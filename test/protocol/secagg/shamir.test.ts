import { randomBytes } from 'node:crypto'
import { ProtocolError } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { type Share, shamirCombine, shamirSplit } from '../../../protocol/src/secagg/shamir.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const random = (n: number) => new Uint8Array(randomBytes(n))
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe('Shamir secret sharing over GF(2^8)', () => {
  it('evaluates the byte-wise polynomials exactly (known answer)', () => {
    // f_b(x) = s_b + c1_b·x + c2_b·x² for the five bytes below. Expected shares computed once,
    // independently, with a bit-by-bit GF(2^8) multiply in Python:
    //   def mul(a,b): r=0
    //     while b: (r:=r^a) if b&1 else 0; a<<=1; a^=0x11b if a&0x100 else 0; b>>=1
    //     return r
    //   bytes(s[b]^mul(c1[b],x)^mul(c2[b],mul(x,x)) for b in range(5)).hex()
    const secret = fromHex('00017fff53')
    const coefficients = fromHex('ca0102108e' + '11ff800053') // c1 then c2, as randomBytes returns them
    const shares = shamirSplit(secret, 3, [1, 2, 3, 255], () => coefficients.slice())
    expect(shares.map((s) => [s.x, hex(s.y)])).toEqual([
      [1, 'dbfffdef8e'],
      [2, 'cbd24ddf03'],
      [3, '102ccfcfde'],
      [255, 'be8dd99609'],
    ])
    expect(hex(shamirCombine(shares.slice(1), 3))).toBe('00017fff53')
  })

  it('recovers the secret from any threshold of the shares, in any order', () => {
    const secret = random(32)
    const shares = shamirSplit(secret, 4, range(1, 7), random)
    const subsets = [
      [0, 1, 2, 3],
      [6, 5, 4, 3],
      [0, 2, 4, 6],
      [3, 1, 6, 0],
    ]
    for (const subset of subsets)
      expect(
        hex(
          shamirCombine(
            subset.map((i) => shares[i] as Share),
            4,
          ),
        ),
      ).toBe(hex(secret))
  })

  it('uses only the first threshold shares when given more', () => {
    const secret = random(16)
    const shares = shamirSplit(secret, 3, range(1, 5), random)
    const garbled = [...shares.slice(0, 3), { x: 5, y: random(16) }]
    expect(hex(shamirCombine(garbled, 3))).toBe(hex(secret))
  })

  it('reveals nothing with fewer than threshold shares: every candidate secret is equally consistent', () => {
    // For t = 2, a single share y = s + c·x is matched by every s with c = (y − s)/x: we check the
    // share's distribution does not depend on the secret by splitting 0x00 and 0xff with every c.
    const ys = (s: number) =>
      range(0, 255)
        .map((c) => (shamirSplit(Uint8Array.of(s), 2, [7, 8], () => Uint8Array.of(c))[0] as Share).y[0])
        .sort((a, b) => (a as number) - (b as number))
    expect(ys(0x00)).toEqual(ys(0xff))
    expect(new Set(ys(0x00)).size).toBe(256)
  })

  it('with threshold 1 every share is the secret', () => {
    const secret = random(8)
    for (const share of shamirSplit(secret, 1, [1, 2, 3], random)) expect(hex(share.y)).toBe(hex(secret))
  })

  it('splits secrets of any length, empty included', () => {
    for (const length of [0, 1, 33, 100]) {
      const secret = random(length)
      expect(hex(shamirCombine(shamirSplit(secret, 2, [9, 4], random), 2))).toBe(hex(secret))
    }
  })

  it('refuses fewer shares than the threshold', () => {
    const shares = shamirSplit(random(32), 3, [1, 2, 3], random)
    expect(() => shamirCombine(shares.slice(0, 2), 3)).toThrow(ProtocolError)
    expect(() => shamirCombine(shares.slice(0, 2), 3)).toThrow(/at least threshold = 3 shares, got 2/)
  })

  it('refuses duplicate, zero, fractional and out-of-range x-coordinates', () => {
    const y = random(4)
    expect(() =>
      shamirCombine(
        [
          { x: 1, y },
          { x: 1, y },
        ],
        2,
      ),
    ).toThrow(/distinct x-coordinates, got 1 twice/)
    expect(() =>
      shamirCombine(
        [
          { x: 0, y },
          { x: 1, y },
        ],
        2,
      ),
    ).toThrow(/x-coordinate 0 from 1 to 255, got number 0/)
    expect(() =>
      shamirCombine(
        [
          { x: 1, y },
          { x: 256, y },
        ],
        2,
      ),
    ).toThrow(/got number 256/)
    expect(() =>
      shamirCombine(
        [
          { x: 1.5, y },
          { x: 2, y },
        ],
        2,
      ),
    ).toThrow(/got number 1.5/)
    expect(() => shamirSplit(y, 2, [3, 3], random)).toThrow(/distinct/)
    expect(() => shamirSplit(y, 2, [0, 1], random)).toThrow(/from 1 to 255/)
  })

  it('refuses shares of unequal lengths', () => {
    expect(() =>
      shamirCombine(
        [
          { x: 1, y: random(32) },
          { x: 2, y: random(31) },
        ],
        2,
      ),
    ).toThrow(/share 1 to be 32 bytes like share 0, got a Uint8Array of 31 bytes/)
  })

  it('refuses a bad threshold, too few holders, and a short random source', () => {
    expect(() => shamirSplit(random(4), 0, [1], random)).toThrow(/threshold from 1 to 255, got number 0/)
    expect(() => shamirSplit(random(4), 3, [1, 2], random)).toThrow(
      /at least threshold = 3 share x-coordinates, got 2/,
    )
    expect(() => shamirSplit(random(4), 2, [1, 2], () => new Uint8Array(3))).toThrow(
      /randomBytes\(4\) returned a Uint8Array of 3 bytes/,
    )
    expect(() => shamirCombine([], 0)).toThrow(/threshold from 1 to 255/)
  })

  it('draws exactly (threshold − 1) · length random bytes', () => {
    const asked: number[] = []
    shamirSplit(random(32), 11, range(1, 21), (n) => {
      asked.push(n)
      return random(n)
    })
    expect(asked).toEqual([10 * 32])
  })
})
