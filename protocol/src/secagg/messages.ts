import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { int, record, str } from '../fields.ts'
import { asBytes } from '../weights.ts'
import { MAX_DIM, MAX_NEIGHBOURHOOD, type RoundContextOptions } from './context.ts'
import { idBytes, idFromBytes, PARTICIPANT_ID } from './identity.ts'
import type { RoundLabel } from './masking.ts'
import { ID_BYTES, kindAt, kindByte, recordCount, recordIds, writeRecords } from './stage-records.ts'
import { LITTLE_ENDIAN } from './words.ts'

/**
 * The wire of secure aggregation: four stages (Bonawitz et al., CCS 2017, Fig. 4), each a message
 * from every participant to the coordinator and one from the coordinator back. Every message names
 * its task, round and stage, so either side can refuse one from another round, a replay, or one that
 * arrives out of order. Byte fields are Uint8Array (socket.io carries them as binary); Node's
 * Buffer and a browser's ArrayBuffer are accepted on the way in and copied.
 *
 * A participant's messages do not name their sender: the coordinator takes the sender from the
 * authenticated connection, and the signature in stage 1 binds the keys to that identity.
 */
export type Stage = 'advertise' | 'share-keys' | 'masked-input' | 'unmask'

export type StageHeader<S extends Stage | 'complaint'> = {
  readonly taskId: string
  readonly round: number
  readonly stage: S
}

/** Sizes in bytes (X25519, Ed25519, the Shamir-shared secrets). */
export const PUBLIC_KEY_BYTES = 32
export const SIGNATURE_BYTES = 64
export const SECRET_BYTES = 32

/** The public keys of one participant for one round, signed with its identity key. */
export type SignedKeys = {
  /** X25519 key the shares for this participant are encrypted to. */
  readonly cPublic: Uint8Array
  /** X25519 key its pairwise masks are agreed with. */
  readonly sPublic: Uint8Array
  /** Ed25519 over transcript("advertise", taskId, round, id, cPublic, sPublic). */
  readonly signature: Uint8Array
}

/** Stage 1, participant → coordinator. */
export type Advertisement = StageHeader<'advertise'> & SignedKeys

/** One neighbour's advertisement as a participant reads it from a relay. */
export type AdvertisementEntry = SignedKeys & { readonly id: string }

/**
 * Stage 1, coordinator → participant: the advertisements of its neighbours that advertised (U1),
 * itself included, as records of id ‖ cPublic ‖ sPublic ‖ signature (stage-records.ts).
 */
export type NeighbourAdvertisements = StageHeader<'advertise'> & { readonly advertisements: Uint8Array }

/** A relay of advertisements as parsed: one entry per record. */
export type ReceivedAdvertisements = StageHeader<'advertise'> & {
  readonly advertisements: readonly AdvertisementEntry[]
}

/** A sealed share pair for neighbour `to`. */
export type SealedShare = { readonly to: string; readonly ciphertext: Uint8Array }

/**
 * Stage 2, participant → coordinator: one sealed share pair per neighbour in U1 but itself, as
 * records of the recipient's id ‖ the ciphertext, in the order of the ids.
 */
export type SealedShares = StageHeader<'share-keys'> & { readonly shares: Uint8Array }

/** A sealed share pair from neighbour `from`. */
export type IncomingShare = { readonly from: string; readonly ciphertext: Uint8Array }

/**
 * Stage 2, coordinator → participant: the sealed shares addressed to it by neighbours in U2, as
 * records of the sender's id ‖ the ciphertext, in the order of the ids.
 */
export type IncomingShares = StageHeader<'share-keys'> & { readonly shares: Uint8Array }

/** A relay of sealed shares as parsed: one entry per record. */
export type ReceivedShares = StageHeader<'share-keys'> & { readonly shares: readonly IncomingShare[] }

/** Stage 3, participant → coordinator: y_u as `dim` little-endian uint32 words. */
export type MaskedInput = StageHeader<'masked-input'> & { readonly masked: Uint8Array }

