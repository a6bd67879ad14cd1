import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../../protocol/src/errors.ts'
import {
  advertisementRecords,
  type Complaint,
  encodeSharePlaintext,
  type IncomingShares,
  incomingShareRecords,
  isSmallOrderX25519,
  type MaskedInput,
  type NeighbourAdvertisements,
  naclCrypto,
  parseComplaint,
  readAdvertisements,
  readIncomingShares,
  readSealedShares,
  type SealedShares,
  SecaggParticipant,
  SecaggServer,
  sealedShareRecords,
  sealShare,
  shareX,
  signComplaint,
  transcript,
} from '../../../protocol/src/secagg/index.ts'
import {
  overTheWire,
  plainSum,
  runRound,
  seeded,
  seededRandom,
  setupRound,
  structuredInputs,
} from './round.ts'

/**
 * Blame (complaint.ts): a participant that cannot use a neighbour's share or key complains, signed;
 * the coordinator's SecaggServer checks the complaint against the bytes it relayed and names the
 * culprit — the neighbour, or the complainer when the evidence contradicts it.
 */

const DIM = 8

/** A round of `n` where everyone is everyone's neighbour, stepped by hand so a test can lie where it wants. */
function round(n = 5, threshold = 3) {
  const crypto = seeded(naclCrypto, `complaints ${n}`)
  const setup = setupRound({ crypto, n, dim: DIM, neighbourCount: 2 * n + 1, threshold, seed: `blame ${n}` })
  const server = new SecaggServer({ crypto, context: setup.context })
  const parties = setup.seeds.map(
    (seed) => new SecaggParticipant({ crypto, identitySeed: seed, context: setup.context }),
  )
  const seedOf = new Map(parties.map((p, i) => [p.id, setup.seeds[i] as Uint8Array]))
  const inputs = new Map(parties.map((p, i) => [p.id, structuredInputs(n, DIM)[i] as Uint32Array]))
  const advertise = () => {
    for (const p of parties) server.receive(p.id, overTheWire(p.advertise()))
    const closed = server.closeAdvertise()
    if (!closed.ok) throw new Error(closed.reason)
    return closed.messages
  }
  /** Stages 1 and 2; `alter` may change a participant's sealed shares before they go out. */
  const shareKeys = async (alter?: (from: string, sealed: SealedShares) => SealedShares) => {
    const relays = advertise()
    for (const p of parties) {
      const sealed = (await p.shareKeys(overTheWire(relays.get(p.id)))) as SealedShares
      server.receive(p.id, overTheWire(alter ? alter(p.id, sealed) : sealed))
    }
    const closed = server.closeShareKeys()
    if (!closed.ok) throw new Error(closed.reason)
    return closed.messages as ReadonlyMap<string, IncomingShares>
  }
  const answer = (p: SecaggParticipant, relay: unknown) =>
    p.maskedInput(overTheWire(relay), inputs.get(p.id) as Uint32Array)
  /** Stages 3 and 4 for everyone still expected; resolves to the round's outcome. */
  const finish = async (relays: ReadonlyMap<string, IncomingShares>) => {
    for (const p of parties)
      if (server.waitingFor.includes(p.id))
        server.receive(p.id, overTheWire(await answer(p, relays.get(p.id))))
    const requests = server.closeMaskedInput()
    if (!requests.ok) return requests
    for (const [id, request] of requests.messages)
      server.receive(id, overTheWire(await partyOf(id).unmask(overTheWire(request))))
    return server.finish()
  }
  const partyOf = (id: string) => parties.find((p) => p.id === id) as SecaggParticipant
  const sumOf = (ids: readonly string[]) =>
    plainSum(
      ids.map((id) => inputs.get(id) as Uint32Array),
      DIM,
    )
  return {
    crypto,
    setup,
    server,
    parties,
    seedOf,
    inputs,
    advertise,
    shareKeys,
    answer,
    finish,
    partyOf,
    sumOf,
  }
}

/** `sealed` with its share for `to` replaced by random bytes of the same length. */
function garbageFor(sealed: SealedShares, to: (id: string) => boolean, seed = 'garbage'): SealedShares {
  const random = seededRandom(seed)
  return {
    ...sealed,
    shares: sealedShareRecords(
      readSealedShares(sealed.shares, 'sealed').map((s) =>
        to(s.to) ? { ...s, ciphertext: random(s.ciphertext.length) } : s,
      ),
    ),
  }
}

