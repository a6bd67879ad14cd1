import { ProtocolError } from '../errors.ts'
import { complaintTranscript, openPairShare, shareX } from './complaint.ts'
import type { SecaggContext } from './context.ts'
import type { Mask, SecaggCrypto } from './crypto.ts'
import { addWordsInto, subtractWordsFrom } from './fixed-point.ts'
import { idBytes } from './identity.ts'
import { agreePairMaskKeys, applyMasks, pairSign, selfMaskKey } from './masking.ts'
import {
  ADVERTISEMENT_RECORD_BYTES,
  type ComplaintKind,
  correctsDropouts,
  type IncomingShares,
  isComplaint,
  type NeighbourAdvertisements,
  PUBLIC_KEY_BYTES,
  parseAdvertisement,
  parseComplaint,
  parseMaskedInput,
  parseSealedShares,
  parseUnmaskResponse,
  REVEALED_RECORD_BYTES,
  SECRET_BYTES,
  SHARE_RECORD_BYTES,
  type ShareKind,
  type SignedKeys,
  type Stage,
  survivorBits,
  type UnmaskRequest,
} from './messages.ts'
import { survivorGroups } from './neighbours.ts'
import { type Share, shamirCombine } from './shamir.ts'
import { ID_BYTES, idAt, idsAsSent, indexOfSorted, KIND_OF_BYTE, kindByte } from './stage-records.ts'
import { transcript } from './transcript.ts'
import { isSmallOrderX25519 } from './x25519-strict.ts'

/** The round's result: the exact sum of the survivors' inputs, or why there is none. */
export type SecaggOutcome =
  | { readonly ok: true; readonly sum: Uint32Array; readonly survivors: readonly string[] }
  | { readonly ok: false; readonly reason: string }

/** Closing a stage yields the message for each participant that goes on, or why the round failed. */
export type StageOutcome<M> =
  | { readonly ok: true; readonly messages: ReadonlyMap<string, M> }
  | { readonly ok: false; readonly reason: string }

/** 'unmasking' while `finish` runs (it awaits the keystreams); no message is taken then or after. */
export type ServerStage = Stage | 'unmasking' | 'done' | 'failed'

/** A participant the round's complaints name, whose complaint named it (itself, for a false one), and why. */
export type Blame = { readonly participant: string; readonly by: string; readonly reason: string }

/**
 * What the round's complaints established: `culprits` lied (sent what does not open, advertised a
 * small-order key, or complained falsely) and are for the shell to exclude from the run; `disputed`
 * are pairs who each showed a key under which the other's share does not open, which the
 * coordinator cannot settle: both are out of this round, neither is excluded.
 */
export type RoundBlame = { readonly culprits: readonly Blame[]; readonly disputed: readonly Blame[] }

type Verdict = {
  readonly complainer: string
  readonly against: string
  readonly kind: ComplaintKind
  readonly upheld: boolean
  readonly reason: string
}

export type SecaggServerOptions = { readonly crypto: SecaggCrypto; readonly context: SecaggContext }

/**
 * The coordinator's side of one SecAgg+ round (Bonawitz et al., CCS 2017, Fig. 4; neighbourhoods
 * of Bell et al., CCS 2020). It relays advertisements and sealed shares between neighbours, fixes
 * the survivor sets U1 ⊇ U2 ⊇ U3 as each stage closes, and finally removes the masks. It never
 * sees an input: only y_u = x_u + masks, and t-of-n shares of secrets it may use for exactly one
 * purpose each.
 *
 * The shell feeds it every inbound message with the sender's authenticated id (`receive`, which
 * throws a ProtocolError at anything out of place) and decides when a stage ends — when
 * `waitingFor` is empty or a deadline passes — by calling that stage's close. Too few survivors at
 * any point is a value, `{ ok: false, reason }`, and never a wrong sum.
 */