/**
 * Stage 4, coordinator → participant: U3, who sent a masked input, as one bit per participant of
 * the round (`survivorBits`), the same for everyone. From it the participant names each of its
 * neighbours in U2 a survivor or dropped, and answers with self-mask shares of the first and
 * mask-key shares of the second, never both kinds for one peer. Seeing all of U3, and not only its
 * neighbourhood, it can also check that the survivors form one group (`survivorGroups`).
 */
export type UnmaskRequest = StageHeader<'unmask'> & { readonly survived: Uint8Array }

/** U3 over the round's sorted ids: bit i (byte ⌊i/8⌋, least significant bit first) set when ids[i] ∈ U3. */
export function survivorBits(ids: readonly string[], survivors: ReadonlySet<string>): Uint8Array {
  const bits = new Uint8Array(Math.ceil(ids.length / 8))
  for (const [i, id] of ids.entries())
    if (survivors.has(id)) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7))
  return bits
}

/** The ids whose bit is set (the inverse of `survivorBits`). */
export function survivorsOf(ids: readonly string[], bits: Uint8Array): Set<string> {
  return new Set(ids.filter((_, i) => (((bits[i >> 3] as number) >> (i & 7)) & 1) === 1))
}

/** 'self-mask': a share of b_v (v survived); 'mask-key': a share of s_sk_v (v dropped). */
export type ShareKind = 'self-mask' | 'mask-key'

/** One revealed share: of neighbour `of`, of the kind asked. */
export type RevealedShare = { readonly of: string; readonly kind: ShareKind; readonly share: Uint8Array }

/**
 * Stage 4, participant → coordinator: one share per neighbour in U2 (itself included), as records
 * of the neighbour's id ‖ the kind (0 self-mask, 1 mask-key) ‖ the 32-byte share, in the order of the
 * ids; and, exactly when a neighbour in U2 dropped (was not named a survivor) and the round
 * `correctsDropouts`, the correction: the `dim` words Σ ±PRG(s_uv) over those neighbours v, each
 * with the sign u masked with, little-endian.
 */
export type UnmaskResponse = StageHeader<'unmask'> & {
  readonly shares: Uint8Array
  readonly correction?: Uint8Array
}

/** Why a participant complains about a neighbour (complaint.ts). */
export type ComplaintKind = 'share-does-not-open' | 'small-order-key'

/**
 * participant → coordinator, in place of its next stage message: v's share to u did not open
 * under K_uv (or named the wrong pair or x), or v advertised a small-order X25519 key. u gives up
 * the round and shows the coordinator the key it sealed with, so the coordinator can check the
 * complaint against the ciphertexts it relayed and name the culprit (complaint.ts).
 */
export type Complaint = StageHeader<'complaint'> & {
  readonly against: string
  readonly kind: ComplaintKind
  /** K_uv, the share key u sealed its shares to v with; 32 zero bytes for 'small-order-key'. */
  readonly pairKey: Uint8Array
  /** Ed25519 of u's identity key over transcript("complaint", taskId, round, u, against, kind, pairKey). */
  readonly signature: Uint8Array
}

/** Whether a stage message is a complaint, which any stage after the first may receive instead. */
export function isComplaint(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { stage?: unknown }).stage === 'complaint'
}

/**
 * What u seals for v in stage 2: v's Shamir shares (at x) of u's mask key and self-mask seed.
 * The ids and x are inside the authenticated plaintext so a relayed ciphertext cannot be passed
 * off as another pair's.
 */
export type SharePlaintext = {
  readonly from: string
  readonly to: string
  readonly x: number
  readonly maskKeyShare: Uint8Array
  readonly selfMaskShare: Uint8Array
}