const flip = (bytes: Uint8Array, at: number) => {
  const copy = new Uint8Array(bytes)
  copy[at] = (copy[at] as number) ^ 1
  return copy
}

const codeOf = (fn: () => unknown) => {
  try {
    fn()
  } catch (error) {
    if (error instanceof ProtocolError) return { code: error.code, message: error.message }
    throw error
  }
  throw new Error('expected a refusal')
}

describe('a true complaint', () => {
  it('a neighbour sending a garbage share is named the culprit; the round goes on without it and its accuser, and recovers', async () => {
    const r = round(5, 3)
    const [g, h, ...rest] = r.parties as [SecaggParticipant, SecaggParticipant, ...SecaggParticipant[]]
    const relays = await r.shareKeys((from, sealed) =>
      from === g.id ? garbageFor(sealed, (to) => to === h.id) : sealed,
    )
    const complaint = await r.answer(h, relays.get(h.id))
    expect(complaint).toMatchObject({ stage: 'complaint', against: g.id, kind: 'share-does-not-open' })
    expect(h.stage).toBe('done')
    r.server.receive(h.id, overTheWire(complaint))
    expect(r.server.blame.culprits).toEqual([{ participant: g.id, by: h.id, reason: expect.any(String) }])
    expect(r.server.blame.culprits[0]?.reason).toMatch(
      new RegExp(`^its share for ${h.id} does not open under the key ${h.id} sealed its own share with`),
    )
    expect(r.server.blame.disputed).toEqual([])
    expect(r.server.waitingFor).not.toContain(g.id)
    expect(r.server.waitingFor).not.toContain(h.id)

    const late = await r.answer(g, relays.get(g.id))
    expect(codeOf(() => r.server.receive(g.id, overTheWire(late)))).toEqual({
      code: 'excluded',
      message: expect.stringMatching(new RegExp(`^secagg masked-input: ${g.id} is excluded: its share for`)),
    })
    const outcome = await r.finish(relays)
    expect(outcome.ok).toBe(true)
    if (!outcome.ok) return
    expect([...outcome.survivors].sort()).toEqual(rest.map((p) => p.id).sort())
    expect(outcome.sum).toEqual(r.sumOf(rest.map((p) => p.id)))
  })

  it('a participant sending garbage to every neighbour is named by each of their complaints, once, and the round fails before anything is unmasked', async () => {
    const { setup, crypto } = round(4, 3)
    const garbler = setup.ids[0] as string
    const run = await runRound({
      crypto,
      setup,
      inputs: structuredInputs(4, DIM),
      alter: (from, stage, message) =>
        from === garbler && stage === 'share-keys'
          ? garbageFor(message as SealedShares, () => true)
          : message,
    })
    expect(run.failedAt).toBe('masked-input')
    expect(run.outcome).toEqual({
      ok: false,
      reason: 'only 0 of 4 participants sent a masked input, fewer than t = 3',
    })
    const complaints = run.received.filter((m) => (m.message as { stage: string }).stage === 'complaint')
    expect(complaints.map((m) => m.from).sort()).toEqual(setup.ids.slice(1).sort())
    expect(run.server.blame.culprits.map((b) => b.participant)).toEqual([garbler])
  })
})

