import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import {
  type AdvertisementEntry,
  advertisementRecords,
  applyMask,
  encodeWords,
  type IncomingShare,
  incomingShareRecords,
  type NeighbourAdvertisements,
  naclCrypto,
  pairMaskKey,
  pairSign,
  parseMaskedInput,
  parseUnmaskResponse,
  readAdvertisements,
  readIncomingShares,
  readRevealedShares,
  readSealedShares,
  revealedShareRecords,
  ringOrder,
  roundContext,
  type SealedShares,
  type SecaggCrypto,
  SecaggParticipant,
  SecaggServer,
  SHARE_RECORD_BYTES,
  type Share,
  sealedShareRecords,
  selfMaskKey,
  shamirCombine,
  survivorBits,
  type UnmaskRequest,
} from '../../../protocol/src/secagg/index.ts'
import { littleEndianWords } from '../../../protocol/src/secagg/words.ts'
import { overTheWire, plainSum, runRound, seeded, setupRound, structuredInputs } from './round.ts'

/** A relay's advertisements as entries, to tamper with. */
const adsOf = (relay: NeighbourAdvertisements): AdvertisementEntry[] =>
  readAdvertisements(relay.advertisements, 'relay')

/** Pearson's χ² of byte frequencies against uniform (255 degrees of freedom: mean 255, sd 22.6). */
function chiSquare(bytes: Uint8Array): number {
  const counts = new Float64Array(256)
  for (const b of bytes) counts[b] = (counts[b] as number) + 1
  const expected = bytes.length / 256
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0)
}

/** The largest deviation from ½ of the share of ones at any of the 32 bit positions. */
function bitImbalance(words: Uint32Array): number {
  let worst = 0
  for (let bit = 0; bit < 32; bit++) {
    let ones = 0
    for (const w of words) ones += (w >>> bit) & 1
    worst = Math.max(worst, Math.abs(ones / words.length - 0.5))
  }
  return worst
}

// 6 standard deviations above the mean for 4096 bytes; 5 for 1024 words (sd 1/64). The seeds are
// fixed, so these do not flake; an unmasked or half-masked vector lands far beyond them (checked below).
const CHI_SQUARE_LIMIT = 255 + 6 * Math.sqrt(2 * 255)
const BIT_IMBALANCE_LIMIT = 5 / 64
const looksUniform = (words: Uint32Array) =>
  chiSquare(encodeWords(words)) < CHI_SQUARE_LIMIT && bitImbalance(words) < BIT_IMBALANCE_LIMIT

