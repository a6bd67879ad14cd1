import { ProtocolError } from './errors.ts'
import { type Challenge, type Hello, PROTOCOL_VERSION } from './messages.ts'
import type { SecaggCrypto } from './secagg/crypto.ts'
import { isCanonicalEd25519Point, isSmallOrderEd25519Point } from './secagg/ed25519-strict.ts'
import { transcript } from './secagg/transcript.ts'

/**
 * Proof of possession for hello. Enrolment pins a name to the identity key it first said hello with
 * (coordinator/src/participants/enrolment.ts); without a proof, anyone who knew a hospital's name and public key
 * could say hello as it and take over its link. So the coordinator opens every connection with a
 * fresh random nonce (`Challenge`), and a hello carries an Ed25519 signature, by its identity key,
 * over that nonce and every other field of the hello. A proof is good for one connection only: a
 * recorded hello replayed on another connection meets another nonce.
 */

/** How long a client waits, once connected, for the coordinator's challenge before saying so. */
export const CHALLENGE_WAIT_MS = 10_000

/** What a client says when no challenge came within CHALLENGE_WAIT_MS: likely another protocol. */
export const NO_CHALLENGE_NOTICE = `connected, but the coordinator sent no challenge in ${CHALLENGE_WAIT_MS / 1000} s; it may speak another protocol than ${PROTOCOL_VERSION}`

/** What the proof signs: the connection's challenge, then every field of the hello but the proof. */
export function helloTranscript(challenge: Challenge, hello: Omit<Hello, 'proof'>): Uint8Array {
  return transcript(
    'hello',
    challenge.taskId,
    0,
    challenge.nonce,
    hello.protocol,
    hello.participant,
    hello.kind,
    hello.agent,
    hello.identityKey,
    // Length-prefixed fields: a hello with an invite never signs the same bytes as one without.
    ...(hello.invite === undefined ? [] : [hello.invite]),
  )
}

/** The hello for this connection, signed with the identity key of `identitySeed`. */
export function signHello(
  crypto: SecaggCrypto,
  identitySeed: Uint8Array,
  challenge: Challenge,
  fields: Omit<Hello, 'proof' | 'identityKey'>,
): Hello {
  const unsigned = { ...fields, identityKey: crypto.ed25519PublicKey(identitySeed) }
  return { ...unsigned, proof: crypto.sign(identitySeed, helloTranscript(challenge, unsigned)) }
}

/**
 * Throws ProtocolError('bad-key') unless `hello.identityKey` is a canonical Ed25519 key of large
 * order (ed25519-strict.ts: a small-order key signs for anyone, with no private key), then
 * ProtocolError('bad-proof') unless `hello.proof` is its signature for this connection.
 */
export function checkHelloProof(crypto: SecaggCrypto, hello: Hello, challenge: Challenge): void {
  checkIdentityKey(hello.identityKey)
  if (!crypto.verify(hello.identityKey, helloTranscript(challenge, hello), hello.proof))
    throw new ProtocolError(
      'bad-proof',
      `hello.proof: expected a signature by hello.identityKey over this connection's challenge and the hello, got one that does not verify (signed for another connection, or without the private key)`,
    )
}

/** Throws ProtocolError('bad-key') unless `key` may be an identity key: canonical (y < p), not of small order. */
export function checkIdentityKey(key: Uint8Array): void {
  const flaw = !isCanonicalEd25519Point(key)
    ? 'a non-canonical encoding (y ≥ p, RFC 8032 §5.1.3)'
    : isSmallOrderEd25519Point(key)
      ? 'a point of small order, which verifies signatures made without any private key'
      : undefined
  if (flaw !== undefined)
    throw new ProtocolError(
      'bad-key',
      `hello.identityKey: expected a canonical Ed25519 public key of large order, got ${hexOf(key)}, ${flaw}`,
    )
}

function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