/** from (16) ‖ to (16) ‖ x (1) ‖ mask-key share (32) ‖ self-mask share (32). */
export const SHARE_PLAINTEXT_BYTES = 16 + 16 + 1 + 2 * SECRET_BYTES
/** nacl.secretbox: 24-byte nonce and 16-byte tag around the plaintext. */
export const SHARE_CIPHERTEXT_BYTES = 24 + 16 + SHARE_PLAINTEXT_BYTES

/** A relayed advertisement's record: id (16) ‖ cPublic (32) ‖ sPublic (32) ‖ signature (64). */
export const ADVERTISEMENT_RECORD_BYTES = ID_BYTES + 2 * PUBLIC_KEY_BYTES + SIGNATURE_BYTES
/** A sealed share's record: the other participant's id (16) ‖ the ciphertext (137). */
export const SHARE_RECORD_BYTES = ID_BYTES + SHARE_CIPHERTEXT_BYTES
/** A revealed share's record: the id of whose share it is (16) ‖ kind (1) ‖ the share (32). */
export const REVEALED_RECORD_BYTES = ID_BYTES + 1 + SECRET_BYTES

/**
 * The longest secure vector whose unmask answers carry a correction (`UnmaskResponse`): 65,536 words,
 * 256 KiB. A correction saves the coordinator, per pair of a dropout and a survivor, an X25519
 * agreement and a keystream of the vector's length, and costs the survivor an upload of the same
 * length. For a 1280 → 10 head (about 14,000 words, 57 KB a survivor) the bytes cost about what the
 * computing they save does; for a head with a hidden layer (328,453 words, 1.3 MB a survivor, 1.2 GB
 * a round at n = 1000) they would cost more on any link short of 10 Gbit/s, so those rounds go
 * without (docs/secure-aggregation.md, §2.4).
 */
export const MAX_CORRECTION_WORDS = 65_536

/** Whether a round of vectors of `dim` words has corrections in its unmask answers. */
export function correctsDropouts(dim: number): boolean {
  return dim <= MAX_CORRECTION_WORDS
}

export function advertisementRecords(entries: readonly AdvertisementEntry[]): Uint8Array {
  return writeRecords(entries, ADVERTISEMENT_RECORD_BYTES, (out, at, a) => {
    out.set(fixed(a.cPublic, PUBLIC_KEY_BYTES, 'cPublic'), at)
    out.set(fixed(a.sPublic, PUBLIC_KEY_BYTES, 'sPublic'), at + PUBLIC_KEY_BYTES)
    out.set(fixed(a.signature, SIGNATURE_BYTES, 'signature'), at + 2 * PUBLIC_KEY_BYTES)
  })
}

export function sealedShareRecords(shares: readonly SealedShare[]): Uint8Array {
  return writeRecords(
    shares.map((s) => ({ id: s.to, ciphertext: s.ciphertext })),
    SHARE_RECORD_BYTES,
    (out, at, s) => out.set(fixed(s.ciphertext, SHARE_CIPHERTEXT_BYTES, 'ciphertext'), at),
  )
}

export function incomingShareRecords(shares: readonly IncomingShare[]): Uint8Array {
  return sealedShareRecords(shares.map((s) => ({ to: s.from, ciphertext: s.ciphertext })))
}

export function revealedShareRecords(shares: readonly RevealedShare[]): Uint8Array {
  return writeRecords(
    shares.map((s) => ({ id: s.of, kind: s.kind, share: s.share })),
    REVEALED_RECORD_BYTES,
    (out, at, s) => {
      out[at] = kindByte(s.kind)
      out.set(fixed(s.share, SECRET_BYTES, 'share'), at + 1)
    },
  )
}

/** The records of a relay of advertisements, each field a copy; ids strictly ascending. */
export function readAdvertisements(received: Uint8Array, what: string): AdvertisementEntry[] {
  const bytes = plain(received)
  recordCount(bytes, ADVERTISEMENT_RECORD_BYTES, MAX_NEIGHBOURHOOD, what)
  return recordIds(bytes, ADVERTISEMENT_RECORD_BYTES, what).map((id, i) => {
    const at = i * ADVERTISEMENT_RECORD_BYTES + ID_BYTES
    return {
      id,
      cPublic: bytes.slice(at, at + PUBLIC_KEY_BYTES),
      sPublic: bytes.slice(at + PUBLIC_KEY_BYTES, at + 2 * PUBLIC_KEY_BYTES),
      signature: bytes.slice(at + 2 * PUBLIC_KEY_BYTES, at + ADVERTISEMENT_RECORD_BYTES - ID_BYTES),
    }
  })
}