describe('what the coordinator receives', () => {
  const n = 10
  const dim = 1024
  const crypto = seeded(naclCrypto, 'recording')
  const setup = setupRound({ crypto, n, dim, neighbourCount: 10, threshold: 6 })
  const inputs = structuredInputs(n, dim)
  const dropped = new Set([setup.ids[3] as string, setup.ids[8] as string])
  const silentFrom = new Map([...dropped].map((id) => [id, 'masked-input' as const]))
  const recorded = runRound({ crypto, setup, inputs, silentFrom })
  const maskedInputs = async () =>
    new Map(
      (await recorded).received
        .filter((r) => r.stage === 'masked-input')
        .map((r) => [r.from, littleEndianWords(parseMaskedInput(r.message, setup.context, dim))]),
    )

  it('the statistics pass a keystream and catch a structured input or a mask 16 bits wide', async () => {
    const mask = await crypto.keystream(new Uint8Array(16), dim)
    expect(looksUniform(mask)).toBe(true)
    for (const x of inputs) expect(looksUniform(x)).toBe(false)
    const narrow = Uint32Array.from(inputs[0] as Uint32Array, (x, j) => x + ((mask[j] as number) & 0xffff))
    expect(looksUniform(narrow)).toBe(false)
  })

  it('every masked input looks uniform, bytes and bits, and equals its input in no word', async () => {
    const masked = await maskedInputs()
    expect(masked.size).toBe(n - dropped.size)
    for (const [id, y] of masked) {
      expect(chiSquare(encodeWords(y))).toBeLessThan(CHI_SQUARE_LIMIT)
      expect(bitImbalance(y)).toBeLessThan(BIT_IMBALANCE_LIMIT)
      const x = inputs[setup.ids.indexOf(id)] as Uint32Array
      expect(y.filter((w, j) => w === x[j])).toHaveLength(0)
    }
  })

  it('the sealed shares look uniform too', async () => {
    const ciphertexts = (await recorded).received
      .filter((r) => r.stage === 'share-keys')
      .flatMap((r) => readSealedShares((r.message as SealedShares).shares, 'sealed').map((s) => s.ciphertext))
    const all = new Uint8Array(ciphertexts.reduce((sum, c) => sum + c.length, 0))
    let at = 0
    for (const c of ciphertexts) {
      all.set(c, at)
      at += c.length
    }
    expect(all.length).toBeGreaterThan(10_000)
    expect(chiSquare(all)).toBeLessThan(CHI_SQUARE_LIMIT)
  })

  it('the survivors’ self masks removed but not the dropped participants’ pair masks, the sum is garbage', async () => {
    const run = await recorded
    const masked = await maskedInputs()
    const survivors = [...masked.keys()]
    const responses = new Map(
      run.received
        .filter((r) => r.stage === 'unmask')
        .map((r) => [r.from, parseUnmaskResponse(r.message, setup.context, setup.context.dim)]),
    )
    const secretOf = (v: string, kind: 'self-mask' | 'mask-key') => {
      const neighbourhood = setup.context.neighbours.get(v) as string[]
      const shares: Share[] = []
      for (const [w, response] of responses) {
        const s = readRevealedShares(response.shares, 'unmask').find((s) => s.of === v && s.kind === kind)
        if (s) shares.push({ x: neighbourhood.indexOf(w) + 1, y: s.share })
      }
      return shamirCombine(shares, setup.context.threshold)
    }

    const sum = new Uint32Array(dim)
    for (const y of masked.values())
      for (let j = 0; j < dim; j++) sum[j] = (sum[j] as number) + (y[j] as number)
    for (const v of survivors)
      await applyMask(crypto, sum, selfMaskKey(crypto, setup.context, secretOf(v, 'self-mask'), v), -1)
    const truth = plainSum(
      survivors.map((id) => inputs[setup.ids.indexOf(id)] as Uint32Array),
      dim,
    )
    expect(run.outcome).toEqual({ ok: true, sum: truth, survivors: survivors.sort() })
    expect(looksUniform(sum)).toBe(true)
    expect(sum.filter((w, j) => w === truth[j])).toHaveLength(0)

    // With the dropped participants' mask keys (which only their neighbours' shares give), it is the sum.
    for (const v of dropped) {
      const sSecret = secretOf(v, 'mask-key')
      for (const w of survivors) {
        const advert = run.received.find((r) => r.stage === 'advertise' && r.from === w)?.message as {
          sPublic: Uint8Array
        }
        const key = pairMaskKey(crypto, setup.context, sSecret, new Uint8Array(advert.sPublic), v, w)
        await applyMask(crypto, sum, key, pairSign(w, v) === 1 ? -1 : 1)
      }
    }
    expect(sum).toEqual(truth)
  })
})

