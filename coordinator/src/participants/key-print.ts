import { createHash } from 'node:crypto'

/**
 * An identity key as an operator compares it with what the participant's client printed: the first
 * 16 bytes of its SHA-256, in groups of 4 hex digits.
 */
export function keyPrint(identityKey: Uint8Array): string {
  const hex = createHash('sha256').update(identityKey).digest('hex').slice(0, 32)
  return hex.match(/.{4}/g)?.join(':') ?? hex
}