/** The records of sealed shares sent (or relayed: `to` is then the sender), ciphertexts copied. */
export function readSealedShares(received: Uint8Array, what: string): SealedShare[] {
  const bytes = plain(received)
  recordCount(bytes, SHARE_RECORD_BYTES, MAX_NEIGHBOURHOOD, what)
  return recordIds(bytes, SHARE_RECORD_BYTES, what).map((to, i) => ({
    to,
    ciphertext: bytes.slice(i * SHARE_RECORD_BYTES + ID_BYTES, (i + 1) * SHARE_RECORD_BYTES),
  }))
}

export function readIncomingShares(bytes: Uint8Array, what: string): IncomingShare[] {
  return readSealedShares(bytes, what).map((s) => ({ from: s.to, ciphertext: s.ciphertext }))
}

export function readRevealedShares(received: Uint8Array, what: string): RevealedShare[] {
  const bytes = plain(received)
  recordCount(bytes, REVEALED_RECORD_BYTES, MAX_NEIGHBOURHOOD, what)
  return recordIds(bytes, REVEALED_RECORD_BYTES, what).map((of, i) => {
    const at = i * REVEALED_RECORD_BYTES + ID_BYTES
    return {
      of,
      kind: kindAt(bytes, at, `${what}[${i}]`),
      share: bytes.slice(at + 1, at + 1 + SECRET_BYTES),
    }
  })
}

/**
 * `bytes` as a plain Uint8Array over the same memory: its `slice` copies, where a Node Buffer's
 * (which socket.io delivers in Node) would return a view of the socket's buffer.
 */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function fixed(bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (bytes.byteLength !== length)
    throw new ProtocolError('wrong-size', `record ${what}: expected ${length} bytes, got ${bytes.byteLength}`)
  return bytes
}

/** The coordinator's announcement of a round (roster and parameters), from which both sides build the context. */
export type SecaggSetup = RoundContextOptions

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const MAX_ROUND = 1_000_000
const MAX_ROSTER = 100_000

export function encodeSharePlaintext(p: SharePlaintext): Uint8Array {
  const out = new Uint8Array(SHARE_PLAINTEXT_BYTES)
  out.set(idBytes(p.from), 0)
  out.set(idBytes(p.to), 16)
  out[32] = p.x
  out.set(p.maskKeyShare, 33)
  out.set(p.selfMaskShare, 33 + SECRET_BYTES)
  return out
}

export function parseSharePlaintext(bytes: Uint8Array): SharePlaintext {
  if (bytes.length !== SHARE_PLAINTEXT_BYTES)
    throw new ProtocolError(
      'wrong-size',
      `share plaintext: expected ${SHARE_PLAINTEXT_BYTES} bytes, got ${bytes.length}`,
    )
  return {
    from: idFromBytes(bytes.subarray(0, 16)),
    to: idFromBytes(bytes.subarray(16, 32)),
    x: bytes[32] as number,
    maskKeyShare: bytes.slice(33, 33 + SECRET_BYTES),
    selfMaskShare: bytes.slice(33 + SECRET_BYTES),
  }
}

/** y as little-endian bytes, independent of the host's byte order (a copy of the words on a little-endian one). */
export function encodeWords(words: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN)
    return new Uint8Array(words.buffer.slice(words.byteOffset, words.byteOffset + words.byteLength))
  const out = new Uint8Array(words.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i] as number, true)
  return out
}