/** A round of three over tweetnacl, stepped by hand so each test can interfere where it wants. */
function three(options: { round?: number; crypto?: SecaggCrypto } = {}) {
  const crypto = options.crypto ?? seeded(naclCrypto, 'three')
  const setup = setupRound({
    crypto,
    n: 3,
    dim: 16,
    neighbourCount: 3,
    threshold: 2,
    round: options.round ?? 7,
  })
  const server = new SecaggServer({ crypto, context: setup.context })
  const [a, b, c] = setup.seeds.map(
    (seed) => new SecaggParticipant({ crypto, identitySeed: seed, context: setup.context }),
  )
  const participants = [a, b, c] as SecaggParticipant[]
  const inputs = structuredInputs(3, 16)

  const advertise = () => {
    for (const p of participants) server.receive(p.id, overTheWire(p.advertise()))
    const closed = server.closeAdvertise()
    if (!closed.ok) throw new Error(closed.reason)
    return closed.messages
  }
  const shareKeys = async () => {
    const relays = advertise()
    for (const p of participants) server.receive(p.id, overTheWire(await p.shareKeys(relays.get(p.id))))
    const closed = server.closeShareKeys()
    if (!closed.ok) throw new Error(closed.reason)
    return closed.messages
  }
  const maskedInput = async () => {
    const relays = await shareKeys()
    for (const [i, p] of participants.entries())
      server.receive(p.id, overTheWire(await p.maskedInput(relays.get(p.id), inputs[i] as Uint32Array)))
    const closed = server.closeMaskedInput()
    if (!closed.ok) throw new Error(closed.reason)
    return closed.messages
  }
  return {
    crypto,
    setup,
    server,
    a: a as SecaggParticipant,
    b: b as SecaggParticipant,
    c: c as SecaggParticipant,
    participants,
    inputs,
    advertise,
    shareKeys,
    maskedInput,
  }
}

const flip = (bytes: Uint8Array, at = 0) => {
  const copy = new Uint8Array(bytes)
  copy[at] = (copy[at] as number) ^ 1
  return copy
}

describe('signatures', () => {
  it('the coordinator refuses an advertisement whose signature does not verify, and still takes the genuine one', () => {
    const { server, a } = three()
    const advert = a.advertise()
    expect(() => server.receive(a.id, { ...advert, signature: flip(advert.signature, 5) })).toThrow(
      `advertise: the signature of ${a.id} does not verify against its identity key`,
    )
    expect(server.waitingFor).toContain(a.id)
    server.receive(a.id, advert)
    expect(server.waitingFor).not.toContain(a.id)
  })

  it('the coordinator refuses keys the signature was not made for', () => {
    const { server, a, b } = three()
    const advert = a.advertise()
    expect(() => server.receive(a.id, { ...advert, sPublic: b.advertise().sPublic })).toThrow(
      /does not verify/,
    )
    expect(() => server.receive(b.id, { ...advert })).toThrow(`the signature of ${b.id} does not verify`)
  })

  it('an advertisement from another round does not verify in this one', () => {
    const old = three({ round: 6 })
    const advert = old.a.advertise()
    const now = three({ round: 7 })
    expect(now.a.id).toBe(old.a.id)
    expect(() => now.server.receive(now.a.id, { ...advert, round: 7 })).toThrow(/does not verify/)
  })

  it('a participant refuses neighbours’ keys a coordinator swapped, and takes the genuine ones after', async () => {
    const { a, b, advertise } = three()
    const relays = advertise()
    const genuine = relays.get(a.id) as NeighbourAdvertisements
    const swapped = {
      ...genuine,
      advertisements: advertisementRecords(
        adsOf(genuine).map((x) => (x.id === b.id ? { ...x, cPublic: flip(x.cPublic) } : x)),
      ),
    }
    await expect(a.shareKeys(swapped)).rejects.toThrow(
      `advertisements: the signature of ${b.id} does not verify against its identity key`,
    )
    expect(a.stage).toBe('advertised')
    expect(readSealedShares(((await a.shareKeys(genuine)) as SealedShares).shares, 'sealed')).toHaveLength(2)
  })

  it('a participant refuses a relay that leaves out or replaces its own keys', async () => {
    const { a, c, advertise } = three()
    const genuine = advertise().get(a.id) as NeighbourAdvertisements
    const withoutOwn = {
      ...genuine,
      advertisements: advertisementRecords(adsOf(genuine).filter((x) => x.id !== a.id)),
    }
    await expect(a.shareKeys(withoutOwn)).rejects.toThrow(
      "advertisements: expected this participant's own keys among them",
    )
    const notNeighbour = {
      ...genuine,
      advertisements: advertisementRecords([
        ...adsOf(genuine).filter((x) => x.id !== c.id),
        { ...(adsOf(genuine)[0] as AdvertisementEntry), id: 'f'.repeat(32) },
      ]),
    }
    await expect(a.shareKeys(notNeighbour)).rejects.toThrow(
      `advertisements: ${'f'.repeat(32)} is not a neighbour of ${a.id}`,
    )
  })

  it('a participant refuses to share keys with fewer than t neighbours', async () => {
    const { a, advertise } = three()
    const genuine = advertise().get(a.id) as NeighbourAdvertisements
    const alone = {
      ...genuine,
      advertisements: advertisementRecords(adsOf(genuine).filter((x) => x.id === a.id)),
    }
    await expect(a.shareKeys(alone)).rejects.toThrow(
      'secagg participant: expected at least t = 2 neighbours advertised (U1), itself included, got 1',
    )
  })
})

