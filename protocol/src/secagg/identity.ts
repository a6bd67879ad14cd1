import nacl from 'tweetnacl'
import { ProtocolError } from '../errors.ts'

/**
 * A participant's name inside secure aggregation: lowercase hex of the first 16 bytes of
 * SHA-512 over its long-term Ed25519 identity public key. Deriving the id from the key (rather than
 * taking a name the participant chooses) binds every signed advertisement to one key, and sorts
 * participants in an order nobody picks.
 */
export function participantId(identityPublicKey: Uint8Array): string {
  if (identityPublicKey.length !== 32)
    throw new ProtocolError(
      'wrong-size',
      `identity public key: expected 32 bytes, got ${identityPublicKey.length}`,
    )
  let hex = ''
  for (const b of nacl.hash(identityPublicKey).subarray(0, 16)) hex += b.toString(16).padStart(2, '0')
  return hex
}

/** What `participantId` produces; used to parse ids at the edge. */
export const PARTICIPANT_ID = /^[0-9a-f]{32}$/

/** The 16 raw bytes behind an id, for compact encodings. */
export function idBytes(id: string): Uint8Array {
  if (!PARTICIPANT_ID.test(id))
    throw new ProtocolError('malformed', `participant id: expected 32 lowercase hex digits, got "${id}"`)
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(id.slice(2 * i, 2 * i + 2), 16)
  return out
}

export function idFromBytes(bytes: Uint8Array): string {
  let hex = ''
  for (const b of bytes) hex += b.toString(16).padStart(2, '0')
  return hex
}
