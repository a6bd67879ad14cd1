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
  /** The browser page is not a secure context, so WebCrypto (and with it secure aggregation) is missing. */
  | 'unsupported'
  /** A browser's hello to a task whose file does not turn browser participation on. */
  | 'browsers-disabled'
  /** A hello whose proof is not its identity key's signature over this connection's challenge. */
  | 'bad-proof'
  /** A message (or its announced attachments) larger than that event can legitimately carry at this point. */
  /** The coordinator failed handling a message (a bug, logged); the sender is not to blame. */
  | 'internal'
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