describe('sealed shares', () => {
  it('a participant complains about a tampered share ciphertext instead of masking its input, and gives up the round', async () => {
    const { a, b, shareKeys, inputs } = three()
    const relay = (await shareKeys()).get(a.id)
    if (relay === undefined) throw new Error('no relay')
    const tampered = {
      ...relay,
      shares: incomingShareRecords(
        readIncomingShares(relay.shares, 'relay').map((s) =>
          s.from === b.id ? { ...s, ciphertext: flip(s.ciphertext, 60) } : s,
        ),
      ),
    }
    const answer = await a.maskedInput(tampered, inputs[0] as Uint32Array)
    expect(answer).toMatchObject({ stage: 'complaint', against: b.id, kind: 'share-does-not-open' })
    expect(a.stage).toBe('done')
  })

  it('a participant complains about a ciphertext relayed as if from another sender', async () => {
    const { a, shareKeys, inputs } = three()
    const relay = (await shareKeys()).get(a.id)
    if (relay === undefined) throw new Error('no relay')
    const [first, second] = readIncomingShares(relay.shares, 'relay') as [IncomingShare, IncomingShare]
    const crossed = {
      ...relay,
      shares: incomingShareRecords([
        { from: first.from, ciphertext: second.ciphertext },
        { from: second.from, ciphertext: first.ciphertext },
      ]),
    }
    expect(await a.maskedInput(crossed, inputs[0] as Uint32Array)).toMatchObject({
      stage: 'complaint',
      // The first record now carries the second sender's ciphertext as its own sender's: it names its own.
      against: first.from,
      kind: 'share-does-not-open',
    })
  })

  it('the coordinator refuses shares that leave out a neighbour or have the wrong size', async () => {
    const { server, a, advertise } = three()
    const relays = advertise()
    const sealed = (await a.shareKeys(relays.get(a.id))) as SealedShares
    const records = readSealedShares(sealed.shares, 'sealed')
    expect(() => server.receive(a.id, { ...sealed, shares: sealedShareRecords(records.slice(1)) })).toThrow(
      /share-keys: expected shares for/,
    )
    const reversed = new Uint8Array(sealed.shares.length)
    reversed.set(sealed.shares.subarray(SHARE_RECORD_BYTES), 0)
    reversed.set(sealed.shares.subarray(0, SHARE_RECORD_BYTES), sealed.shares.length - SHARE_RECORD_BYTES)
    expect(() => server.receive(a.id, { ...sealed, shares: reversed })).toThrow(
      /share-keys: expected shares for .* in the order of their ids/,
    )
    const short = { ...sealed, shares: sealed.shares.subarray(1) }
    expect(() => server.receive(a.id, short)).toThrow(
      `share-keys.shares: expected whole records of 153 bytes, got ${2 * 153 - 1} bytes`,
    )
  })
})