/**
 * The setup as it travels: the identity keys concatenated in roster order, one binary field. As a
 * list they would be one socket.io attachment (one websocket frame) each: at n = 1000, a million
 * frames from the coordinator for every round it starts (bench/load.ts measured 11 s of its CPU).
 */
export type WireSecaggSetup = Omit<SecaggSetup, 'identityKeys'> & { readonly identityKeys: Uint8Array }

export function encodeSecaggSetup(setup: SecaggSetup): WireSecaggSetup {
  const keys = new Uint8Array(setup.identityKeys.length * PUBLIC_KEY_BYTES)
  setup.identityKeys.forEach((key, i) => {
    keys.set(key, i * PUBLIC_KEY_BYTES)
  })
  return { ...setup, identityKeys: keys }
}

export function parseSecaggSetup(value: unknown): SecaggSetup {
  const o = record(value, 'secagg setup')
  const packed = asBytes(o.identityKeys)
  if (
    packed === undefined ||
    packed.byteLength === 0 ||
    packed.byteLength % PUBLIC_KEY_BYTES !== 0 ||
    packed.byteLength > MAX_ROSTER * PUBLIC_KEY_BYTES
  )
    throw new ProtocolError(
      'malformed',
      `secagg setup.identityKeys: expected 1 to ${MAX_ROSTER} keys of ${PUBLIC_KEY_BYTES} bytes concatenated, got ${describe(o.identityKeys)}`,
    )
  const identityKeys = Array.from(
    { length: packed.byteLength / PUBLIC_KEY_BYTES },
    (_, i) =>
      // A copy, as a plain Uint8Array whatever view arrived (Node delivers Buffers).
      new Uint8Array(packed.subarray(i * PUBLIC_KEY_BYTES, (i + 1) * PUBLIC_KEY_BYTES)),
  )
  return {
    taskId: str(o, 'taskId', 'secagg setup', NAME),
    round: int(o, 'round', 'secagg setup', 0, MAX_ROUND),
    identityKeys,
    neighbourCount: int(o, 'neighbourCount', 'secagg setup', 1, MAX_ROSTER),
    neighbourSeed: bytesOf(o.neighbourSeed, 'secagg setup.neighbourSeed', 32),
    threshold: int(o, 'threshold', 'secagg setup', 1, MAX_NEIGHBOURHOOD),
    dim: int(o, 'dim', 'secagg setup', 1, MAX_DIM),
  }
}

export function parseAdvertisement(value: unknown, round: RoundLabel): Advertisement {
  const o = header(value, 'advertise', round, 'advertise')
  return { ...stageOf(round, 'advertise'), ...signedKeys(o, 'advertise') }
}

export function parseNeighbourAdvertisements(value: unknown, round: RoundLabel): ReceivedAdvertisements {
  const o = header(value, 'advertisements', round, 'advertise')
  return {
    ...stageOf(round, 'advertise'),
    advertisements: readAdvertisements(
      binary(o.advertisements, 'advertisements.advertisements'),
      'advertisements.advertisements',
    ),
  }
}

/**
 * A participant's sealed shares as the coordinator keeps them: the records, copied, a whole number
 * of them and at most a neighbourhood's; which ids they must name, in which order, is the
 * coordinator's to check (it knows the participant's neighbours in U1).
 */
export function parseSealedShares(value: unknown, round: RoundLabel): SealedShares {
  const o = header(value, 'share-keys', round, 'share-keys')
  const shares = new Uint8Array(binary(o.shares, 'share-keys.shares'))
  recordCount(shares, SHARE_RECORD_BYTES, MAX_NEIGHBOURHOOD, 'share-keys.shares')
  return { ...stageOf(round, 'share-keys'), shares }
}

export function parseIncomingShares(value: unknown, round: RoundLabel): ReceivedShares {
  const o = header(value, 'incoming shares', round, 'share-keys')
  return {
    ...stageOf(round, 'share-keys'),
    shares: readIncomingShares(binary(o.shares, 'incoming shares.shares'), 'incoming shares.shares'),
  }
}

