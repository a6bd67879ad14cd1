import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import {
  encodeSecaggSetup,
  naclCrypto,
  parseSecaggSetup,
  participantId,
  readSealedShares,
  roundContext,
  type SealedShares,
  SHARE_CIPHERTEXT_BYTES,
} from '../../../protocol/src/secagg/index.ts'
import { overTheWire, plainSum, runRound, seeded, setupRound, structuredInputs } from './round.ts'

describe('a secure-aggregation round without dropouts', () => {
  it.each([
    { n: 3, k: 3, t: 2 },
    { n: 10, k: 10, t: 6 },
  ])('reveals exactly the plain sum mod 2^32 of $n inputs', async ({ n, k, t }) => {
    const crypto = seeded(naclCrypto, `plain-${n}`)
    const dim = 300
    const setup = setupRound({ crypto, n, dim, neighbourCount: k, threshold: t })
    const inputs = structuredInputs(n, dim)
    const run = await runRound({ crypto, setup, inputs })
    expect(run.outcome).toEqual({ ok: true, sum: plainSum(inputs, dim), survivors: [...setup.context.ids] })
  })

  it('wraps mod 2^32 like the plain sum does, so signed fixed-point values add up', async () => {
    const crypto = seeded(naclCrypto, 'wrap')
    const setup = setupRound({ crypto, n: 3, dim: 4, neighbourCount: 3, threshold: 2 })
    const inputs = [
      Uint32Array.of(2 ** 32 - 1, 2 ** 31, 0, 5),
      Uint32Array.of(1, 2 ** 31, 0, 2 ** 32 - 7),
      Uint32Array.of(2 ** 32 - 1, 1, 0, 1),
    ]
    const run = await runRound({ crypto, setup, inputs })
    expect(run.outcome.ok && Array.from(run.outcome.sum)).toEqual([2 ** 32 - 1, 1, 0, 2 ** 32 - 1])
  })

  it('browser (tweetnacl + WebCrypto) and Node (native) participants share one round', async () => {
    const n = 10
    const dim = 100
    const setup = setupRound({ crypto: naclCrypto, n, dim, neighbourCount: 5, threshold: 3 })
    const inputs = structuredInputs(n, dim)
    const run = await runRound({
      crypto: naclCrypto,
      serverCrypto: nodeCrypto,
      participantCrypto: (i) => (i % 2 === 0 ? naclCrypto : nodeCrypto),
      setup,
      inputs,
    })
    expect(run.outcome.ok && run.outcome.sum).toEqual(plainSum(inputs, dim))
  })

  it('each participant hears only of its own neighbourhood', async () => {
    const crypto = seeded(naclCrypto, 'sparse')
    const setup = setupRound({ crypto, n: 9, dim: 8, neighbourCount: 3, threshold: 2 })
    const { context } = setup
    for (const id of context.ids) expect(context.neighbours.get(id)).toHaveLength(3)
    const run = await runRound({ crypto, setup, inputs: structuredInputs(9, 8) })
    expect(run.outcome.ok).toBe(true)
    for (const { from, stage, message } of run.received)
      if (stage === 'share-keys') {
        const to = readSealedShares((message as SealedShares).shares, 'sealed')
        expect(to.map((s) => s.to)).toEqual(context.neighbours.get(from)?.filter((v) => v !== from))
        for (const s of to) expect(s.ciphertext).toHaveLength(SHARE_CIPHERTEXT_BYTES)
      }
  })
})

describe('the round context', () => {
  it('is rebuilt identically by a participant from the announced setup as it arrives over the wire', () => {
    const setup = setupRound({ crypto: naclCrypto, n: 12, dim: 10, neighbourCount: 5, threshold: 3 })
    const rebuilt = roundContext(parseSecaggSetup(overTheWire(encodeSecaggSetup(setup.setup))))
    expect(rebuilt).toEqual(setup.context)
    expect(rebuilt.ids).toEqual([...rebuilt.ids].sort())
    for (const [id, key] of rebuilt.identityKeys) expect(participantId(key)).toBe(id)
  })

  it('refuses a threshold that two disjoint coalitions of a neighbourhood could both reach', () => {
    const { setup } = setupRound({ crypto: naclCrypto, n: 12, dim: 10, neighbourCount: 5, threshold: 3 })
    expect(() => roundContext({ ...setup, threshold: 2 })).toThrow(
      'secagg: expected a threshold above half of and at most the neighbourhood size 5, got number 2',
    )
    expect(() => roundContext({ ...setup, threshold: 6 })).toThrow(/at most the neighbourhood size 5/)
  })

  it('refuses a roster that lists one identity twice', () => {
    const { setup } = setupRound({ crypto: naclCrypto, n: 4, dim: 10, neighbourCount: 3, threshold: 2 })
    const twice = [...setup.identityKeys, setup.identityKeys[0] as Uint8Array]
    expect(() => roundContext({ ...setup, identityKeys: twice })).toThrow(/is listed twice in the roster/)
  })

  it('refuses a setup with a malformed field, naming it', () => {
    const round = setupRound({ crypto: naclCrypto, n: 4, dim: 10, neighbourCount: 3, threshold: 2 })
    const setup = encodeSecaggSetup(round.setup)
    expect(() => parseSecaggSetup({ ...setup, neighbourSeed: new Uint8Array(31) })).toThrow(
      'secagg setup.neighbourSeed: expected 32 bytes, got 31',
    )
    expect(() => parseSecaggSetup({ ...setup, identityKeys: ['key'] })).toThrow(
      'secagg setup.identityKeys: expected 1 to 100000 keys of 32 bytes concatenated, got',
    )
    expect(() => parseSecaggSetup({ ...setup, identityKeys: new Uint8Array(4 * 32 + 1) })).toThrow(
      'secagg setup.identityKeys: expected 1 to 100000 keys of 32 bytes concatenated',
    )
  })
})