describe('a false complaint', () => {
  it('a participant complaining about a share that opens under the key it shows is named the culprit', async () => {
    const r = round(5, 3)
    const [f, h] = r.parties as [SecaggParticipant, SecaggParticipant]
    const relays = await r.shareKeys()
    // F pretends H's share did not open: it complains with the true K_FH about the genuine relay.
    const relay = relays.get(f.id) as IncomingShares
    const pretend = {
      ...relay,
      shares: incomingShareRecords(
        readIncomingShares(relay.shares, 'relay').map((s) =>
          s.from === h.id ? { ...s, ciphertext: flip(s.ciphertext, 50) } : s,
        ),
      ),
    }
    const complaint = (await r.answer(f, pretend)) as Complaint
    expect(complaint.against).toBe(h.id)
    r.server.receive(f.id, overTheWire(complaint))
    expect(r.server.blame.culprits).toEqual([
      {
        participant: f.id,
        by: f.id,
        reason: `complained falsely that ${h.id}'s share does not open: it opens under the key ${f.id} showed`,
      },
    ])
    const outcome = await r.finish(relays)
    expect(outcome.ok).toBe(true)
    if (outcome.ok) expect(outcome.survivors).not.toContain(f.id)
  })

  it('a complaint showing a made-up key names the complainer: its own share does not open under it either', async () => {
    const r = round(5, 3)
    const [f, h] = r.parties as [SecaggParticipant, SecaggParticipant]
    await r.shareKeys()
    const key = seededRandom('made up')(32)
    const complaint = signComplaint(
      r.crypto,
      r.seedOf.get(f.id) as Uint8Array,
      r.setup.context,
      f.id,
      h.id,
      'share-does-not-open',
      key,
    )
    r.server.receive(f.id, overTheWire(complaint))
    expect(r.server.blame.culprits).toEqual([
      {
        participant: f.id,
        by: f.id,
        reason: expect.stringMatching(
          new RegExp(
            `^complained that ${h.id}'s share does not open, showing a key its own share for ${h.id} was not sealed under \\(openShare: .* failed authentication`,
          ),
        ),
      },
    ])
  })

  it('a complaint of a small-order key against keys that are not names the complainer', async () => {
    const r = round(5, 3)
    const [f, h] = r.parties as [SecaggParticipant, SecaggParticipant]
    r.advertise()
    const complaint = signComplaint(
      r.crypto,
      r.seedOf.get(f.id) as Uint8Array,
      r.setup.context,
      f.id,
      h.id,
      'small-order-key',
      new Uint8Array(32),
    )
    r.server.receive(f.id, overTheWire(complaint))
    expect(r.server.blame.culprits).toEqual([
      { participant: f.id, by: f.id, reason: `complained falsely that ${h.id} advertised a small-order key` },
    ])
    expect(r.server.waitingFor).not.toContain(f.id)
  })
})

describe('a dispute', () => {
  it('two neighbours each showing a key under which their own share opens and the other’s does not are both out of the round, and neither is a culprit', async () => {
    const r = round(5, 3)
    const [g, h] = r.parties as [SecaggParticipant, SecaggParticipant]
    // G seals its share for H under a key it made up, so that it can dispute H's complaint.
    const madeUp = seededRandom('made up')(32)
    const relays = await r.shareKeys((from, sealed) => {
      if (from !== g.id) return sealed
      const plaintext = encodeSharePlaintext({
        from: g.id,
        to: h.id,
        x: shareX(r.setup.context, g.id, h.id),
        maskKeyShare: new Uint8Array(32),
        selfMaskShare: new Uint8Array(32),
      })
      const ciphertext = sealShare(madeUp, plaintext, seededRandom('nonce'))
      const shares = readSealedShares(sealed.shares, 'sealed').map((s) =>
        s.to === h.id ? { ...s, ciphertext } : s,
      )
      return { ...sealed, shares: sealedShareRecords(shares) }
    })
    r.server.receive(h.id, overTheWire(await r.answer(h, relays.get(h.id))))
    expect(r.server.blame.culprits.map((b) => b.participant)).toEqual([g.id])
    const counter = signComplaint(
      r.crypto,
      r.seedOf.get(g.id) as Uint8Array,
      r.setup.context,
      g.id,
      h.id,
      'share-does-not-open',
      madeUp,
    )
    r.server.receive(g.id, overTheWire(counter))
    expect(r.server.blame.culprits).toEqual([])
    expect(r.server.blame.disputed.map((b) => [b.participant, b.by]).sort()).toEqual(
      [
        [g.id, h.id],
        [h.id, g.id],
      ].sort(),
    )
    expect(r.server.waitingFor).not.toContain(g.id)
    expect(r.server.waitingFor).not.toContain(h.id)
    const outcome = await r.finish(relays)
    expect(outcome.ok).toBe(true)
  })
})