describe('replayed, out-of-order and wrong-round messages', () => {
  it('the coordinator refuses a second message from one participant in a stage', () => {
    const { server, a } = three()
    const advert = a.advertise()
    server.receive(a.id, advert)
    expect(() => server.receive(a.id, advert)).toThrow(
      `secagg advertise: a second message from ${a.id} (replayed?)`,
    )
  })

  it('the coordinator refuses another round, another task, another stage and strangers', () => {
    const { server, a } = three()
    const advert = a.advertise()
    expect(() => server.receive(a.id, { ...advert, round: 8 })).toThrow(
      'advertise.round: expected round 7, got number 8 (a message from another round)',
    )
    expect(() => server.receive(a.id, { ...advert, taskId: 'other' })).toThrow(
      'advertise.taskId: expected "chest-xray", got "other"',
    )
    expect(() => server.receive(a.id, { ...advert, stage: 'share-keys' })).toThrow(
      'advertise.stage: expected "advertise", got "share-keys" (out of order or replayed)',
    )
    expect(() => server.receive('0'.repeat(32), advert)).toThrow(/is not expected in this stage/)
  })

  it('the coordinator refuses a stage-1 message replayed in stage 2, and a participant dropped earlier', () => {
    const { setup, server, a, b, c } = three()
    const adverts = [a, b].map((p) => p.advertise())
    server.receive(a.id, adverts[0])
    server.receive(b.id, adverts[1])
    const relays = server.closeAdvertise()
    if (!relays.ok) throw new Error(relays.reason)
    expect(() => server.receive(a.id, adverts[0])).toThrow(/expected "share-keys", got "advertise"/)
    expect(() => server.receive(c.id, c.advertise())).toThrow(
      `secagg share-keys: ${c.id} is not expected in this stage (not in the round or dropped earlier)`,
    )
    expect(setup.context.ids).toContain(c.id)
    expect(() => server.closeMaskedInput()).toThrow(
      'secagg server: cannot close stage "masked-input" while at "share-keys"',
    )
  })

  it('a participant refuses a replayed relay, a request before its time and a relay from another round', async () => {
    const { a, advertise, setup } = three()
    await expect(
      a.unmask({
        taskId: 'chest-xray',
        round: 7,
        stage: 'unmask',
        survived: survivorBits(setup.context.ids, new Set([a.id])),
      }),
    ).rejects.toThrow(
      'secagg participant: the unmask step is out of order (the participant is at "start", expected "masked")',
    )
    const relay = advertise().get(a.id)
    expect(() => a.advertise()).toThrow(/out of order/)
    await expect(a.shareKeys({ ...relay, round: 8 })).rejects.toThrow(/expected round 7, got number 8/)
    await a.shareKeys(relay)
    await expect(a.maskedInput(relay, new Uint32Array(setup.context.dim))).rejects.toThrow(
      'incoming shares.stage: expected "share-keys", got "advertise" (out of order or replayed)',
    )
    await expect(a.shareKeys(relay)).rejects.toThrow(/out of order/)
  })
  it('a participant shares keys once: a second relay while the first is being checked is refused', async () => {
    const { a, b, advertise } = three()
    const relays = advertise()
    const first = a.shareKeys(relays.get(a.id))
    await expect(a.shareKeys(relays.get(a.id))).rejects.toThrow(
      'secagg participant: the share-keys step is out of order (the participant is at "sharing", expected "advertised")',
    )
    expect((await first).stage).toBe('share-keys')
    expect(a.stage).toBe('shared')
    const abandoned = b.shareKeys(relays.get(b.id))
    b.abandon()
    await expect(abandoned).rejects.toThrow('secagg participant: the round was abandoned while sharing keys')
  })

  it('a participant masks once: a second relay while the first is being masked is refused', async () => {
    const { a, shareKeys, inputs } = three()
    const relay = (await shareKeys()).get(a.id)
    const first = a.maskedInput(relay, inputs[0] as Uint32Array)
    await expect(a.maskedInput(relay, inputs[0] as Uint32Array)).rejects.toThrow(
      'secagg participant: the masked-input step is out of order (the participant is at "masking", expected "shared")',
    )
    expect((await first).stage).toBe('masked-input')
    expect(a.stage).toBe('masked')
  })

  it('a participant that abandons the round answers nothing more, and discards a masking in flight', async () => {
    const { a, b, shareKeys, inputs } = three({ crypto: seeded(nodeCrypto, 'abandon') })
    const relays = await shareKeys()
    const masking = a.maskedInput(relays.get(a.id), inputs[0] as Uint32Array)
    a.abandon()
    await expect(masking).rejects.toThrow(
      'secagg participant: the round was abandoned while masking the input',
    )
    expect(a.stage).toBe('done')
    await expect(a.maskedInput(relays.get(a.id), inputs[0] as Uint32Array)).rejects.toThrow(/out of order/)
    b.abandon()
    expect(() => b.advertise()).toThrow(/out of order/)
  })

  it('the coordinator takes no answer once it has begun to unmask', async () => {
    const { server, participants, maskedInput } = three()
    const requests = await maskedInput()
    const [first, ...rest] = participants as [SecaggParticipant, ...SecaggParticipant[]]
    for (const p of rest) server.receive(p.id, await p.unmask(requests.get(p.id)))
    const outcome = server.finish()
    expect(server.stage).toBe('unmasking')
    const late = await first.unmask(requests.get(first.id))
    expect(() => server.receive(first.id, late)).toThrow(
      `secagg: a message from ${first.id} after the last stage closed (unmasking)`,
    )
    expect((await outcome).ok).toBe(true)
    expect(server.stage).toBe('done')
  })
})