export class SecaggServer {
  readonly #crypto: SecaggCrypto
  readonly #context: SecaggContext
  #stage: ServerStage = 'advertise'
  #failure = ''
  /** Who may send in the current stage: everyone, then U1, U2, U3. */
  #expected: ReadonlySet<string>
  /** Each advertisement as its relay record (id ‖ cPublic ‖ sPublic ‖ signature), a view of `#advertised`. */
  readonly #advertisements = new Map<string, Uint8Array>()
  /** Every advertisement's record, at its participant's place in the round's ids. */
  readonly #advertised: Uint8Array
  readonly #place: ReadonlyMap<string, number>
  /** Each sender's sealed-share records (copied as they came), and the recipients they name, in order. */
  readonly #sealed = new Map<string, Records>()
  /** Who sent a masked input; the inputs themselves are only added into #sum, so memory is O(dim), not O(n·dim). */
  readonly #masked = new Set<string>()
  /** Σ y_u over the masked inputs received so far, mod 2^32. */
  readonly #sum: Uint32Array
  /** Each answer's revealed-share records, and whose shares they are, in order. */
  readonly #revealed = new Map<string, Records>()
  /** Survivors whose correction was subtracted: their masks with dropped neighbours are gone. */
  readonly #corrected = new Set<string>()
  /** U1 ⊇ U2 ⊇ U3: who advertised, who shared keys, who sent a masked input (sorted sets). */
  #u1: ReadonlySet<string> = new Set()
  #u2: ReadonlySet<string> = new Set()
  #u3: ReadonlySet<string> = new Set()
  /** Every complaint checked, by "complainer accused", in the order they came. */
  readonly #verdicts = new Map<string, Verdict>()
  #blame: RoundBlame = { culprits: [], disputed: [] }
  /** Who is out of this round since a complaint (complainers, culprits, disputants), with why. */
  #out = new Map<string, string>()

  constructor({ crypto, context }: SecaggServerOptions) {
    this.#crypto = crypto
    this.#context = context
    this.#expected = new Set(context.ids)
    this.#sum = new Uint32Array(context.dim)
    this.#advertised = new Uint8Array(context.ids.length * ADVERTISEMENT_RECORD_BYTES)
    this.#place = new Map(context.ids.map((id, i) => [id, i]))
  }

  get stage(): ServerStage {
    return this.#stage
  }

