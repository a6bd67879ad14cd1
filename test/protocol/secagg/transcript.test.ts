import { hkdfSync } from 'node:crypto'
import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import {
  helloTranscript,
  naclCrypto,
  pairMaskKey,
  selfMaskKey,
  shareKey,
  transcript,
} from '../../../protocol/src/index.ts'

/**
 * The byte layouts every signature and derived key rests on, pinned against an encoding written out
 * by hand here and against node:crypto's HKDF, so neither can drift without a test saying so (two
 * versions of fedtune that encoded differently would fail every round against each other).
 */

/** One transcript field as the spec says: 4-byte big-endian length, then the bytes. */
const field = (value: string | Uint8Array) => {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(bytes.length)
  return Buffer.concat([length, bytes])
}
const byHand = (...fields: (string | Uint8Array)[]) => new Uint8Array(Buffer.concat(fields.map(field)))
const hkdf = (ikm: Uint8Array, salt: string, info: Uint8Array, length: number) =>
  new Uint8Array(hkdfSync('sha512', ikm, Buffer.from(salt), info, length))
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))

// RFC 7748 §6.1: Alice's and Bob's X25519 keys and their shared secret.
const alice = {
  secret: fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
  public: fromHex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'),
}
const bob = {
  secret: fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'),
  public: fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'),
}
const shared = fromHex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')
const round = { taskId: 'chest-xray', round: 7 }
const [u, v] = ['0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210']

describe('transcripts', () => {
  it('are the length-prefixed list: protocol, label, task, round, fields', () => {
    const bytes = transcript('self-mask', 'chest-xray', 7, u)
    expect(bytes).toEqual(byHand('fedtune/secagg/1', 'self-mask', 'chest-xray', '7', u))
    expect(Buffer.from(bytes.subarray(0, 20)).toString('hex')).toBe(
      `00000010${Buffer.from('fedtune/secagg/1').toString('hex')}`,
    )
    expect(transcript('hello', 't', 0, Uint8Array.of(1, 2), 'é')).toEqual(
      byHand('fedtune/secagg/1', 'hello', 't', '0', Uint8Array.of(1, 2), 'é'),
    )
  })

  it('never coincide for different field lists, whatever the split', () => {
    const a = transcript('advertise', 'chest-xray', 7, 'ab', 'c')
    const b = transcript('advertise', 'chest-xray', 7, 'a', 'bc')
    expect(a).not.toEqual(b)
    expect(transcript('advertise', 'chest-xray', 17)).not.toEqual(transcript('advertise', 'chest-xray1', 7))
  })

  it("of a hello sign the challenge and every field but the proof, in the wire's order", () => {
    const challenge = { taskId: 'chest-xray', nonce: new Uint8Array(32).fill(9) }
    const identityKey = new Uint8Array(32).fill(3)
    const hello = {
      protocol: 'fedtune/2',
      participant: 'st-olav',
      kind: 'hospital',
      agent: 'x',
      identityKey,
    } as const
    expect(helloTranscript(challenge, hello)).toEqual(
      byHand(
        'fedtune/secagg/1',
        'hello',
        'chest-xray',
        '0',
        challenge.nonce,
        'fedtune/2',
        'st-olav',
        'hospital',
        'x',
        identityKey,
      ),
    )
  })
})

describe.each([naclCrypto, nodeCrypto])('keys derived with $name', (crypto) => {
  it('self-mask key: HKDF-SHA-512(b_u, salt = task id, info = transcript("self-mask", …, u)), 16 bytes', () => {
    const seed = new Uint8Array(32).map((_, i) => i)
    expect(selfMaskKey(crypto, round, seed, u)).toEqual(
      hkdf(seed, 'chest-xray', byHand('fedtune/secagg/1', 'self-mask', 'chest-xray', '7', u), 16),
    )
  })

  it('pair-mask key: HKDF-SHA-512 of the RFC 7748 shared secret over the ordered pair, 16 bytes, the same from both ends', () => {
    const expected = hkdf(
      shared,
      'chest-xray',
      byHand('fedtune/secagg/1', 'pair-mask', 'chest-xray', '7', u, v),
      16,
    )
    expect(pairMaskKey(crypto, round, alice.secret, bob.public, u, v)).toEqual(expected)
    expect(pairMaskKey(crypto, round, bob.secret, alice.public, v, u)).toEqual(expected)
  })

  it('share key: the same construction with the label "share-key", 32 bytes', () => {
    const expected = hkdf(
      shared,
      'chest-xray',
      byHand('fedtune/secagg/1', 'share-key', 'chest-xray', '7', u, v),
      32,
    )
    expect(shareKey(crypto, round, bob.secret, alice.public, v, u)).toEqual(expected)
  })
})
