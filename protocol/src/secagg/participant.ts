import { ProtocolError } from '../errors.ts'
import { openPairShare, shareX, signComplaint } from './complaint.ts'
import type { SecaggContext } from './context.ts'
import { type Mask, type SecaggCrypto, verifyEach } from './crypto.ts'
import { participantId } from './identity.ts'
import { agreePairMaskKeys, agreeShareKeys, applyMasks, pairSign, selfMaskKey } from './masking.ts'
import {
  type Advertisement,
  type Complaint,
  type ComplaintKind,
  correctsDropouts,
  encodeSharePlaintext,
  encodeWords,
  type MaskedInput,
  parseIncomingShares,
  parseNeighbourAdvertisements,
  parseUnmaskRequest,
  revealedShareRecords,
  SECRET_BYTES,
  type SealedShares,
  type ShareKind,
  sealedShareRecords,
  survivorsOf,
  type UnmaskResponse,
} from './messages.ts'
import { survivorGroups } from './neighbours.ts'
import { sealShare } from './secretbox.ts'
import { type Share, shamirSplit } from './shamir.ts'
import { transcript } from './transcript.ts'
import { isSmallOrderX25519 } from './x25519-strict.ts'

/**
 * Where a participant is in its round. Each stage method moves it one step forward and only
 * after the inbound message has passed every check; a message for any other step is refused.
 */
export type ParticipantStage = 'start' | 'advertised' | 'sharing' | 'shared' | 'masking' | 'masked' | 'done'

type KeyPair = { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array }
type Held = { readonly maskKeyShare: Uint8Array; readonly selfMaskShare: Uint8Array }

export type SecaggParticipantOptions = {
  readonly crypto: SecaggCrypto
  /** The 32-byte seed of the participant's long-term Ed25519 identity. */
  readonly identitySeed: Uint8Array
  readonly context: SecaggContext
}

/**
 * One participant's side of one SecAgg+ round (Bonawitz et al., CCS 2017, Fig. 4, with the
 * neighbourhoods of Bell et al., CCS 2020): it holds the round's secrets — two X25519 key pairs,
 * the self-mask seed and its neighbours' shares — and answers each of the coordinator's four
 * messages once, in order. A class because those secrets live for exactly one round; they are
 * zeroed when the round ends.
 *
 * Every refusal is a ProtocolError and leaves the participant where it was: the shell reports it
 * and stays silent, which the coordinator sees as a dropout. What a neighbour sent that cannot be
 * used (a share that does not open, a small-order key) is not a refusal but a `Complaint`, which
 * the stage method resolves to instead of its message: the participant has then abandoned the
 * round, and the shell sends the complaint and nothing more this round (complaint.ts).
 */
export class SecaggParticipant {
  readonly id: string
  readonly #crypto: SecaggCrypto
  readonly #seed: Uint8Array
  readonly #context: SecaggContext
  /** N(u), sorted, u included. */
  readonly #neighbourhood: readonly string[]
  #stage: ParticipantStage = 'start'
  #c: KeyPair | undefined
  #s: KeyPair | undefined
  #b: Uint8Array | undefined
  /** K_uv for each neighbour v in U1: seals u's shares for v and opens v's for u. */
  #shareKeys = new Map<string, Uint8Array>()
  /** Neighbours in U1 (u included) and their advertised keys. */
  #advertised = new Map<string, { readonly cPublic: Uint8Array; readonly sPublic: Uint8Array }>()
  /** u's own shares of its mask key and self-mask seed, kept rather than sent. */
  #own: Held | undefined
  /** Shares held for each neighbour in U2 other than u. */
  #held = new Map<string, Held>()
  /**
   * s_uv for each neighbour v in U2 other than u, kept from the masked input to the unmasking when
   * the round `correctsDropouts`: the correction for the neighbours that dropped is made of them (`unmask`).
   */
  #pairMaskKeys = new Map<string, Uint8Array>()
  /** Which kind of share of each peer has been revealed; never both for one peer. */
  readonly #revealed = new Map<string, ShareKind>()