describe('never both shares of one peer', () => {
  async function atUnmask() {
    const round = three()
    const requests = await round.maskedInput()
    const request = requests.get(round.a.id) as UnmaskRequest
    const survived = (...who: SecaggParticipant[]) =>
      survivorBits(round.setup.context.ids, new Set(who.map((p) => p.id)))
    return { ...round, request, survived }
  }

  it('the coordinator asks everyone the same question: one bit per participant, set for U3', async () => {
    const { request, participants, survived } = await atUnmask()
    expect(request.survived).toEqual(survived(...participants))
    expect(request.survived).toEqual(Uint8Array.of(0b111))
  })

  it('a participant refuses a survivor list of the wrong length or with bits past the roster', async () => {
    const { a, request } = await atUnmask()
    await expect(a.unmask({ ...request, survived: Uint8Array.of(0b111, 0) })).rejects.toThrow(
      'unmask request.survived: expected 1 bytes, got 2',
    )
    await expect(a.unmask({ ...request, survived: Uint8Array.of(0b1111) })).rejects.toThrow(
      'unmask request.survived: expected one bit per participant (3), got bits set past the last',
    )
    expect(a.stage).toBe('masked')
  })

  it('a participant that revealed a self-mask share refuses to reveal the mask-key share of the same peer', async () => {
    const { a, b, c, request, survived } = await atUnmask()
    const reply = await a.unmask(request)
    expect(readRevealedShares(reply.shares, 'unmask').find((s) => s.of === b.id)?.kind).toBe('self-mask')
    await expect(a.unmask({ ...request, survived: survived(a, c) })).rejects.toThrow(
      `unmask request: asks for the mask-key share of ${b.id}, whose self-mask share was already revealed`,
    )
    await expect(a.unmask(request)).rejects.toThrow(/out of order/)
  })

  it('a participant refuses to call itself dropped or to go below t survivors', async () => {
    const { a, b, c, request, survived } = await atUnmask()
    await expect(a.unmask({ ...request, survived: survived(b, c) })).rejects.toThrow(
      `unmask request: names this participant (${a.id}) as dropped`,
    )
    await expect(a.unmask({ ...request, survived: survived(a) })).rejects.toThrow(
      'secagg participant: expected at least t = 2 neighbours that survived (U3), itself included, got 1',
    )
    expect(a.stage).toBe('masked')
  })

  it('the coordinator refuses an answer with shares it did not ask for', async () => {
    const { server, a, b, request } = await atUnmask()
    const reply = await a.unmask(request)
    const wrongKind = {
      ...reply,
      shares: revealedShareRecords(
        readRevealedShares(reply.shares, 'unmask').map((s) =>
          s.of === b.id ? { ...s, kind: 'mask-key' as const } : s,
        ),
      ),
    }
    expect(() => server.receive(a.id, wrongKind)).toThrow(
      `unmask: expected 3 shares as requested of ${a.id}, in the order of their ids, got 3, 1 of them not requested (first: the mask-key share of ${b.id})`,
    )
    const badKind = Uint8Array.from(reply.shares)
    badKind[16] = 7
    expect(() => server.receive(a.id, { ...reply, shares: badKind })).toThrow(
      'unmask.shares[0].kind: expected 0 (self-mask) or 1 (mask-key), got 7',
    )
    server.receive(a.id, reply)
  })
})

