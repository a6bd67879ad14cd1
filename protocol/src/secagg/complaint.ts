import { ProtocolError } from '../errors.ts'
import type { SecaggContext } from './context.ts'
import type { SecaggCrypto } from './crypto.ts'
import type { RoundLabel } from './masking.ts'
import { type Complaint, type ComplaintKind, parseSharePlaintext, type SharePlaintext } from './messages.ts'
import { openShare } from './secretbox.ts'
import { transcript } from './transcript.ts'

/**
 * Blame: a participant that cannot use what a neighbour sent it (a sealed share that does not
 * open, or a small-order X25519 key) complains, signed, instead of dropping out in silence; the
 * coordinator checks the complaint against the very bytes it relayed and names whichever of the
 * two lied. Without it one participant could fail every round it is selected for and nobody would
 * learn who (docs/secure-aggregation.md, "Blame").
 */

/** What u signs to complain about v: binds the task, round, both parties, the kind and the key shown. */
export function complaintTranscript(
  round: RoundLabel,
  from: string,
  against: string,
  kind: ComplaintKind,
  pairKey: Uint8Array,
): Uint8Array {
  return transcript('complaint', round.taskId, round.round, from, against, kind, pairKey)
}

/** u's complaint about `against`, signed with its identity key; `pairKey` is copied. */
export function signComplaint(
  crypto: SecaggCrypto,
  identitySeed: Uint8Array,
  round: RoundLabel,
  from: string,
  against: string,
  kind: ComplaintKind,
  pairKey: Uint8Array,
): Complaint {
  const key = Uint8Array.from(pairKey)
  const signature = crypto.sign(identitySeed, complaintTranscript(round, from, against, kind, key))
  return {
    taskId: round.taskId,
    round: round.round,
    stage: 'complaint',
    against,
    kind,
    pairKey: key,
    signature,
  }
}

/**
 * The Shamir x at which `holder` holds the shares `sender` split: 1 + its index in N(sender), the
 * order both sides derive from the roster.
 */
export function shareX(context: SecaggContext, sender: string, holder: string): number {
  return (context.neighbours.get(sender) as readonly string[]).indexOf(holder) + 1
}

/**
 * The share `from` sealed for `to` under `key`, opened and checked to name that pair and x; or,
 * as a value, why it is not a share u can use (fails authentication, does not parse, names
 * another pair or x). Used by the participant to decide whether to complain and by the coordinator
 * to check the complaint, so the two judge a ciphertext by one rule.
 */
export function openPairShare(
  key: Uint8Array,
  ciphertext: Uint8Array,
  expected: { readonly from: string; readonly to: string; readonly x: number },
): SharePlaintext | string {
  let p: SharePlaintext
  try {
    p = parseSharePlaintext(openShare(key, ciphertext))
  } catch (error) {
    if (error instanceof ProtocolError) return error.message
    throw error
  }
  if (p.from !== expected.from || p.to !== expected.to || p.x !== expected.x)
    return `expected a share from ${expected.from} to ${expected.to} at x = ${expected.x}, got one from ${p.from} to ${p.to} at x = ${p.x}`
  return p
}