  constructor({ crypto, identitySeed, context }: SecaggParticipantOptions) {
    this.#crypto = crypto
    this.#seed = identitySeed
    this.#context = context
    this.id = participantId(crypto.ed25519PublicKey(identitySeed))
    const neighbourhood = context.neighbours.get(this.id)
    if (neighbourhood === undefined)
      throw new ProtocolError(
        'invalid-spec',
        `secagg: this participant (${this.id}) is not in the round's roster`,
      )
    // A neighbourhood of one, or a threshold of one, would let the coordinator strip every mask
    // from this participant's input: a round set up that way is refused, whoever proposed it.
    if (neighbourhood.length < 2 || context.threshold < 2)
      throw new ProtocolError(
        'invalid-spec',
        `secagg: expected a neighbourhood of at least 2 and a threshold of at least 2, got ${neighbourhood.length} and ${context.threshold}; such a round would reveal this participant's input`,
      )
    this.#neighbourhood = neighbourhood
  }

  get stage(): ParticipantStage {
    return this.#stage
  }

  /** Stage 1: fresh key pairs for this round, signed with the identity key. */
  advertise(): Advertisement {
    this.#expect('start', 'advertise')
    const { taskId, round } = this.#context
    this.#c = this.#keyPair()
    this.#s = this.#keyPair()
    const cPublic = this.#c.publicKey
    const sPublic = this.#s.publicKey
    const signature = this.#crypto.sign(
      this.#seed,
      transcript('advertise', taskId, round, this.id, cPublic, sPublic),
    )
    this.#stage = 'advertised'
    return { taskId, round, stage: 'advertise', cPublic, sPublic, signature }
  }

  /**
   * Stage 2: checks every neighbour's signature against the roster, refuses with fewer than t
   * neighbours (itself included) in U1, then Shamir-splits s_sk_u and a fresh self-mask seed b_u
   * t-of-|N(u) ∩ U1| and seals each neighbour's shares to it. Asynchronous for the signatures and
   * the key agreements (`verifyEach`, `x25519All`: WebCrypto in a browser); a second relay
   * meanwhile is refused. A neighbour that advertised a small-order key gets a complaint instead.
   */
  async shareKeys(value: unknown): Promise<SealedShares | Complaint> {
    this.#expect('advertised', 'share-keys')
    const ctx = this.#context
    const message = parseNeighbourAdvertisements(value, ctx)
    const c = this.#c as KeyPair
    const s = this.#s as KeyPair
    for (const a of message.advertisements)
      if (!this.#neighbourhood.includes(a.id))
        throw new ProtocolError('malformed', `advertisements: ${a.id} is not a neighbour of ${this.id}`)
    const advertised = new Map(
      message.advertisements.map((a) => [a.id, { cPublic: a.cPublic, sPublic: a.sPublic }] as const),
    )
    const holders = this.#neighbourhood.filter((v) => advertised.has(v))
    const peers = holders.filter((v) => v !== this.id)
    this.#stage = 'sharing'
    let keys: Uint8Array[]
    try {
      const valid = await verifyEach(
        this.#crypto,
        message.advertisements.map((a) => ({
          publicKey: ctx.identityKeys.get(a.id) as Uint8Array,
          message: transcript('advertise', ctx.taskId, ctx.round, a.id, a.cPublic, a.sPublic),
          signature: a.signature,
        })),
      )
      const forged = message.advertisements.find((_, i) => !valid[i])
      if (forged !== undefined)
        throw new ProtocolError(
          'malformed',
          `advertisements: the signature of ${forged.id} does not verify against its identity key`,
        )
      const own = advertised.get(this.id)
      if (own === undefined || !equal(own.cPublic, c.publicKey) || !equal(own.sPublic, s.publicKey))
        throw new ProtocolError(
          'malformed',
          `advertisements: expected this participant's own keys among them`,
        )
      // The coordinator refuses these at advertise; a participant does not rely on it. Signed by v
      // itself, so the fault is v's: with such a key the pair's secrets would be public.
      const weak = message.advertisements.find(
        (a) => a.id !== this.id && (isSmallOrderX25519(a.cPublic) || isSmallOrderX25519(a.sPublic)),
      )
      if (weak !== undefined) return this.#complain(weak.id, 'small-order-key', new Uint8Array(32))
      this.#atLeastThreshold(advertised.size, 'advertised (U1)')
      keys = await agreeShareKeys(
        this.#crypto,
        ctx,
        c.secretKey,
        this.id,
        peers.map((v) => ({ id: v, publicKey: (advertised.get(v) as { cPublic: Uint8Array }).cPublic })),
      )
    } finally {
      if (this.#stage === 'sharing') this.#stage = 'advertised'
    }
    if (this.#stage !== 'advertised') {
      for (const key of keys) key.fill(0)
      throw new ProtocolError('malformed', 'secagg participant: the round was abandoned while sharing keys')
    }

    const xs = holders.map((v) => this.#xOf(v, this.#neighbourhood))
    const b = this.#crypto.randomBytes(SECRET_BYTES)
    const random = (n: number) => this.#crypto.randomBytes(n)
    const maskKeyShares = shamirSplit(s.secretKey, ctx.threshold, xs, random)
    const selfMaskShares = shamirSplit(b, ctx.threshold, xs, random)
    const keyOf = new Map(peers.map((v, i) => [v, keys[i] as Uint8Array]))
    const shares: { to: string; ciphertext: Uint8Array }[] = []
    holders.forEach((v, i) => {
      const held = {
        maskKeyShare: (maskKeyShares[i] as Share).y,
        selfMaskShare: (selfMaskShares[i] as Share).y,
      }
      if (v === this.id) {
        this.#own = held
        return
      }
      const key = keyOf.get(v) as Uint8Array
      const plaintext = encodeSharePlaintext({ from: this.id, to: v, x: xs[i] as number, ...held })
      shares.push({ to: v, ciphertext: sealShare(key, plaintext, random) })
    })
    this.#advertised = advertised
    this.#shareKeys = keyOf
    this.#b = b
    this.#stage = 'shared'
    return { taskId: ctx.taskId, round: ctx.round, stage: 'share-keys', shares: sealedShareRecords(shares) }
  }

  /**
   * Stage 3: opens and checks the shares neighbours sealed to it (their senders are U2 ∩ N(u)),
   * then masks the input: y_u = x_u + PRG(b_u) + Σ_{v ∈ U2 ∩ N(u), v ≠ u} ±PRG(s_uv) mod 2^32.
   * A share that fails authentication, does not parse or names the wrong pair or x is v's fault
   * or the coordinator's: the participant complains about v, showing K_uv, and sends no masked
   * input (complaint.ts). A message from a peer that is not a neighbour refuses the whole message.
   */
  async maskedInput(value: unknown, input: Uint32Array): Promise<MaskedInput | Complaint> {
    this.#expect('shared', 'masked-input')
    const ctx = this.#context
    if (input.length !== ctx.dim)
      throw new ProtocolError('wrong-size', `masked input: expected ${ctx.dim} words, got ${input.length}`)
    const message = parseIncomingShares(value, ctx)
    const held = new Map<string, Held>()
    for (const { from, ciphertext } of message.shares) {
      const key = this.#shareKeys.get(from)
      if (key === undefined)
        throw new ProtocolError('malformed', `incoming shares: ${from} is not a neighbour that advertised`)
      const p = openPairShare(key, ciphertext, { from, to: this.id, x: shareX(ctx, from, this.id) })
      if (typeof p === 'string') {
        for (const h of held.values()) zero(h)
        return this.#complain(from, 'share-does-not-open', key)
      }
      held.set(from, { maskKeyShare: p.maskKeyShare, selfMaskShare: p.selfMaskShare })
    }
    this.#atLeastThreshold(held.size + 1, 'that shared keys (U2)')

    const s = this.#s as KeyPair
    const peers = [...held.keys()]
    // The agreements and keystreams are asynchronous (WebCrypto); a second relay arriving meanwhile
    // must be refused, not masked against another view of U2.
    this.#stage = 'masking'
    const y = Uint32Array.from(input)
    const masks: Mask[] = []
    try {
      const pairKeys = await agreePairMaskKeys(
        this.#crypto,
        ctx,
        s.secretKey,
        this.id,
        peers.map((v) => ({
          id: v,
          publicKey: (this.#advertised.get(v) as { sPublic: Uint8Array }).sPublic,
        })),
      )
      masks.push(
        { key: selfMaskKey(this.#crypto, ctx, this.#b as Uint8Array, this.id), sign: 1 },
        ...peers.map((v, i) => ({ key: pairKeys[i] as Uint8Array, sign: pairSign(this.id, v) })),
      )
      // Kept only where a correction may be asked for: a secret held no longer than it can be used.
      if (correctsDropouts(ctx.dim))
        this.#pairMaskKeys = new Map(peers.map((v, i) => [v, Uint8Array.from(pairKeys[i] as Uint8Array)]))
      await applyMasks(this.#crypto, y, masks)
    } catch (error) {
      if (this.#stage === 'masking') this.#stage = 'shared'
      throw error
    } finally {
      for (const { key } of masks) key.fill(0)
    }
    if (this.#stage !== 'masking') {
      // abandon() came while the keystreams ran: nothing of this round may be kept or sent.
      for (const h of held.values()) zero(h)
      y.fill(0)
      throw new ProtocolError(
        'malformed',
        'secagg participant: the round was abandoned while masking the input',
      )
    }
    this.#held = held
    this.#stage = 'masked'
    return { taskId: ctx.taskId, round: ctx.round, stage: 'masked-input', masked: encodeWords(y) }
  }

  /**
   * Stage 4: self-mask shares of the neighbours in U2 that survived (are in U3), mask-key shares of
   * those that dropped. The request is refused, and nothing revealed, unless it names this
   * participant a survivor, names no neighbour a survivor that did not share keys with it, leaves
   * at least t survivors in its neighbourhood, and leaves all of U3 one group in the neighbourhood
   * graph — else the coordinator could unmask each group's sum apart (`survivorGroups`). Nor may
   * it ask for the other kind of share of a peer than was revealed before: both would let the
   * coordinator strip every mask of that peer and read its input (Bonawitz et al., §4).
   *
   * With the shares goes the correction, when a neighbour in U2 dropped (is not in U3) and the
   * vector is short enough to be worth sending (`correctsDropouts`): the sum of
   * the pair masks this participant added for those neighbours, ±PRG(s_uv), which the coordinator
   * subtracts instead of reconstructing each dropped neighbour's mask key and expanding its masks
   * with every survivor itself (docs/secure-aggregation.md, §2.4, "The correction"). It tells the
   * coordinator nothing those mask-key shares would not: from them it could compute every one of
   * these masks. Asynchronous for the keystreams; every secret is zeroed before they run.
   */
  async unmask(value: unknown): Promise<UnmaskResponse> {
    const ctx = this.#context
    const u3 = survivorsOf(ctx.ids, parseUnmaskRequest(value, ctx).survived)
    const inU2 = [this.id, ...this.#held.keys()].sort()
    const asked = inU2.map((v) => ({
      of: v,
      kind: u3.has(v) ? ('self-mask' as const) : ('mask-key' as const),
    }))
    for (const { of, kind } of asked) {
      const before = this.#revealed.get(of)
      if (before !== undefined && before !== kind)
        throw new ProtocolError(
          'malformed',
          `unmask request: asks for the ${kind} share of ${of}, whose ${before} share was already revealed`,
        )
    }
    this.#expect('masked', 'unmask')
    if (!u3.has(this.id))
      throw new ProtocolError('malformed', `unmask request: names this participant (${this.id}) as dropped`)
    const strays = (ctx.neighbours.get(this.id) as readonly string[]).filter(
      (v) => u3.has(v) && !inU2.includes(v),
    )
    if (strays.length > 0)
      throw new ProtocolError(
        'malformed',
        `unmask request: names as survivors neighbours that never shared keys with this participant: ${strays.join(', ')}`,
      )
    this.#atLeastThreshold(asked.filter((a) => a.kind === 'self-mask').length, 'that survived (U3)')
    const groups = survivorGroups(u3, ctx.neighbours)
    if (groups.length > 1)
      throw new ProtocolError(
        'malformed',
        `unmask request: the ${u3.size} survivors fall into ${groups.length} groups that share no masks (of ${groups.map((g) => g.length).join(', ')}); revealing shares would let the coordinator unmask each group's sum`,
      )

    const heldBy = (v: string) => (v === this.id ? this.#own : this.#held.get(v)) as Held
    // Copies: every held share is zeroed below, before the answer goes out.
    const shares = asked.map(({ of, kind }) => ({
      of,
      kind,
      share: Uint8Array.from(kind === 'self-mask' ? heldBy(of).selfMaskShare : heldBy(of).maskKeyShare),
    }))
    for (const share of shares) this.#revealed.set(share.of, share.kind)
    // Copies of the dropped neighbours' pair-mask keys: everything kept is zeroed before the keystreams run.
    const dropped = correctsDropouts(ctx.dim) ? [...this.#held.keys()].filter((v) => !u3.has(v)) : []
    const masks: Mask[] = dropped.map((v) => ({
      key: Uint8Array.from(this.#pairMaskKeys.get(v) as Uint8Array),
      sign: pairSign(this.id, v),
    }))
    this.#stage = 'done'
    this.#forget()
    const records = revealedShareRecords(shares)
    for (const { share } of shares) share.fill(0)
    const response: UnmaskResponse = {
      taskId: ctx.taskId,
      round: ctx.round,
      stage: 'unmask',
      shares: records,
    }
    if (masks.length === 0) return response
    const correction = new Uint32Array(ctx.dim)
    try {
      await applyMasks(this.#crypto, correction, masks)
    } finally {
      for (const { key } of masks) key.fill(0)
    }
    const encoded = encodeWords(correction)
    correction.fill(0)
    return { ...response, correction: encoded }
  }

  /**
   * Ends this participant's part in the round at whatever stage it is: zeroes its secrets and the
   * shares it holds for its neighbours, and refuses every later step. For a round that failed, was
   * replaced by the next, or lost its connection; without it those secrets would stay in memory
   * until garbage collection. A masking in flight is discarded, not sent.
   */
  abandon(): void {
    this.#stage = 'done'
    this.#forget()
  }

  /**
   * Gives up the round with a signed complaint about `against`. The key is copied into the
   * complaint before every secret is zeroed; this participant sends no masked input, so to the
   * coordinator it is a dropout, and what the complaint shows it (one share of u's own secrets,
   * sealed under K_uv) reveals nothing about u's input (docs/secure-aggregation.md, "Blame").
   */
  #complain(against: string, kind: ComplaintKind, pairKey: Uint8Array): Complaint {
    const complaint = signComplaint(this.#crypto, this.#seed, this.#context, this.id, against, kind, pairKey)
    this.abandon()
    return complaint
  }

  #expect(stage: ParticipantStage, message: string): void {
    if (this.#stage !== stage)
      throw new ProtocolError(
        'malformed',
        `secagg participant: the ${message} step is out of order (the participant is at "${this.#stage}", expected "${stage}")`,
      )
  }

  #atLeastThreshold(count: number, what: string): void {
    if (count < this.#context.threshold)
      throw new ProtocolError(
        'malformed',
        `secagg participant: expected at least t = ${this.#context.threshold} neighbours ${what}, itself included, got ${count}`,
      )
  }

  /** The Shamir x of `holder` for secrets split over `neighbourhood`: 1 + its sorted index. */
  #xOf(holder: string, neighbourhood: readonly string[]): number {
    return neighbourhood.indexOf(holder) + 1
  }

  #keyPair(): KeyPair {
    const secretKey = this.#crypto.randomBytes(32)
    return { secretKey, publicKey: this.#crypto.x25519Base(secretKey) }
  }

  /** The round's secrets and the shares held for others are of no use once it is over; keep them out of later heap dumps. */
  #forget(): void {
    this.#c?.secretKey.fill(0)
    this.#s?.secretKey.fill(0)
    this.#b?.fill(0)
    for (const key of this.#shareKeys.values()) key.fill(0)
    if (this.#own) zero(this.#own)
    for (const held of this.#held.values()) zero(held)
    for (const key of this.#pairMaskKeys.values()) key.fill(0)
  }
}

function zero(held: Held): void {
  held.maskKeyShare.fill(0)
  held.selfMaskShare.fill(0)
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
