import { createHmac, hkdfSync, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { concatBytes, hkdfSha512, hmacSha512, utf8 } from '../../../protocol/src/secagg/hkdf.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'))
const filled = (n: number, byte: number) => new Uint8Array(n).fill(byte)

describe('HMAC-SHA-512', () => {
  // RFC 4231 §4.2–4.8, the HMAC-SHA-512 lines (test case 5, a truncated output, is not applicable).
  const cases: [string, Uint8Array, Uint8Array, string][] = [
    [
      'test case 1',
      filled(20, 0x0b),
      ascii('Hi There'),
      '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
    ],
    [
      'test case 2',
      ascii('Jefe'),
      ascii('what do ya want for nothing?'),
      '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    ],
    [
      'test case 3',
      filled(20, 0xaa),
      filled(50, 0xdd),
      'fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb',
    ],
    [
      'test case 4',
      fromHex('0102030405060708090a0b0c0d0e0f10111213141516171819'),
      filled(50, 0xcd),
      'b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd',
    ],
    [
      'test case 6 (key longer than a block)',
      filled(131, 0xaa),
      ascii('Test Using Larger Than Block-Size Key - Hash Key First'),
      '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598',
    ],
    [
      'test case 7 (key and data longer than a block)',
      filled(131, 0xaa),
      ascii(
        'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
      ),
      'e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58',
    ],
  ]
  for (const [name, key, data, expected] of cases)
    it(`matches RFC 4231 ${name}`, () => expect(hex(hmacSha512(key, data))).toBe(expected))

  it('matches node:crypto for keys around the 128-byte block size and empty inputs', () => {
    for (const keyLength of [0, 1, 64, 127, 128, 129, 300])
      for (const dataLength of [0, 1, 111, 112, 128, 1000]) {
        const key = new Uint8Array(randomBytes(keyLength))
        const data = new Uint8Array(randomBytes(dataLength))
        expect(hex(hmacSha512(key, data))).toBe(createHmac('sha512', key).update(data).digest('hex'))
      }
  })
})

describe('HKDF-SHA-512', () => {
  it('matches node:crypto hkdfSync for every output length class and empty salt or info', () => {
    for (const [ikmLength, saltLength, infoLength] of [
      [32, 32, 40],
      [22, 0, 0],
      [80, 200, 1],
      [1, 13, 300],
    ] as const)
      for (const length of [0, 1, 16, 32, 63, 64, 65, 128, 1000, 255 * 64]) {
        const ikm = new Uint8Array(randomBytes(ikmLength))
        const salt = new Uint8Array(randomBytes(saltLength))
        const info = new Uint8Array(randomBytes(infoLength))
        const expected = length === 0 ? '' : hex(new Uint8Array(hkdfSync('sha512', ikm, salt, info, length)))
        expect(hex(hkdfSha512(ikm, salt, info, length))).toBe(expected)
      }
  })

  it('refuses lengths beyond 255 hash blocks (RFC 5869 §2.3) and non-integers', () => {
    const k = new Uint8Array(32)
    expect(() => hkdfSha512(k, k, k, 255 * 64 + 1)).toThrow(
      /from 0 to 16320 bytes \(RFC 5869 §2.3\), got number 16321/,
    )
    expect(() => hkdfSha512(k, k, k, 1.5)).toThrow(/got number 1.5/)
  })
})

describe('byte helpers', () => {
  it('concatenates in order', () => {
    expect(Array.from(concatBytes(Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)))).toEqual([
      1, 2, 3,
    ])
    expect(concatBytes().length).toBe(0)
  })

  it('encodes UTF-8 exactly as TextEncoder, astral characters and lone surrogates included', () => {
    const encoder = new TextEncoder()
    for (const s of [
      '',
      'advertise',
      'é',
      '€uro',
      'fedtune 🔒 round',
      '\u0000\u007f\u0080\u07ff\u0800\uffff',
      '\ud800x',
      'x\udc00',
      '\ud83d',
    ])
      expect(Array.from(utf8(s))).toEqual(Array.from(encoder.encode(s)))
  })
})
