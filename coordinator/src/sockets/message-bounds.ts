import {
  correctsDropouts,
  evaluationCountsLength,
  MAX_NEIGHBOURHOOD,
  PUBLIC_KEY_BYTES,
  REVEALED_RECORD_BYTES,
  SHARE_CIPHERTEXT_BYTES,
  SHARE_RECORD_BYTES,
  SIGNATURE_BYTES,
  secureVectorLength,
} from '@fedtune/protocol'

/**
 * The most one socket.io message may carry: binary attachments, and bytes in all (the JSON text of
 * its header, where each attachment is a small placeholder, plus the attachments).
 */
export type Bound = { readonly attachments: number; readonly bytes: number }

/** The secure-aggregation stages a participant sends, `complaint` included (a participant's report of a bad share or key). */
export type SentStage = 'advertise' | 'share-keys' | 'masked-input' | 'unmask' | 'complaint'

export type MessageBounds = {
  readonly hello: Bound
  /** One float32 delta and its counts (a secure task refuses it with \`secure-only\`, after reading it). */
  readonly update: Bound
  /** Secure tasks only, per stage. */
  readonly secagg: Readonly<Record<SentStage, Bound>> | null
  /** Anything else: an unknown event, a control packet, any event but hello before hello. */
  readonly other: Bound
}

/** What the head and the secure aggregation make a legitimate message as large as. */
export type MessageShape = {
  readonly paramCount: number
  readonly classes: number
  readonly secure: boolean
  /** k, the neighbourhood size including the participant; the largest allowed when unknown. */
  readonly neighbours?: number | undefined
}

/** JSON around the fields: task id, round, stage, names (≤ 64 characters), numbers, placeholders. */
const HEADER_CHARS = 1024
/** One list entry's JSON: a name or id, a kind, a placeholder (`{"_placeholder":true,"num":254}`). */
const ENTRY_CHARS = 256
/** One evaluation count's JSON in a plaintext update: at most 9 digits (≤ 10^8 examples) and a comma. */
const COUNT_CHARS = 12
/** A complaint: the offending 32-byte field (or a sealed share) and a 64-byte signature, with room to spare. */
const COMPLAINT_ATTACHMENTS = 4

/**
 * Each inbound event's bound, derived from the head and the secure aggregation's parameters. The
 * socket's decoder refuses a message past its bound from its header on, before it buffers an
 * attachment (coordinator/src/sockets/bounded-parser.ts); docs/protocol.md, "Limits", lists them.
 */
export function messageBounds(shape: MessageShape): MessageBounds {
  const k = Math.min(MAX_NEIGHBOURHOOD, Math.max(1, shape.neighbours ?? MAX_NEIGHBOURHOOD))
  // the longest secure vector the head makes (a private task's is shorter: params + 1 words)
  const words = secureVectorLength(shape.paramCount, shape.classes)
  const bound = (attachments: number, binary: number, entries = 0): Bound => ({
    attachments,
    bytes: HEADER_CHARS + entries * ENTRY_CHARS + binary,
  })
  return {
    // protocol, name, kind, agent (≤ 256 characters each) and two keys: identity (32) and proof (64)
    hello: bound(2, PUBLIC_KEY_BYTES + SIGNATURE_BYTES, 2),
    // the delta, one label count per class, and the evaluation counts (as JSON numbers)
    update: bound(
      1,
      shape.paramCount * 4 + evaluationCountsLength(shape.classes) * COUNT_CHARS,
      shape.classes,
    ),
    secagg: shape.secure
      ? {
          advertise: bound(3, 2 * PUBLIC_KEY_BYTES + SIGNATURE_BYTES),
          // one record (id and sealed share pair) for each neighbour but itself, in one field
          'share-keys': bound(1, (k - 1) * SHARE_RECORD_BYTES),
          // y_u: one word per entry of the secure vector
          'masked-input': bound(1, words * 4),
          // one record (id, kind, share) per neighbour, itself included, in one field; and, for a
          // vector short enough (a private task's, params + 1 words, is the shortest), the
          // correction for neighbours that dropped, one word per entry
          unmask: correctsDropouts(secureVectorLength(shape.paramCount, shape.classes, true))
            ? bound(2, k * REVEALED_RECORD_BYTES + words * 4)
            : bound(1, k * REVEALED_RECORD_BYTES),
          complaint: bound(COMPLAINT_ATTACHMENTS, COMPLAINT_ATTACHMENTS * SHARE_CIPHERTEXT_BYTES, 2),
        }
      : null,
    other: bound(0, 0),
  }
}

/**
 * The bound for one event: `hello` before hello and nothing else (the `other` bound, which lets
 * a small refusable message through and no attachment); after it, the event's own, for secagg its
 * stage's.
 */
export function boundOf(bounds: MessageBounds, joined: boolean, event: string, stage: unknown): Bound {
  if (event === 'hello') return bounds.hello
  if (!joined) return bounds.other
  if (event === 'update') return bounds.update
  if (
    event === 'secagg' &&
    bounds.secagg !== null &&
    typeof stage === 'string' &&
    Object.hasOwn(bounds.secagg, stage)
  )
    return bounds.secagg[stage as SentStage]
  return bounds.other
}

/** The largest message any event may carry at this point: the bound of a header before its event name is read. */
export function largestBound(bounds: MessageBounds, joined: boolean): Bound {
  if (!joined) return bounds.hello
  const all = [bounds.hello, bounds.other, bounds.update, ...Object.values(bounds.secagg ?? {})]
  return {
    attachments: Math.max(...all.map((b) => b.attachments)),
    bytes: Math.max(...all.map((b) => b.bytes)),
  }
}