  /** Participants the current stage has not heard from yet. */
  get waitingFor(): readonly string[] {
    if (this.#stage === 'unmasking' || this.#stage === 'done' || this.#stage === 'failed') return []
    const received = this.#received()
    return [...this.#expected].filter((id) => !received.has(id))
  }

  /** The culprits and disputes the complaints so far establish (ids). */
  get blame(): RoundBlame {
    return this.#blame
  }

  /** How many `waitingFor` lists, without listing them: asked after every message. */
  /**
   * A lower bound of `waitingCount` in O(1): who is expected less who sent in this stage (some of
   * whom may no longer be expected). Asked after every message, where the exact count, O(n), would
   * make a stage O(n²).
   */
  get waitingAtLeast(): number {
    if (this.#stage === 'unmasking' || this.#stage === 'done' || this.#stage === 'failed') return 0
    return Math.max(0, this.#expected.size - this.#received().size)
  }

  get waitingCount(): number {
    if (this.#stage === 'unmasking' || this.#stage === 'done' || this.#stage === 'failed') return 0
    // Complainers and culprits leave #expected but may have sent in this stage already.
    let waiting = this.#expected.size
    for (const id of this.#received().keys()) if (this.#expected.has(id)) waiting--
    return waiting
  }

  /**
   * One participant's message for the current stage, parsed and checked at the edge: from a
   * participant still in the round, once, for this task, round and stage, and consistent with
   * what the coordinator sent it. A complaint may come instead in any stage after the first.
   */
  receive(from: string, value: unknown): void {
    const stage = this.#stage
    if (stage === 'unmasking' || stage === 'done' || stage === 'failed')
      throw new ProtocolError(
        'no-round',
        `secagg: a message from ${from} after the last stage closed (${stage})`,
      )
    if (isComplaint(value)) {
      this.#receiveComplaint(from, value)
      return
    }
    const out = this.#out.get(from)
    if (out !== undefined) throw new ProtocolError('excluded', `secagg ${stage}: ${from} ${out}`)
    if (!this.#expected.has(from))
      throw new ProtocolError(
        'not-selected',
        `secagg ${stage}: ${from} is not expected in this stage (not in the round or dropped earlier)`,
      )
    if (this.#received().has(from))
      throw new ProtocolError('duplicate', `secagg ${stage}: a second message from ${from} (replayed?)`)
    const ctx = this.#context
    if (stage === 'advertise') this.#receiveAdvertisement(from, value)
    else if (stage === 'share-keys') this.#receiveSealedShares(from, value)
    else if (stage === 'masked-input') {
      addWordsInto(this.#sum, parseMaskedInput(value, ctx, ctx.dim))
      this.#masked.add(from)
    } else this.#receiveUnmaskResponse(from, value)
  }

  /** Ends stage 1: U1 is who advertised; each of them gets its neighbours' advertisements. */
  closeAdvertise(): StageOutcome<NeighbourAdvertisements> {
    this.#close('advertise')
    this.#u1 = sortedSet(this.#advertisements.keys())
    const failure = this.#tooFew(this.#u1, 'advertised')
    if (failure) return this.#fail(failure)
    const { taskId, round } = this.#context
    const messages = new Map<string, NeighbourAdvertisements>()
    for (const u of this.#u1) {
      const neighbours = this.#neighboursIn(u, this.#u1)
      const advertisements = new Uint8Array(neighbours.length * ADVERTISEMENT_RECORD_BYTES)
      neighbours.forEach((v, i) => {
        advertisements.set(this.#advertisements.get(v) as Uint8Array, i * ADVERTISEMENT_RECORD_BYTES)
      })
      messages.set(u, { taskId, round, stage: 'advertise', advertisements })
    }
    this.#next('share-keys', this.#u1)
    return { ok: true, messages }
  }

  /** Ends stage 2: U2 is who sent shares; each of them gets the shares addressed to it from U2. */
  closeShareKeys(): StageOutcome<IncomingShares> {
    this.#close('share-keys')
    // Out since a complaint (a small-order key, or its complainer): nothing of theirs is relayed.
    this.#u2 = sortedSet([...this.#sealed.keys()].filter((id) => !this.#out.has(id)))
    const failure = this.#tooFew(this.#u2, 'shared keys')
    if (failure) return this.#fail(failure)
    const { taskId, round } = this.#context
    const messages = new Map<string, IncomingShares>()
    const idOf = new Map([...this.#u2].map((v) => [v, idBytes(v)]))
    for (const u of this.#u2) {
      const senders = this.#neighboursIn(u, this.#u2).filter((v) => v !== u)
      const shares = new Uint8Array(senders.length * SHARE_RECORD_BYTES)
      senders.forEach((v, i) => {
        shares.set(idOf.get(v) as Uint8Array, i * SHARE_RECORD_BYTES)
        shares.set(this.#sealedBy(v, u), i * SHARE_RECORD_BYTES + ID_BYTES)
      })
      messages.set(u, { taskId, round, stage: 'share-keys', shares })
    }
    this.#next('masked-input', this.#u2)
    return { ok: true, messages }
  }

  /**
   * Ends stage 3: U3 is who sent a masked input. The round fails here, before any share is
   * revealed, unless every secret the unmasking needs can still be reconstructed: each survivor's
   * self-mask seed, and the mask key of each dropped participant with a surviving neighbour, each
   * need t holders in U3.
   */
  closeMaskedInput(): StageOutcome<UnmaskRequest> {
    this.#close('masked-input')
    this.#u3 = sortedSet(this.#masked)
    const failure = this.#tooFew(this.#u3, 'sent a masked input')
    if (failure) return this.#fail(failure)
    for (const v of this.#u2) {
      const holders = this.#neighboursIn(v, this.#u3).length
      const needed = this.#masked.has(v) || holders > 0
      if (needed && holders < this.#context.threshold)
        return this.#fail(
          `${v} ${this.#masked.has(v) ? 'survived' : 'dropped'} with ${holders} surviving neighbours to reconstruct its ${this.#masked.has(v) ? 'self-mask seed' : 'mask key'}, fewer than t = ${this.#context.threshold}`,
        )
    }
    const groups = survivorGroups(this.#u3, this.#context.neighbours)
    if (groups.length > 1)
      return this.#fail(
        `the ${this.#u3.size} survivors fall into ${groups.length} groups that share no masks (of ${groups.map((g) => g.length).join(', ')}): unmasking would reveal each group's sum, so no share is asked for`,
      )
    const { taskId, round, ids } = this.#context
    const request: UnmaskRequest = { taskId, round, stage: 'unmask', survived: survivorBits(ids, this.#u3) }
    this.#next('unmask', this.#u3)
    return { ok: true, messages: new Map([...this.#u3].map((u) => [u, request])) }
  }

  /**
   * Ends stage 4 and unmasks: Σ_{u ∈ U3} y_u − Σ_{u ∈ U3} PRG(b_u) ∓ the masks each survivor
   * shares with a dropped neighbour, which is Σ_{u ∈ U3} x_u mod 2^32. The masks of a survivor that
   * answered were subtracted with its correction as it came; only those of survivors that did not
   * answer (dropped in this stage) are derived here, from the dropped neighbour's reconstructed
   * mask key. Each secret comes from t shares of those who answered; where more than t answered, a
   * second t-subset must give the same secret, and a reconstructed mask key must match its
   * advertised public key, or the round fails.
   */
  async finish(): Promise<SecaggOutcome> {
    if (this.#stage === 'failed') return { ok: false, reason: this.#failure }
    this.#close('unmask')
    this.#stage = 'unmasking'
    const masks: Mask[] = []
    const dropped: Dropped[] = []
    try {
      const failure = (await this.#gatherMasks(masks, dropped)) ?? (await this.#removeMasks(masks))
      if (failure !== undefined) return this.#fail(failure)
    } finally {
      for (const { key } of masks) key.fill(0)
      for (const { sSecret } of dropped) sSecret.fill(0)
      for (const { records } of this.#revealed.values()) records.fill(0)
    }
    this.#stage = 'done'
    return { ok: true, sum: this.#sum, survivors: [...this.#u3] }
  }

  /**
   * Every mask to remove, into `masks`: each survivor's self mask, and each dropped participant's
   * pair mask with each surviving neighbour that sent no correction (did not answer the unmask
   * request; those that did subtracted theirs). Every secret is reconstructed and checked before
   * any agreement or keystream runs, so a round that must fail fails before the costly part. The
   * dropped participants' key agreements then run together through the backend's asynchronous
   * `x25519All`, which node:crypto spreads over the mask threads (about 65 µs each: with the
   * corrections, only for survivors lost in this stage). Reconstructed secrets go into `dropped` so
   * the caller zeroes them however this ends. Resolves to why the round fails, if it must.
   */
  async #gatherMasks(masks: Mask[], dropped: Dropped[]): Promise<string | undefined> {
    const ctx = this.#context
    for (const v of this.#u3) {
      const b = this.#reconstruct(v, 'self-mask')
      if (typeof b === 'string') return b
      masks.push({ key: selfMaskKey(this.#crypto, ctx, b, v), sign: -1 })
      b.fill(0)
    }
    for (const v of this.#u2) {
      // Survivors whose masks with v no correction removed (none answered this stage, or the round has none).
      const survivors = this.#neighboursIn(v, this.#u3).filter((w) => !this.#corrected.has(w))
      if (this.#masked.has(v) || survivors.length === 0) continue
      const sSecret = this.#reconstruct(v, 'mask-key')
      if (typeof sSecret === 'string') return sSecret
      dropped.push({ v, sSecret, survivors })
      const sPublic = this.#keysOf(v).sPublic
      if (!equal(this.#crypto.x25519Base(sSecret), sPublic))
        return `the mask key reconstructed for ${v} does not match its advertised public key`
    }
    let keys: Uint8Array[][]
    try {
      keys = await Promise.all(
        dropped.map(({ v, sSecret, survivors }) =>
          agreePairMaskKeys(
            this.#crypto,
            ctx,
            sSecret,
            v,
            survivors.map((w) => ({ id: w, publicKey: this.#keysOf(w).sPublic })),
          ),
        ),
      )
    } catch (error) {
      return `deriving the dropped participants' pair-mask keys failed: ${(error as Error).message}`
    }
    // w added sign(w, v)·PRG(s_wv); subtract exactly that.
    for (const [j, { v, survivors }] of dropped.entries())
      for (const [i, w] of survivors.entries())
        masks.push({ key: keys[j]?.[i] as Uint8Array, sign: pairSign(w, v) === 1 ? -1 : 1 })
    return undefined
  }

  /** Σ of `masks` removed from the sum in one batch; resolves to why it failed, if it did. */
  async #removeMasks(masks: readonly Mask[]): Promise<string | undefined> {
    try {
      await applyMasks(this.#crypto, this.#sum, masks)
      return undefined
    } catch (error) {
      return `removing the masks failed: ${(error as Error).message}`
    }
  }

  #receiveAdvertisement(from: string, value: unknown): void {
    const ctx = this.#context
    const a = parseAdvertisement(value, ctx)
    const identity = ctx.identityKeys.get(from) as Uint8Array
    // Checked here too, not only by the neighbours: a forged advertisement relayed would make every
    // neighbour of `from` refuse the round; refused here, `from` is merely absent from U1.
    if (
      !this.#crypto.verify(
        identity,
        transcript('advertise', ctx.taskId, ctx.round, from, a.cPublic, a.sPublic),
        a.signature,
      )
    )
      throw new ProtocolError(
        'malformed',
        `advertise: the signature of ${from} does not verify against its identity key`,
      )
    // A small-order key makes every pair key with `from` all zero (x25519-strict.ts): each
    // neighbour would refuse it and fail the round; refused here, `from` is merely absent from U1.
    for (const [what, key] of [
      ['cPublic', a.cPublic],
      ['sPublic', a.sPublic],
    ] as const)
      if (isSmallOrderX25519(key))
        throw new ProtocolError(
          'bad-key',
          `advertise: expected an X25519 ${what} of large order from ${from}, got ${hexOf(key)}, a point of small order (every key agreed with it is all zero)`,
        )
    const at = (this.#place.get(from) as number) * ADVERTISEMENT_RECORD_BYTES
    const record = this.#advertised.subarray(at, at + ADVERTISEMENT_RECORD_BYTES)
    record.set(idBytes(from))
    record.set(a.cPublic, ID_BYTES)
    record.set(a.sPublic, ID_BYTES + PUBLIC_KEY_BYTES)
    record.set(a.signature, ID_BYTES + 2 * PUBLIC_KEY_BYTES)
    this.#advertisements.set(from, record)
  }

  /** v's advertised keys, as views of its record. */
  #keysOf(v: string): SignedKeys {
    const record = this.#advertisements.get(v) as Uint8Array
    return {
      cPublic: record.subarray(ID_BYTES, ID_BYTES + PUBLIC_KEY_BYTES),
      sPublic: record.subarray(ID_BYTES + PUBLIC_KEY_BYTES, ID_BYTES + 2 * PUBLIC_KEY_BYTES),
      signature: record.subarray(ID_BYTES + 2 * PUBLIC_KEY_BYTES),
    }
  }

  /** The ciphertext v sealed for u, as relayed (a view of v's records). */
  #sealedBy(v: string, u: string): Uint8Array {
    const { records, ids } = this.#sealed.get(v) as Records
    const i = indexOfSorted(ids, u)
    if (i < 0) throw new Error(`secagg server: ${v} sealed no share for ${u}`)
    return records.subarray(i * SHARE_RECORD_BYTES + ID_BYTES, (i + 1) * SHARE_RECORD_BYTES)
  }

  /** Checked record by record against the neighbours `from` shares with, in their order, without a list of objects. */
  #receiveSealedShares(from: string, value: unknown): void {
    const { shares } = parseSealedShares(value, this.#context)
    const expected = this.#neighboursIn(from, this.#u1).filter((v) => v !== from)
    const count = shares.byteLength / SHARE_RECORD_BYTES
    if (count !== expected.length || !expected.every((v, i) => idAt(shares, i * SHARE_RECORD_BYTES, v))) {
      const got = idsAsSent(shares, SHARE_RECORD_BYTES)
      throw new ProtocolError(
        'malformed',
        `share-keys: expected shares for ${from}'s neighbours that advertised, in the order of their ids (${expected.length}: ${expected.join(', ')}), got ${got.length}: ${got.join(', ')}`,
      )
    }
    this.#sealed.set(from, { records: shares, ids: expected })
  }

  /**
   * u's complaint about v, checked against what this coordinator relayed (docs/secure-aggregation.md,
   * "Blame"). Refused, blaming no one, unless it is signed by u, names a neighbour, concerns keys or
   * shares that were relayed between the two, and comes once and before u's masked input. Then it
   * is judged: for 'share-does-not-open', v is the culprit when v's relayed share to u does not
   * open under the key u shows and u's own share to v does (so it is the key u sealed with); for
   * 'small-order-key', when v's advertisement has a small-order key. Otherwise u complained
   * falsely and is the culprit. Either way u has left the round.
   */
  #receiveComplaint(u: string, value: unknown): void {
    const ctx = this.#context
    const stage = this.#stage
    const c = parseComplaint(value, ctx)
    const v = c.against
    const shares = c.kind === 'share-does-not-open'
    if (stage === 'advertise' || (shares && stage === 'share-keys'))
      throw new ProtocolError(
        'malformed',
        `complaint: ${u} complains that ${c.kind === 'small-order-key' ? 'a key' : 'a share'} of ${v} is bad in stage ${stage}, before any was relayed`,
      )
    const among = shares ? this.#u2 : this.#u1
    const set = shares ? 'U2, who shared keys' : 'U1, who advertised'
    if (!among.has(u) || !among.has(v) || u === v || !this.#neighboursIn(u, among).includes(v))
      throw new ProtocolError(
        'malformed',
        `complaint: expected a complaint between two neighbours in ${set}, got one from ${u} against ${v}`,
      )
    if (this.#masked.has(u))
      throw new ProtocolError(
        'malformed',
        `complaint: ${u} already sent its masked input; a complaint comes instead of it`,
      )
    if (this.#verdicts.has(`${u} ${v}`))
      throw new ProtocolError('malformed', `complaint: a second complaint from ${u} against ${v} (replayed?)`)
    const identity = ctx.identityKeys.get(u) as Uint8Array
    if (!this.#crypto.verify(identity, complaintTranscript(ctx, u, v, c.kind, c.pairKey), c.signature))
      throw new ProtocolError(
        'malformed',
        `complaint: the signature of ${u} against ${v} does not verify against its identity key`,
      )
    const judged = shares ? this.#judgeShare(u, v, c.pairKey) : this.#judgeKeys(u, v)
    c.pairKey.fill(0)
    this.#verdicts.set(`${u} ${v}`, { complainer: u, against: v, kind: c.kind, ...judged })
    this.#settle()
  }

  #judgeShare(u: string, v: string, key: Uint8Array): { upheld: boolean; reason: string } {
    const ctx = this.#context
    const relayed = this.#sealedBy(v, u)
    const theirs = openPairShare(key, relayed, { from: v, to: u, x: shareX(ctx, v, u) })
    if (typeof theirs !== 'string') {
      theirs.maskKeyShare.fill(0)
      theirs.selfMaskShare.fill(0)
      return {
        upheld: false,
        reason: `complained falsely that ${v}'s share does not open: it opens under the key ${u} showed`,
      }
    }
    const own = openPairShare(key, this.#sealedBy(u, v), {
      from: u,
      to: v,
      x: shareX(ctx, u, v),
    })
    if (typeof own === 'string')
      return {
        upheld: false,
        reason: `complained that ${v}'s share does not open, showing a key its own share for ${v} was not sealed under (${own})`,
      }
    own.maskKeyShare.fill(0)
    own.selfMaskShare.fill(0)
    return {
      upheld: true,
      reason: `its share for ${u} does not open under the key ${u} sealed its own share with (${theirs})`,
    }
  }

  #judgeKeys(u: string, v: string): { upheld: boolean; reason: string } {
    const a = this.#keysOf(v)
    const weak = [a.cPublic, a.sPublic].some(isSmallOrderX25519)
    return weak
      ? { upheld: true, reason: `advertised a small-order X25519 key (signed, relayed to ${u})` }
      : { upheld: false, reason: `complained falsely that ${v} advertised a small-order key` }
  }

  /**
   * The round's blame from every verdict so far. Two upheld share complaints between the same
   * pair are a dispute: each showed a key under which its own share opens and the other's does
   * not, so one of them sealed under a key it made up, and the coordinator cannot tell which.
   */
  #settle(): void {
    const culprits = new Map<string, Blame>()
    const disputed = new Map<string, Blame>()
    const dispute = (x: Verdict) => {
      const back = this.#verdicts.get(`${x.against} ${x.complainer}`)
      return x.upheld && x.kind === 'share-does-not-open' && back?.upheld === true && back.kind === x.kind
    }
    for (const x of this.#verdicts.values()) {
      if (dispute(x)) {
        disputed.set(x.complainer, {
          participant: x.complainer,
          by: x.against,
          reason: `disputed with ${x.against}: each showed a key under which its own share opens and the other's does not`,
        })
        continue
      }
      const culprit = x.upheld ? x.against : x.complainer
      if (!culprits.has(culprit))
        culprits.set(culprit, { participant: culprit, by: x.complainer, reason: x.reason })
    }
    for (const id of culprits.keys()) disputed.delete(id)
    this.#blame = { culprits: [...culprits.values()], disputed: [...disputed.values()] }
    // Never shrinks: every culprit a dispute clears was a complainer too.
    for (const x of this.#verdicts.values())
      this.#out.set(x.complainer, `left this round with its complaint against ${x.against}`)
    for (const b of culprits.values()) this.#out.set(b.participant, `is excluded: ${b.reason}`)
    this.#expected = new Set([...this.#expected].filter((id) => !this.#out.has(id)))
  }

  #receiveUnmaskResponse(from: string, value: unknown): void {
    const { shares, correction } = parseUnmaskResponse(value, this.#context, this.#context.dim)
    // What the request asked of `from`: a share of each of its neighbours in U2, by U3, in id order.
    const asked = this.#neighboursIn(from, this.#u2)
    const kindOf = (v: string): ShareKind => (this.#masked.has(v) ? 'self-mask' : 'mask-key')
    const count = shares.byteLength / REVEALED_RECORD_BYTES
    const fits = (v: string, i: number) =>
      idAt(shares, i * REVEALED_RECORD_BYTES, v) &&
      shares[i * REVEALED_RECORD_BYTES + ID_BYTES] === kindByte(kindOf(v))
    if (count !== asked.length || !asked.every(fits)) {
      const got = idsAsSent(shares, REVEALED_RECORD_BYTES).map((of, i) => ({
        of,
        kind: KIND_OF_BYTE[shares[i * REVEALED_RECORD_BYTES + ID_BYTES] as number],
      }))
      const wrong = got.filter((s) => !asked.includes(s.of) || kindOf(s.of) !== s.kind)
      throw new ProtocolError(
        'malformed',
        `unmask: expected ${asked.length} shares as requested of ${from}, in the order of their ids, got ${got.length}${wrong.length > 0 ? `, ${wrong.length} of them not requested (first: the ${wrong[0]?.kind} share of ${wrong[0]?.of})` : ''}`,
      )
    }
    // The correction removes from's masks with its neighbours in U2 that dropped: it comes exactly when there are some.
    const { dim } = this.#context
    const dropped = asked.filter((v) => !this.#masked.has(v))
    const expected = dropped.length > 0 && correctsDropouts(dim)
    if ((correction !== undefined) !== expected)
      throw new ProtocolError(
        'malformed',
        expected
          ? `unmask: expected ${from}'s correction for its ${dropped.length} neighbours that dropped (${dropped.join(', ')}), got none`
          : `unmask: expected no correction from ${from}, ${dropped.length === 0 ? 'none of its neighbours dropped' : `a vector of ${dim} words is too long to correct`}, got one`,
      )
    if (correction !== undefined) {
      subtractWordsFrom(this.#sum, correction)
      this.#corrected.add(from)
    }
    this.#revealed.set(from, { records: shares, ids: asked })
  }

  /** v's secret of `kind` from the shares its surviving neighbours revealed, or why it cannot be had. */
  #reconstruct(v: string, kind: ShareKind): Uint8Array | string {
    const t = this.#context.threshold
    const neighbourhood = this.#context.neighbours.get(v) as readonly string[]
    const shares: Share[] = []
    for (const [x, w] of neighbourhood.entries()) {
      const revealed = this.#revealed.get(w)
      const i = revealed === undefined ? -1 : indexOfSorted(revealed.ids, v)
      if (revealed === undefined || i < 0) continue
      const at = i * REVEALED_RECORD_BYTES + ID_BYTES + 1
      shares.push({ x: x + 1, y: revealed.records.subarray(at, at + SECRET_BYTES) })
    }
    const what = kind === 'self-mask' ? 'self-mask seed' : 'mask key'
    if (shares.length < t)
      return `only ${shares.length} shares of ${v}'s ${what} arrived, fewer than t = ${t}`
    const secret = shamirCombine(shares, t)
    if (shares.length > t && !equal(secret, shamirCombine(shares.slice(-t), t)))
      return `the shares of ${v}'s ${what} are inconsistent (two sets of t give different secrets)`
    return secret
  }

  /** Members of N(u) in `set` (sorted, as N(u) is). */
  #neighboursIn(u: string, set: ReadonlySet<string>): string[] {
    return (this.#context.neighbours.get(u) as readonly string[]).filter((v) => set.has(v))
  }

  /** A set of survivors too small for the sum to hide any one input, as a reason; else undefined. */
  #tooFew(survivors: ReadonlySet<string>, what: string): string | undefined {
    const t = this.#context.threshold
    return survivors.size < t
      ? `only ${survivors.size} of ${this.#context.ids.length} participants ${what}, fewer than t = ${t}`
      : undefined
  }

  #received(): ReadonlySet<string> | ReadonlyMap<string, unknown> {
    switch (this.#stage) {
      case 'advertise':
        return this.#advertisements
      case 'share-keys':
        return this.#sealed
      case 'masked-input':
        return this.#masked
      case 'unmask':
        return this.#revealed
      default:
        return new Set()
    }
  }

  #close(stage: Stage): void {
    if (this.#stage !== stage)
      throw new Error(`secagg server: cannot close stage "${stage}" while at "${this.#stage}"`)
  }

  #next(stage: Stage, expected: ReadonlySet<string>): void {
    this.#stage = stage
    this.#expected = new Set([...expected].filter((id) => !this.#out.has(id)))
  }

  #fail(reason: string): { ok: false; reason: string } {
    this.#stage = 'failed'
    this.#failure = reason
    return { ok: false, reason }
  }
}

/** One participant's records as kept, and the ids they name, in order (their bisection index). */
type Records = { readonly records: Uint8Array; readonly ids: readonly string[] }

/** A dropped participant whose pair masks with its surviving neighbours must be removed. */
type Dropped = { readonly v: string; readonly sSecret: Uint8Array; readonly survivors: readonly string[] }

function sortedSet(ids: Iterable<string>): ReadonlySet<string> {
  return new Set([...ids].sort())
}

function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
