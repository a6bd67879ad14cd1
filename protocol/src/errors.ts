/**
 * Every stable code a refusal or a failure at the wire's edge carries, one per line with when it is
 * given. A code is for programs, the message for people: it says what was expected and what arrived.
 * docs/protocol.md's table of refusal codes lists exactly these (test/protocol/refusal-codes.test.ts).
 */
export const REFUSAL_CODES = [
  /** A message that is not what its parser expects: a field missing, of another type or out of range. */
  'malformed',
  /** A hello for another protocol version than the coordinator's (`PROTOCOL_VERSION`). */
  'wrong-version',
  /** Binary data of another length than the task's head or the message's type gives. */
  'wrong-size',
  /** A NaN or an infinity where a finite number is required. */
  'not-finite',
  /** A head, task or secure-round setup that cannot be built, or would be unsafe to take part in. */
  'invalid-spec',
  /** A name already enrolled with another identity key. */
  'identity-mismatch',
  /** An identity key already enrolled under another name: one key, one name. */
  'identity-in-use',
  /** The browser page is not a secure context, so WebCrypto (and with it secure aggregation) is missing. */
  'unsupported',
  /** A browser's hello to a task whose file does not turn browser participation on. */
  'browsers-disabled',
  /** A hello whose proof is not its identity key's signature over this connection's challenge. */
  'bad-proof',
  /** A key refused by the strict curve checks: a non-canonical or small-order Ed25519 key, a small-order X25519 key. */
  'bad-key',
  /** A participant named the culprit of a secure round by a complaint (secagg/complaint.ts), for the rest of the run. */
  'excluded',
  /** An update or secagg message on a connection that has not said hello. */
  'no-hello',
  /** A second hello on a connection that has already joined. */
  'already-joined',
  /** A message while no round, or no stage of it, takes messages. */
  'no-round',
  /** A plaintext update in a task that aggregates securely: updates travel masked, as secagg messages. */
  'secure-only',
  /** An update after the run has finished. */
  'finished',
  /** A message for another round than the open one. */
  'wrong-round',
  /** A message from a participant the open round (or its stage) did not select. */
  'not-selected',
  /** A second message from one participant where one is taken (a replay, or a resend). */
  'duplicate',
  /** The coordinator failed on a message by a fault of its own; the message is refused, the run goes on. */
  'internal',
  /** A message (or its announced attachments) larger than that event can legitimately carry at this point. */
  'too-large',
  /** More events per second than a connection's token bucket allows. */
  'rate-limited',
  /** A connection that did not complete its hello within the hello timeout. */
  'hello-timeout',
  /** More events a connection may not send (unknown names, anything but hello before hello) than the limit. */
  'unknown-events',
  /** More open connections from one address than the per-address cap. */
  'too-many-connections',
  /** A connection names no task the coordinator hosts, or none while several are open; the reason lists the open ones. */
  'unknown-task',
  /** A connection names a task whose run is over. */
  'task-finished',
  /** A connection names a task with no run serving yet: still preparing (embedding its held-out set), or not started by an operator. */
  'task-not-ready',
  /** A hello from a participant an operator revoked. */
  'revoked',
  /** A hospital's first hello to a task that enrols by approval, before an operator approved this name and key. */
  'pending-approval',
  /** A hello to a task that enrols by invite, under a name with neither an enrolment nor an enrolment code. */
  'invite-required',
  /** An enrolment code that is unknown, used, expired, or issued for another name. */
  'bad-invite',
  /** A volunteer's first hello to a task whose cap on volunteers is reached. */
  'enrolment-full',
] as const

export type RefusalCode = (typeof REFUSAL_CODES)[number]

/** The codes a ProtocolError carries: the refusal codes, one list for both. */
export type ProtocolErrorCode = RefusalCode

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode

  constructor(code: ProtocolErrorCode, message: string) {
    super(message)
    this.name = 'ProtocolError'
    this.code = code
  }
}
