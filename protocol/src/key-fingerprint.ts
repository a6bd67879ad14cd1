import { describe } from './describe.ts'
import { ProtocolError } from './errors.ts'
import { sha256 } from './sha256.ts'

/**
 * What an operator compares before approving a hospital: the hospital's client prints it at start,
 * the coordinator lists it beside the waiting name. The first 16 bytes (128 bits) of SHA-256 over
 * the 32-byte Ed25519 public key, as 8 groups of 4 lowercase hex digits joined by ":"
 * ("3f2a:09c1:…"): short enough to read aloud over the phone, long enough that no one can make a
 * key with the same fingerprint (a second preimage of 128 bits).
 */
export function keyFingerprint(identityKey: Uint8Array): string {
  if (!(identityKey instanceof Uint8Array) || identityKey.length !== 32)
    throw new ProtocolError(
      'malformed',
      `keyFingerprint: expected the 32-byte Ed25519 public key, got ${describe(identityKey)}`,
    )
  const hex = Array.from(sha256(identityKey).subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('')
  return hex.match(/.{4}/g)?.join(':') ?? ''
}
