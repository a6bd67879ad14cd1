import { nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import {
  MAX_CORRECTION_WORDS,
  naclCrypto,
  type SecaggCrypto,
  type Stage,
} from '../../../protocol/src/secagg/index.ts'
import { plainSum, runRound, seeded, setupRound, structuredInputs } from './round.ts'

const stages: readonly Stage[] = ['advertise', 'share-keys', 'masked-input', 'unmask']

/**
 * Runs a round where participant i falls silent from `drops[i]` on, and returns the outcome with
 * the plain sum of the inputs that should be in it: those of everyone who sent a masked input
 * (a participant that drops during unmasking still counts — its input is in the sum).
 */
async function roundWithDropouts(options: {
  crypto: SecaggCrypto
  n: number
  dim: number
  k: number
  t: number
  drops: ReadonlyMap<number, Stage>
}) {
  const { crypto, n, dim, k, t, drops } = options
  const setup = setupRound({ crypto, n, dim, neighbourCount: k, threshold: t })
  const inputs = structuredInputs(n, dim)
  const silentFrom = new Map([...drops].map(([i, stage]) => [setup.ids[i] as string, stage]))
  const run = await runRound({ crypto, setup, inputs, silentFrom })
  const counted = setup.ids.flatMap((id, i) => {
    const from = silentFrom.get(id)
    return from === undefined || from === 'unmask' ? [i] : []
  })
  return {
    run,
    expected: {
      ok: true,
      sum: plainSum(
        counted.map((i) => inputs[i] as Uint32Array),
        dim,
      ),
      survivors: counted.map((i) => setup.ids[i]).sort(),
    },
  }
}

describe('the unmasked sum with dropouts is bit-identical to the plain sum of the survivors', () => {
  it.each(stages)('3 participants, one drops at %s', async (stage) => {
    const crypto = seeded(naclCrypto, `three-${stage}`)
    const { run, expected } = await roundWithDropouts({
      crypto,
      n: 3,
      dim: 64,
      k: 3,
      t: 2,
      drops: new Map([[1, stage]]),
    })
    expect(run.outcome).toEqual(expected)
  })

  it.each(stages)('10 participants, two drop at %s', async (stage) => {
    const { run, expected } = await roundWithDropouts({
      crypto: seeded(nodeCrypto, `ten-${stage}`),
      n: 10,
      dim: 200,
      k: 10,
      t: 6,
      drops: new Map([
        [2, stage],
        [7, stage],
      ]),
    })
    expect(run.outcome).toEqual(expected)
  })

  it('10 participants, one drops at every stage (tweetnacl and WebCrypto throughout)', async () => {
    const { run, expected } = await roundWithDropouts({
      crypto: seeded(naclCrypto, 'ten-every-stage'),
      n: 10,
      dim: 200,
      k: 10,
      t: 6,
      drops: new Map(stages.map((stage, i) => [2 * i + 1, stage])),
    })
    expect(run.outcome).toEqual(expected)
    expect(run.outcome.ok && run.outcome.survivors).toHaveLength(7)
  })

  it('100 participants in neighbourhoods of 21, three drop at every stage', async () => {
    const { run, expected } = await roundWithDropouts({
      crypto: seeded(nodeCrypto, 'hundred'),
      n: 100,
      dim: 256,
      k: 21,
      t: 11,
      drops: new Map(stages.flatMap((stage, s) => [0, 1, 2].map((j) => [s * 25 + j * 8, stage] as const))),
    })
    expect(run.outcome).toEqual(expected)
    expect(run.outcome.ok && run.outcome.survivors).toHaveLength(91)
  })
})

describe('dropouts’ pair masks: corrected by the survivors who answer, derived by the coordinator only for those lost at unmask', () => {
  // Ten in one neighbourhood (k = 10, t = 6): participants 2 and 7 drop before their masked input.
  const dim = 200
  const dropped = new Map([
    [2, 'masked-input'],
    [7, 'masked-input'],
  ] as const)

  /** The coordinator's crypto, counting the key agreements it runs. */
  function counting(crypto: SecaggCrypto) {
    const count = { agreements: 0 }
    const x25519All = crypto.x25519All
    const counted: SecaggCrypto = {
      ...crypto,
      x25519Each: (secretKey, publicKeys) => {
        count.agreements += publicKeys.length
        return crypto.x25519Each(secretKey, publicKeys)
      },
      ...(x25519All && {
        x25519All: (secretKey: Uint8Array, publicKeys: readonly Uint8Array[]) => {
          count.agreements += publicKeys.length
          return x25519All(secretKey, publicKeys)
        },
      }),
    }
    return { counted, count }
  }

  async function round(
    name: string,
    drops: ReadonlyMap<number, Stage>,
    alter?: (index: number, message: { correction?: Uint8Array }) => unknown,
  ) {
    const crypto = seeded(nodeCrypto, name)
    const { counted, count } = counting(crypto)
    const setup = setupRound({ crypto, n: 10, dim, neighbourCount: 10, threshold: 6 })
    const inputs = structuredInputs(10, dim)
    const silentFrom = new Map([...drops].map(([i, stage]) => [setup.ids[i] as string, stage]))
    const run = await runRound({
      crypto,
      serverCrypto: counted,
      setup,
      inputs,
      silentFrom,
      keepRefused: true,
      alter: (from, stage, message) =>
        alter && stage === 'unmask'
          ? alter(setup.ids.indexOf(from), message as { correction?: Uint8Array })
          : message,
    })
    const summed = setup.ids.flatMap((id, i) => (silentFrom.get(id) === 'masked-input' ? [] : [i]))
    const plain = plainSum(
      summed.map((i) => inputs[i] as Uint32Array),
      dim,
    )
    const corrections = run.received
      .filter((r) => r.stage === 'unmask')
      .map((r) => (r.message as { correction?: Uint8Array }).correction?.byteLength)
    return { run, plain, count, corrections, ids: setup.ids }
  }

  it('every survivor answers with a correction of dim words, and the coordinator agrees no key: the sum is exact', async () => {
    const { run, plain, count, corrections } = await round('corrected', dropped)
    expect(run.outcome.ok && run.outcome.sum).toEqual(plain)
    expect(corrections).toEqual(Array(8).fill(dim * 4))
    expect(count.agreements).toBe(0)
  })

  it('without dropouts no answer carries a correction', async () => {
    const { run, corrections, count } = await round('none dropped', new Map())
    expect(run.outcome.ok).toBe(true)
    expect(corrections).toEqual(Array(10).fill(undefined))
    expect(count.agreements).toBe(0)
  })

  it('a survivor lost at unmask: the coordinator reconstructs each dropout’s mask key and agrees only its pair with that survivor', async () => {
    const { run, plain, count } = await round('one lost at unmask', new Map([...dropped, [4, 'unmask']]))
    expect(run.outcome.ok && run.outcome.sum).toEqual(plain)
    expect(count.agreements).toBe(2)
  })

  it('an answer without its correction, or with one of another length, is refused; its sender counts as lost at unmask and the sum stays exact', async () => {
    const { run, plain, count, ids } = await round('refused corrections', dropped, (i, message) => {
      if (i === 4) return { ...message, correction: undefined }
      if (i === 5) return { ...message, correction: message.correction?.subarray(4) }
      return message
    })
    expect(
      run.refused
        .map(({ from, code, reason }) => ({ from, code, reason }))
        .sort((a, b) => ids.indexOf(a.from) - ids.indexOf(b.from)),
    ).toEqual([
      {
        from: ids[4],
        code: 'malformed',
        reason: `unmask: expected ${ids[4]}'s correction for its 2 neighbours that dropped (${[ids[2], ids[7]].sort().join(', ')}), got none`,
      },
      {
        from: ids[5],
        code: 'wrong-size',
        reason: `unmask.correction: expected ${dim * 4} bytes, got ${dim * 4 - 4}`,
      },
    ])
    expect(run.outcome.ok && run.outcome.sum).toEqual(plain)
    expect(count.agreements).toBe(4)
  })

  it('a vector past MAX_CORRECTION_WORDS goes without: the coordinator rebuilds each dropout’s mask key and agrees its pairs with every survivor', async () => {
    const long = MAX_CORRECTION_WORDS + 1
    const crypto = seeded(nodeCrypto, 'long vector')
    const { counted, count } = counting(crypto)
    const setup = setupRound({ crypto, n: 10, dim: long, neighbourCount: 10, threshold: 6 })
    const inputs = structuredInputs(10, long)
    const silentFrom = new Map([...dropped].map(([i, stage]) => [setup.ids[i] as string, stage]))
    const run = await runRound({ crypto, serverCrypto: counted, setup, inputs, silentFrom })
    const summed = setup.ids.flatMap((id, i) => (silentFrom.has(id) ? [] : [i]))
    expect(run.outcome.ok && run.outcome.sum).toEqual(
      plainSum(
        summed.map((i) => inputs[i] as Uint32Array),
        long,
      ),
    )
    expect(
      run.received.filter((r) => r.stage === 'unmask' && (r.message as { correction?: unknown }).correction),
    ).toEqual([])
    expect(count.agreements).toBe(2 * 8)
  })

  it('a correction from a participant none of whose neighbours dropped is refused', async () => {
    const { run, ids } = await round('stray correction', new Map(), (i, message) =>
      i === 3 ? { ...message, correction: new Uint8Array(dim * 4) } : message,
    )
    expect(run.refused.map(({ from, code, reason }) => ({ from, code, reason }))).toEqual([
      {
        from: ids[3],
        code: 'malformed',
        reason: `unmask: expected no correction from ${ids[3]}, none of its neighbours dropped, got one`,
      },
    ])
    expect(run.outcome.ok).toBe(true)
  })
})

describe('too few survivors fail the round with a reason, never a wrong sum', () => {
  const ten = { n: 10, dim: 32, k: 10, t: 6 }
  const drop = (count: number, stage: Stage) =>
    new Map(Array.from({ length: count }, (_, i) => [i, stage] as const))

  it('fewer than t advertise', async () => {
    const { run } = await roundWithDropouts({
      ...ten,
      crypto: seeded(nodeCrypto, 'few-1'),
      drops: drop(5, 'advertise'),
    })
    expect(run.failedAt).toBe('advertise')
    expect(run.outcome).toEqual({
      ok: false,
      reason: 'only 5 of 10 participants advertised, fewer than t = 6',
    })
  })

  it('fewer than t share keys', async () => {
    const { run } = await roundWithDropouts({
      ...ten,
      crypto: seeded(nodeCrypto, 'few-2'),
      drops: drop(5, 'share-keys'),
    })
    expect(run.outcome).toEqual({
      ok: false,
      reason: 'only 5 of 10 participants shared keys, fewer than t = 6',
    })
  })

  it('fewer than t send a masked input: the round fails before any share is revealed', async () => {
    const { run } = await roundWithDropouts({
      ...ten,
      crypto: seeded(nodeCrypto, 'few-3'),
      drops: drop(5, 'masked-input'),
    })
    expect(run.failedAt).toBe('masked-input')
    expect(run.outcome).toEqual({
      ok: false,
      reason: 'only 5 of 10 participants sent a masked input, fewer than t = 6',
    })
    expect(run.received.filter((r) => r.stage === 'unmask')).toEqual([])
  })

  it('one neighbourhood losing its majority fails the round even when most participants survive', async () => {
    const crypto = seeded(nodeCrypto, 'few-local')
    const setup = setupRound({ crypto, n: 20, dim: 16, neighbourCount: 5, threshold: 3 })
    const victim = setup.context.ids[0] as string
    const neighbours = (setup.context.neighbours.get(victim) as string[]).filter((v) => v !== victim)
    const silentFrom = new Map(neighbours.slice(0, 3).map((v) => [v, 'masked-input' as const]))
    const run = await runRound({ crypto, setup, inputs: structuredInputs(20, 16), silentFrom })
    expect(run.failedAt).toBe('masked-input')
    expect(run.outcome.ok).toBe(false)
    expect(!run.outcome.ok && run.outcome.reason).toMatch(
      /^[0-9a-f]{32} (survived|dropped) with [0-2] surviving neighbours to reconstruct its (self-mask seed|mask key), fewer than t = 3$/,
    )
  })

  it('fewer than t answer the unmask request', async () => {
    const { run } = await roundWithDropouts({
      ...ten,
      crypto: seeded(nodeCrypto, 'few-4'),
      drops: drop(5, 'unmask'),
    })
    expect(run.failedAt).toBe('unmask')
    expect(run.outcome.ok).toBe(false)
    expect(!run.outcome.ok && run.outcome.reason).toMatch(
      /^only 5 shares of [0-9a-f]{32}'s self-mask seed arrived, fewer than t = 6$/,
    )
  })

  it('a failed round takes no more messages and keeps its reason', async () => {
    const { run } = await roundWithDropouts({
      ...ten,
      crypto: seeded(nodeCrypto, 'few-5'),
      drops: drop(5, 'share-keys'),
    })
    expect(run.server.stage).toBe('failed')
    const late = run.received[0] as { from: string; message: unknown }
    expect(() => run.server.receive(late.from, late.message)).toThrow(
      /after the last stage closed \(failed\)/,
    )
  })
})
