import { randomBytes } from 'node:crypto'
import { ProtocolError } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { openShare, sealShare } from '../../../protocol/src/secagg/secretbox.ts'

const random = (n: number) => new Uint8Array(randomBytes(n))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('sealed shares', () => {
  it('open to the sealed plaintext under the same key', () => {
    const key = random(32)
    for (const length of [0, 1, 80, 1000]) {
      const plaintext = random(length)
      const sealed = sealShare(key, plaintext)
      expect(sealed.length).toBe(24 + 16 + length)
      expect(hex(openShare(key, sealed))).toBe(hex(plaintext))
    }
  })

  it('prepend the nonce drawn from the injected random source', () => {
    const nonce = new Uint8Array(24).fill(7)
    const sealed = sealShare(random(32), random(10), () => nonce.slice())
    expect(hex(sealed.subarray(0, 24))).toBe(hex(nonce))
  })

  it('use a fresh nonce each time, so sealing twice gives different ciphertexts', () => {
    const key = random(32)
    const plaintext = random(64)
    expect(hex(sealShare(key, plaintext))).not.toBe(hex(sealShare(key, plaintext)))
  })

  it('refuse to open if any byte was changed, or under another key', () => {
    const key = random(32)
    const sealed = sealShare(key, random(48))
    for (const at of [0, 23, 24, 39, 40, sealed.length - 1]) {
      const tampered = sealed.slice()
      tampered[at] = (tampered[at] as number) ^ 0x80
      expect(() => openShare(key, tampered)).toThrow(ProtocolError)
      expect(() => openShare(key, tampered)).toThrow(/failed authentication/)
    }
    expect(() => openShare(random(32), sealed)).toThrow(/failed authentication/)
    expect(() => openShare(key, sealed.subarray(0, sealed.length - 1))).toThrow(/failed authentication/)
  })

  it('refuse ciphertexts too short for a nonce and tag, and keys of the wrong size', () => {
    expect(() => openShare(random(32), new Uint8Array(39))).toThrow(
      /at least 40 bytes \(nonce and tag\), got a Uint8Array of 39 bytes/,
    )
    expect(() => sealShare(random(16), random(4))).toThrow(
      /sealShare: expected a 32-byte key, got a Uint8Array of 16 bytes/,
    )
    expect(() => openShare(random(31), new Uint8Array(40))).toThrow(/openShare: expected a 32-byte key/)
    expect(() => sealShare(random(32), random(4), () => new Uint8Array(12))).toThrow(
      /randomBytes\(24\) returned a Uint8Array of 12 bytes/,
    )
  })
})
