/**
 * Stable codes for failures at the wire's edge. A code is for programs, the message for people:
 * it says what was expected and what arrived.
 */
export type ProtocolErrorCode =
  | 'malformed'
  | 'wrong-version'
  | 'wrong-size'
  | 'not-finite'
  | 'invalid-spec'
  /** A name already enrolled with another identity key. */
  | 'identity-mismatch'
  /** An identity key already enrolled under another name: one key, one name. */
  | 'identity-in-use'
  /** A message for another round than the open one. */
  | 'wrong-round'
  /** A message from a participant the open round (or its stage) did not select. */
  | 'not-selected'
  /** A second message from one participant where one is taken (a replay, or a resend). */
  | 'duplicate'
  /** A message when no round, or no stage of it, takes messages. */
  | 'no-round'
  /** The browser page is not a secure context, so WebCrypto (and with it secure aggregation) is missing. */
  | 'unsupported'
  /** A browser's hello to a task whose file does not turn browser participation on. */
  | 'browsers-disabled'
  /** A hello whose proof is not its identity key's signature over this connection's challenge. */
  | 'bad-proof'
  /** A public key refused by the strict curve checks: an Ed25519 identity key that is non-canonical or of small order, or a small-order X25519 key. */
  | 'bad-key'
  /** A participant named the culprit of a secure round by a complaint (secagg/complaint.ts): refused for the rest of the run. */
  | 'excluded'
  /** The coordinator failed handling a message (a bug, logged); the sender is not to blame. */
  | 'internal'
  /** A message (or its announced attachments) larger than that event can legitimately carry at this point. */
  | 'too-large'
  /** More events per second than a connection's token bucket allows. */
  | 'rate-limited'
  /** A connection that did not complete its hello within the hello timeout. */
  | 'hello-timeout'
  /** Anything but `hello` before a hello was accepted. */
  | 'no-hello'
  /** More unknown events on one connection than the limit. */
  | 'unknown-events'
  /** More open connections from one address than the per-address cap. */
  | 'too-many-connections'

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode

  constructor(code: ProtocolErrorCode, message: string) {
    super(message)
    this.name = 'ProtocolError'
    this.code = code
  }
}