describe('a round set up to expose one input', () => {
  it('a participant refuses a threshold of 1 or a neighbourhood of itself alone', () => {
    const { seeds, setup } = setupRound({ crypto: naclCrypto, n: 3, dim: 8, neighbourCount: 3, threshold: 2 })
    const lone = roundContext({ ...setup, identityKeys: setup.identityKeys.slice(0, 1), threshold: 1 })
    expect(
      () =>
        new SecaggParticipant({ crypto: naclCrypto, identitySeed: seeds[0] as Uint8Array, context: lone }),
    ).toThrow(/expected a neighbourhood of at least 2 and a threshold of at least 2, got 1 and 1/)
  })
})

describe('the survivors must stay one group, or the coordinator would learn the sum of each', () => {
  // 20 on a ring, each masking with the 2 nearest either side (k = 5, t = 3). Two runs of 2
  // neighbours drop before their masked input: every secret can still be rebuilt from t shares,
  // but no mask joins the survivors on one side of the gaps to those on the other, so removing
  // the self-masks and the dropped participants' pair masks would give each side's sum apart.
  const crypto = seeded(nodeCrypto, 'split')
  const setup = setupRound({ crypto, n: 20, dim: 64, neighbourCount: 5, threshold: 3 })
  const ring = ringOrder(setup.context.ids, setup.setup.neighbourSeed)
  const inputs = structuredInputs(20, 64)
  const run = (silent: ReadonlyMap<number, 'share-keys' | 'masked-input'>) =>
    runRound({
      crypto,
      setup,
      inputs: setup.ids.map((id) => inputs[ring.indexOf(id)] as Uint32Array),
      silentFrom: new Map([...silent].map(([at, stage]) => [ring[at] as string, stage])),
    })
  const gaps = (...at: number[]) => new Map(at.map((i) => [i, 'masked-input' as const]))

  it('one run of dropouts leaves one group: the round gives the exact sum', async () => {
    const { outcome } = await run(gaps(0, 1))
    const survivors = ring.slice(2)
    expect(outcome).toEqual({
      ok: true,
      sum: plainSum(
        survivors.map((id) => inputs[ring.indexOf(id)] as Uint32Array),
        64,
      ),
      survivors: [...survivors].sort(),
    })
  })

  it('two runs split them: the coordinator fails the round before asking for any share', async () => {
    const { outcome, failedAt, received } = await run(gaps(0, 1, 10, 11))
    expect(failedAt).toBe('masked-input')
    expect(outcome).toEqual({
      ok: false,
      reason:
        "the 16 survivors fall into 2 groups that share no masks (of 8, 8): unmasking would reveal each group's sum, so no share is asked for",
    })
    expect(received.filter((r) => r.stage === 'unmask')).toEqual([])
  })

  it('a participant asked anyway checks the whole of U3 and reveals nothing', async () => {
    // ring[5] also drops, earlier: it never shared keys with its neighbours.
    const { participants } = await run(new Map([...gaps(0, 1, 10, 11), [5, 'share-keys' as const]]))
    const u3 = new Set(ring.filter((_, i) => ![0, 1, 5, 10, 11].includes(i)))
    const request = (survivors: ReadonlySet<string>): UnmaskRequest => ({
      taskId: setup.context.taskId,
      round: setup.context.round,
      stage: 'unmask',
      survived: survivorBits(setup.context.ids, survivors),
    })
    const p = participants.get(ring[4] as string) as SecaggParticipant
    await expect(p.unmask(request(u3))).rejects.toThrow(
      "unmask request: the 15 survivors fall into 2 groups that share no masks (of 8, 7); revealing shares would let the coordinator unmask each group's sum",
    )
    await expect(p.unmask(request(new Set([...u3, ring[5] as string])))).rejects.toThrow(
      `unmask request: names as survivors neighbours that never shared keys with this participant: ${ring[5]}`,
    )
    expect(p.stage).toBe('masked')
  })
})