/**
 * The masked words y_u of a stage-3 message, `dim` of them, as the received bytes (little-endian
 * words, 4·dim bytes, checked), not copied: the coordinator adds them into its running sum at once
 * (addWordsInto) and keeps nothing; at d ≈ 330k a copy per participant was a third of the secure
 * round's cost. `littleEndianWords` reads them as words; callers that keep them must copy them.
 */
export function parseMaskedInput(value: unknown, round: RoundLabel, dim: number): Uint8Array {
  const o = header(value, 'masked-input', round, 'masked-input')
  return checkedBytes(o.masked, 'masked-input.masked', dim * 4)
}

export function parseUnmaskRequest(
  value: unknown,
  round: RoundLabel & { readonly ids: readonly string[] },
): UnmaskRequest {
  const o = header(value, 'unmask request', round, 'unmask')
  const n = round.ids.length
  const survived = checkedBytes(o.survived, 'unmask request.survived', Math.ceil(n / 8))
  if (n % 8 !== 0 && (survived[survived.length - 1] as number) >> (n % 8) !== 0)
    throw new ProtocolError(
      'malformed',
      `unmask request.survived: expected one bit per participant (${n}), got bits set past the last`,
    )
  return { ...stageOf(round, 'unmask'), survived }
}

/**
 * A participant's revealed shares as the coordinator keeps them: the records, copied, a whole
 * number of them, each of a known kind; which ids and kinds they must name, and whether a
 * correction must come with them, is the coordinator's to check (what it asked of this
 * participant). The correction, when present, is exactly `dim` words, as received (a view: the
 * coordinator subtracts it from its sum at once and keeps nothing).
 */
export function parseUnmaskResponse(value: unknown, round: RoundLabel, dim: number): UnmaskResponse {
  const o = header(value, 'unmask', round, 'unmask')
  const shares = new Uint8Array(binary(o.shares, 'unmask.shares'))
  const count = recordCount(shares, REVEALED_RECORD_BYTES, MAX_NEIGHBOURHOOD, 'unmask.shares')
  for (let i = 0; i < count; i++) kindAt(shares, i * REVEALED_RECORD_BYTES + ID_BYTES, `unmask.shares[${i}]`)
  if (o.correction === undefined) return { ...stageOf(round, 'unmask'), shares }
  const correction = checkedBytes(o.correction, 'unmask.correction', dim * 4)
  return { ...stageOf(round, 'unmask'), shares, correction }
}

export function parseComplaint(value: unknown, round: RoundLabel): Complaint {
  const o = header(value, 'complaint', round, 'complaint')
  const kind = o.kind
  if (kind !== 'share-does-not-open' && kind !== 'small-order-key')
    throw new ProtocolError(
      'malformed',
      `complaint.kind: expected "share-does-not-open" or "small-order-key", got ${describe(kind)}`,
    )
  const pairKey = bytesOf(o.pairKey, 'complaint.pairKey', SECRET_BYTES)
  if (kind === 'small-order-key' && pairKey.some((b) => b !== 0))
    throw new ProtocolError(
      'malformed',
      'complaint.pairKey: expected 32 zero bytes in a small-order-key complaint, got a key',
    )
  return {
    ...stageOf(round, 'complaint'),
    against: str(o, 'against', 'complaint', PARTICIPANT_ID),
    kind,
    pairKey,
    signature: bytesOf(o.signature, 'complaint.signature', SIGNATURE_BYTES),
  }
}

/** The stages whose messages the coordinator relays to a participant, in the order they come. */
export const RELAY_STAGES = ['advertise', 'share-keys', 'unmask'] as const
export type RelayStage = (typeof RELAY_STAGES)[number]

/**
 * Which stage a message relayed to a participant is for, after its task and round are checked: the
 * participant's dispatch (secure-round-driver.ts) reads this, then hands the message to that stage's
 * own parser, which reads the rest.
 */
