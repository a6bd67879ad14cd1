import { createHash } from 'node:crypto'
import { keyFingerprint, sha256 } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const utf8 = (text: string) => new TextEncoder().encode(text)

describe('SHA-256', () => {
  it('gives FIPS 180-4’s known answers (one block, two blocks, the empty message)', () => {
    expect(hex(sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(hex(sha256(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    )
    expect(hex(sha256(new Uint8Array(0)))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    )
  })

  it('agrees with node:crypto at every length around the padding’s block boundaries', () => {
    for (let n = 0; n <= 200; n++) {
      const message = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff)
      expect(hex(sha256(message))).toBe(createHash('sha256').update(message).digest('hex'))
    }
  })
})

describe('an identity key’s fingerprint', () => {
  it('is the first 16 bytes of SHA-256 of the public key, as 8 groups of 4 hex digits (RFC 8032 test 1’s key)', () => {
    const key = Uint8Array.from(
      Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'),
    )
    expect(keyFingerprint(key)).toBe('21fe:31df:a154:a261:626b:f854:046f:d227')
  })

  it('is what sha256sum of the key’s bytes starts with, for any key', () => {
    for (let i = 0; i < 20; i++) {
      const key = nodeCrypto.ed25519PublicKey(new Uint8Array(32).fill(i))
      const digest = createHash('sha256').update(key).digest('hex').slice(0, 32)
      expect(keyFingerprint(key).replaceAll(':', '')).toBe(digest)
      expect(keyFingerprint(key)).toMatch(/^[0-9a-f]{4}(:[0-9a-f]{4}){7}$/)
    }
  })

  it('refuses anything but 32 bytes, saying what arrived', () => {
    expect(() => keyFingerprint(new Uint8Array(31))).toThrow(
      'keyFingerprint: expected the 32-byte Ed25519 public key, got a Uint8Array of 31 bytes',
    )
  })
})