describe('complaints refused without blaming anyone', () => {
  it('a replayed complaint is refused, and the blame stands as it was', async () => {
    const r = round(5, 3)
    const [g, h] = r.parties as [SecaggParticipant, SecaggParticipant]
    const relays = await r.shareKeys((from, sealed) =>
      from === g.id ? garbageFor(sealed, () => true) : sealed,
    )
    const complaint = overTheWire(await r.answer(h, relays.get(h.id)))
    r.server.receive(h.id, complaint)
    const before = r.server.blame
    expect(codeOf(() => r.server.receive(h.id, complaint))).toEqual({
      code: 'malformed',
      message: `complaint: a second complaint from ${h.id} against ${g.id} (replayed?)`,
    })
    expect(r.server.blame).toEqual(before)
  })

  it('a complaint sent by another participant, or altered, does not verify and blames no one', async () => {
    const r = round(5, 3)
    const [g, h, w] = r.parties as [SecaggParticipant, SecaggParticipant, SecaggParticipant]
    const relays = await r.shareKeys((from, sealed) =>
      from === g.id ? garbageFor(sealed, () => true) : sealed,
    )
    const complaint = (await r.answer(h, relays.get(h.id))) as Complaint
    // W relays H's complaint as its own: the signature is H's, not W's.
    expect(codeOf(() => r.server.receive(w.id, overTheWire(complaint)))).toEqual({
      code: 'malformed',
      message: `complaint: the signature of ${w.id} against ${g.id} does not verify against its identity key`,
    })
    // H's complaint turned against W.
    expect(
      codeOf(() => r.server.receive(h.id, overTheWire({ ...complaint, against: w.id }))).message,
    ).toMatch(/does not verify/)
    expect(
      codeOf(() => r.server.receive(h.id, overTheWire({ ...complaint, pairKey: flip(complaint.pairKey, 0) })))
        .message,
    ).toMatch(/does not verify/)
    // Signed for another round.
    const other = signComplaint(
      r.crypto,
      r.seedOf.get(h.id) as Uint8Array,
      { taskId: 'chest-xray', round: 6 },
      h.id,
      g.id,
      complaint.kind,
      complaint.pairKey,
    )
    expect(codeOf(() => r.server.receive(h.id, overTheWire({ ...other, round: 7 }))).message).toMatch(
      /does not verify/,
    )
    expect(r.server.blame).toEqual({ culprits: [], disputed: [] })
    expect(r.server.waitingFor).toContain(h.id)
  })

  it('a complaint from outside U2, about someone outside it, before shares were relayed, or after a masked input is refused', async () => {
    const r = round(5, 3)
    const [g, h, w, d] = r.parties as [
      SecaggParticipant,
      SecaggParticipant,
      SecaggParticipant,
      SecaggParticipant,
    ]
    const sign = (from: SecaggParticipant, against: SecaggParticipant) =>
      overTheWire(
        signComplaint(
          r.crypto,
          r.seedOf.get(from.id) as Uint8Array,
          r.setup.context,
          from.id,
          against.id,
          'share-does-not-open',
          new Uint8Array(32).fill(7),
        ),
      )
    const relays = r.advertise()
    expect(codeOf(() => r.server.receive(h.id, sign(h, g))).message).toBe(
      `complaint: ${h.id} complains that a share of ${g.id} is bad in stage share-keys, before any was relayed`,
    )
    // D never shares keys: it is not in U2.
    for (const p of [g, h, w, ...r.parties.slice(4)])
      r.server.receive(p.id, overTheWire(await p.shareKeys(overTheWire(relays.get(p.id)))))
    const incoming = r.server.closeShareKeys()
    if (!incoming.ok) throw new Error(incoming.reason)
    const u2 = 'U2, who shared keys'
    expect(codeOf(() => r.server.receive(d.id, sign(d, g))).message).toBe(
      `complaint: expected a complaint between two neighbours in ${u2}, got one from ${d.id} against ${g.id}`,
    )
    expect(codeOf(() => r.server.receive(h.id, sign(h, d))).message).toBe(
      `complaint: expected a complaint between two neighbours in ${u2}, got one from ${h.id} against ${d.id}`,
    )
    expect(codeOf(() => r.server.receive(h.id, sign(h, h))).message).toMatch(/between two neighbours/)
    const masked = (await r.answer(w, incoming.messages.get(w.id))) as MaskedInput
    r.server.receive(w.id, overTheWire(masked))
    expect(codeOf(() => r.server.receive(w.id, sign(w, g))).message).toBe(
      `complaint: ${w.id} already sent its masked input; a complaint comes instead of it`,
    )
    expect(r.server.blame).toEqual({ culprits: [], disputed: [] })
  })

  it('the parser refuses a complaint of an unknown kind, a small-order-key complaint carrying a key, and a key of the wrong size', () => {
    const label = { taskId: 'chest-xray', round: 7 }
    const base = {
      ...label,
      stage: 'complaint',
      against: 'ab'.repeat(16),
      kind: 'share-does-not-open',
      pairKey: new Uint8Array(32),
      signature: new Uint8Array(64),
    }
    expect(parseComplaint(base, label).kind).toBe('share-does-not-open')
    expect(() => parseComplaint({ ...base, kind: 'bad-vibes' }, label)).toThrow(
      'complaint.kind: expected "share-does-not-open" or "small-order-key", got "bad-vibes"',
    )
    expect(() =>
      parseComplaint({ ...base, kind: 'small-order-key', pairKey: new Uint8Array(32).fill(1) }, label),
    ).toThrow('complaint.pairKey: expected 32 zero bytes in a small-order-key complaint, got a key')
    expect(() => parseComplaint({ ...base, pairKey: new Uint8Array(31) }, label)).toThrow(
      'complaint.pairKey: expected 32 bytes, got 31',
    )
    expect(() => parseComplaint({ ...base, stage: 'unmask' }, label)).toThrow(/expected "complaint"/)
  })

  it('the parser answers any input with a complaint or a ProtocolError with a code, nothing else', () => {
    const label = { taskId: 'chest-xray', round: 7 }
    const field = fc.oneof(
      fc.anything(),
      fc.uint8Array({ minLength: 0, maxLength: 70 }),
      fc.constantFrom(
        'share-does-not-open',
        'small-order-key',
        'complaint',
        'chest-xray',
        7,
        'ab'.repeat(16),
      ),
    )
    const near = fc.record(
      {
        taskId: field,
        round: field,
        stage: field,
        against: field,
        kind: field,
        pairKey: field,
        signature: field,
      },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(fc.oneof(fc.anything(), near), (value) => {
        try {
          const c = parseComplaint(value, label)
          expect(c.pairKey).toHaveLength(32)
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError)
          expect(typeof (error as ProtocolError).code).toBe('string')
        }
      }),
      { numRuns: 2000, seed: 11 },
    )
  })
})