export function parseRelayStage(value: unknown, round: RoundLabel): RelayStage {
  const o = record(value, 'secagg relay')
  if (o.taskId !== round.taskId)
    throw new ProtocolError(
      'malformed',
      `secagg relay.taskId: expected "${round.taskId}", got ${describe(o.taskId)}`,
    )
  if (o.round !== round.round)
    throw new ProtocolError(
      'malformed',
      `secagg relay.round: expected round ${round.round}, got ${describe(o.round)} (a message from another round)`,
    )
  const stage = o.stage
  if (typeof stage !== 'string' || !(RELAY_STAGES as readonly string[]).includes(stage))
    throw new ProtocolError(
      'malformed',
      `secagg relay.stage: expected one of ${RELAY_STAGES.map((s) => `"${s}"`).join(', ')}, got ${describe(stage)}`,
    )
  return stage as RelayStage
}

/**
 * The record of a message after its task, round and stage are checked, in that order, each
 * refusal naming what was expected. A stage other than the expected one is a message out of order
 * ('malformed') or replayed from an earlier stage ('duplicate'); another round is 'wrong-round'.
 */
function header(
  value: unknown,
  what: string,
  round: RoundLabel,
  stage: Stage | 'complaint',
): Record<string, unknown> {
  const o = record(value, what)
  if (o.taskId !== round.taskId)
    throw new ProtocolError(
      'malformed',
      `${what}.taskId: expected "${round.taskId}", got ${describe(o.taskId)}`,
    )
  if (o.round !== round.round)
    throw new ProtocolError(
      'wrong-round',
      `${what}.round: expected round ${round.round}, got ${describe(o.round)} (a message from another round)`,
    )
  if (o.stage !== stage)
    throw new ProtocolError(
      // a stage that has closed: its message was taken already, so this one is a replay
      STAGE_ORDER.indexOf(o.stage as Stage) >= 0 &&
        STAGE_ORDER.indexOf(o.stage as Stage) < STAGE_ORDER.indexOf(stage as Stage)
        ? 'duplicate'
        : 'malformed',
      `${what}.stage: expected "${stage}", got ${describe(o.stage)} (out of order or replayed)`,
    )
  return o
}

const STAGE_ORDER: readonly Stage[] = ['advertise', 'share-keys', 'masked-input', 'unmask']

function stageOf<S extends Stage | 'complaint'>(round: RoundLabel, stage: S): StageHeader<S> {
  return { taskId: round.taskId, round: round.round, stage }
}

function signedKeys(o: Record<string, unknown>, what: string): SignedKeys {
  return {
    cPublic: bytesOf(o.cPublic, `${what}.cPublic`, PUBLIC_KEY_BYTES),
    sPublic: bytesOf(o.sPublic, `${what}.sPublic`, PUBLIC_KEY_BYTES),
    signature: bytesOf(o.signature, `${what}.signature`, SIGNATURE_BYTES),
  }
}

/** A binary field of exactly `length` bytes, copied so later changes to the socket's buffer cannot reach it. */
function bytesOf(value: unknown, what: string, length: number): Uint8Array {
  return new Uint8Array(checkedBytes(value, what, length))
}

/** A binary field of exactly `length` bytes, as received (a view, not a copy). */
function checkedBytes(value: unknown, what: string, length: number): Uint8Array {
  const bytes = asBytes(value)
  if (bytes === undefined)
    throw new ProtocolError(
      'malformed',
      `${what}: expected ${length} bytes of binary data, got ${describe(value)}`,
    )
  if (bytes.byteLength !== length)
    throw new ProtocolError('wrong-size', `${what}: expected ${length} bytes, got ${bytes.byteLength}`)
  return bytes
}

/** A binary field of any length (its records' count is checked by the caller), as received. */
function binary(value: unknown, what: string): Uint8Array {
  const bytes = asBytes(value)
  if (bytes === undefined)
    throw new ProtocolError('malformed', `${what}: expected records as binary data, got ${describe(value)}`)
  return bytes
}
