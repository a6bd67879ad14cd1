import nacl from 'tweetnacl'
import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'

const NONCE = nacl.secretbox.nonceLength // 24
const KEY = nacl.secretbox.keyLength // 32
const TAG = nacl.secretbox.overheadLength // 16

/**
 * Authenticated encryption of a share for one neighbour: nonce ‖ XSalsa20-Poly1305(key, nonce, plaintext)
 * (nacl.secretbox). The coordinator relays these and must learn nothing from them, and must not be
 * able to alter one unnoticed (Bonawitz et al., CCS 2017, §4, "authenticated encryption"). The
 * 24-byte nonce is random, which XSalsa20's nonce length makes safe without a counter.
 */
export function sealShare(
  key: Uint8Array,
  plaintext: Uint8Array,
  randomBytes: (n: number) => Uint8Array = nacl.randomBytes,
): Uint8Array {
  checkKey(key, 'sealShare')
  const nonce = randomBytes(NONCE)
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE)
    throw new ProtocolError('wrong-size', `sealShare: randomBytes(${NONCE}) returned ${describe(nonce)}`)
  const box = nacl.secretbox(plaintext, nonce, key)
  const sealed = new Uint8Array(NONCE + box.length)
  sealed.set(nonce, 0)
  sealed.set(box, NONCE)
  return sealed
}

/**
 * The plaintext of a {@link sealShare} ciphertext. Throws a ProtocolError if it is too short to hold a
 * nonce and tag, or if it fails authentication (tampered, truncated, or sealed under another key):
 * a share that does not authenticate is never used.
 */
export function openShare(key: Uint8Array, sealed: Uint8Array): Uint8Array {
  checkKey(key, 'openShare')
  if (!(sealed instanceof Uint8Array) || sealed.length < NONCE + TAG)
    throw new ProtocolError(
      'malformed',
      `openShare: expected at least ${NONCE + TAG} bytes (nonce and tag), got ${describe(sealed)}`,
    )
  const opened = nacl.secretbox.open(sealed.subarray(NONCE), sealed.subarray(0, NONCE), key)
  if (opened === null)
    throw new ProtocolError(
      'malformed',
      `openShare: a ciphertext of ${sealed.length} bytes failed authentication (tampered or another key)`,
    )
  return opened
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY)
    throw new ProtocolError('wrong-size', `${what}: expected a ${KEY}-byte key, got ${describe(key)}`)
}