describe('small-order keys', () => {
  it('a participant complains about a neighbour whose signed advertisement has a small-order key, and shares nothing', async () => {
    const r = round(5, 3)
    const [g, h] = r.parties as [SecaggParticipant, SecaggParticipant]
    const relays = r.advertise()
    const relay = relays.get(h.id) as NeighbourAdvertisements
    const cPublic = new Uint8Array(32)
    const advertisements = readAdvertisements(relay.advertisements, 'relay')
    const sPublic = advertisements.find((a) => a.id === g.id)?.sPublic as Uint8Array
    const signature = r.crypto.sign(
      r.seedOf.get(g.id) as Uint8Array,
      transcript('advertise', 'chest-xray', 7, g.id, cPublic, sPublic),
    )
    const weak = {
      ...relay,
      advertisements: advertisementRecords(
        advertisements.map((a) => (a.id === g.id ? { ...a, cPublic, signature } : a)),
      ),
    }
    const answer = await h.shareKeys(overTheWire(weak))
    expect(answer).toMatchObject({
      stage: 'complaint',
      against: g.id,
      kind: 'small-order-key',
      pairKey: new Uint8Array(32),
    })
    expect(h.stage).toBe('done')
  })

  it('the eight small-order points are recognised, with or without the ignored top bit, and an ordinary key is not', () => {
    const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'))
    const points = [
      '00'.repeat(32),
      `01${'00'.repeat(31)}`,
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      `ec${'ff'.repeat(30)}7f`,
      `ed${'ff'.repeat(30)}7f`,
      `ee${'ff'.repeat(30)}7f`,
    ]
    const secret = seededRandom('scalar')(32)
    for (const p of points) {
      const key = hex(p)
      expect(isSmallOrderX25519(key)).toBe(true)
      // What makes them dangerous: every scalar gives the same, all-zero, shared secret.
      expect(() => naclCrypto.x25519(secret, key)).toThrow(/zero/)
      key[31] = (key[31] as number) | 0x80
      expect(isSmallOrderX25519(key)).toBe(true)
    }
    expect(isSmallOrderX25519(naclCrypto.x25519Base(secret))).toBe(false)
  })
})
