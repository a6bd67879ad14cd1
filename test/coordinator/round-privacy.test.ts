import {
  type Effect,
  FEDAVG,
  initialState,
  type RoundConfig,
  type RoundEvent,
  type RoundPrivacy,
  type RoundState,
  runAccountant,
  step,
} from '@fedtune/coordinator'
import { emptyEvaluationCounts, PRIVATE_NO_EVALUATION, type SecureSum, type Update } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { twoRoundsKept } from '../privacy-fixture.ts'

/**
 * Issue 16, item 4: the coordinator's accountant in the round logic. From public facts only (which
 * rounds released a sum, and how many survivors each had) it says the ε spent after every round,
 * and it ends the run, as finished, before a round whose worst case could take ε past the target.
 */

/** Unit "example", full batch: one Gaussian step of z = 2 a round. */
const EXAMPLE = runAccountant(
  {
    unit: 'example',
    epsilon: 100,
    delta: 1e-5,
    clipNorm: 1,
    noiseMultiplier: 2,
    rounds: 10,
    samplingRate: 1,
    stepsPerRound: 1,
  },
  { unit: 'example', samplingRate: 1, noiseMultiplier: 2, stepsPerRound: 1 },
)

/** Unit "participant": the distributed discrete Gaussian, its worst case two survivors. */
const PARTICIPANT = runAccountant(
  {
    unit: 'participant',
    epsilon: 100,
    delta: 1e-5,
    clipNorm: 1,
    noiseMultiplier: 2,
    rounds: 10,
    minParticipants: 2,
  },
  { unit: 'participant', sigmaSquared: 2e6, l2Sensitivity: 1000, dimension: 2, minParticipants: 2 },
)

/** `budget` with its target between ε after the rounds `fits` and after those and `fails`. */
function between(budget: RoundPrivacy, fits: number[], fails: number[]): RoundPrivacy {
  const target = (budget.epsilonAfter(fits) + budget.epsilonAfter(fails)) / 2
  return { ...budget, target }
}

const config = (privacy: RoundPrivacy, over: Partial<RoundConfig> = {}): RoundConfig => ({
  rounds: 10,
  minParticipants: 2,
  participantsPerRound: 3,
  maxBrowsersPerRound: 0,
  seed: 1,
  server: FEDAVG,
  secure: false,
  gatherMs: 0,
  privacy,
  ...over,
})

function run(state: RoundState, ...events: RoundEvent[]): [RoundState, Effect[]] {
  let effects: Effect[] = []
  for (const event of events) {
    const [next, out] = step(state, event)
    state = next
    effects = [...effects, ...out]
  }
  return [state, effects]
}

const joined = (participant: string): RoundEvent => ({ type: 'joined', participant, kind: 'hospital' })

/** A plaintext-debug update that claims `examples` examples, all of label a. */
const update = (round: number, delta: number[], examples: number): Update => ({
  round,
  delta: new Float32Array(delta),
  examples,
  labelCounts: [examples, 0],
  metrics: { trainLoss: 0.5, evaluation: emptyEvaluationCounts(2) },
})

/** A private secure sum of `survivors` updates: [Σ Δ, survivors], no counts. */
const privateSum = (survivors: string[], delta: number[]): RoundEvent => ({
  type: 'secure-sum',
  round: 0,
  survivors,
  sum: {
    weightedSum: Float64Array.from([...delta, survivors.length]),
    examples: survivors.length,
    labelCounts: null,
    evaluation: { ok: false, reason: PRIVATE_NO_EVALUATION },
  } satisfies SecureSum,
})

const ended = (effects: Effect[]) =>
  effects.filter((e) => e.type === 'round-aggregated' || e.type === 'round-failed')

describe('a private task’s rounds', () => {
  it('weigh every update 1 whatever the examples it claims, sum no counts, and record ε spent', () => {
    const [state, effects] = run(
      initialState(config(EXAMPLE), new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1, 1], 1) },
      { type: 'update', participant: 'b', update: update(1, [3, -1], 1000) },
    )
    // the mean of the two, not weighted 1:1000
    expect(Array.from(state.global)).toEqual([2, 0])
    expect(state.labelCounts).toBeNull()
    expect(ended(effects)).toMatchObject([
      {
        type: 'round-aggregated',
        labelCounts: null,
        examples: 0,
        evaluation: { ok: false, reason: PRIVATE_NO_EVALUATION },
        privacy: {
          unit: 'example',
          epsilon: EXAMPLE.epsilonAfter([2]),
          delta: 1e-5,
          target: 100,
          survivors: 2,
        },
      },
    ])
    expect(state.accounted).toEqual([2])
  })

  it('end the run as finished before a round whose worst case would pass the target', () => {
    const budget = between(EXAMPLE, [2, 2], [2, 2, 2])
    let [state, effects] = run(
      initialState(config(budget), new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1, 1], 1) },
      { type: 'update', participant: 'b', update: update(1, [1, 1], 1) },
    )
    expect(effects.at(-1)).toMatchObject({ type: 'start-round', round: 2 })
    ;[state, effects] = run(
      state,
      { type: 'update', participant: 'a', update: update(2, [1, 1], 1) },
      { type: 'update', participant: 'b', update: update(2, [1, 1], 1) },
    )
    const after = budget.epsilonAfter([2, 2, 2])
    expect(effects.map((e) => e.type)).toEqual(['update-ack', 'update-ack', 'round-aggregated', 'finished'])
    expect(effects.at(-1)).toEqual({
      type: 'finished',
      reason: `privacy budget: round 3 would take ε to ${after.toFixed(2)} > target ${budget.target.toFixed(2)} (δ = 1e-5, 2 rounds accounted so far)`,
      completed: 2,
      failed: 0,
    })
    expect(state.phase).toBe('finished')
    // what was spent stayed within the target
    expect(budget.epsilonAfter(state.accounted)).toBeLessThanOrEqual(budget.target)
  })

  it('unit "participant": each round is accounted with its own survivors, the next one’s worst case with minParticipants', () => {
    // a third round of three survivors would fit, but one of the two it may end with would not
    const budget = between(PARTICIPANT, [3, 3, 3], [3, 3, 2])
    expect(budget.epsilonAfter([3, 3, 3])).toBeLessThan(budget.target)
    const secure = config(budget, { secure: true })
    let [state, effects] = run(
      initialState(secure, new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      joined('c'),
    )
    const sum = (round: number) => ({ ...privateSum(['a', 'b', 'c'], [3, -3]), round }) as RoundEvent
    ;[state, effects] = run(state, sum(1))
    expect(Array.from(state.global)).toEqual([1, -1])
    expect(ended(effects)).toMatchObject([
      { privacy: { unit: 'participant', epsilon: budget.epsilonAfter([3]), survivors: 3 } },
    ])
    ;[state, effects] = run(state, sum(2))
    expect(ended(effects)).toMatchObject([{ privacy: { epsilon: budget.epsilonAfter([3, 3]) } }])
    expect(effects.at(-1)).toMatchObject({
      type: 'finished',
      reason: expect.stringMatching(/^privacy budget: round 3 would take ε to /),
    })
  })

  it('a secure round that fails before its unmask stage released nothing and costs nothing; a plaintext one that saw updates is accounted', () => {
    const [secure, secureEffects] = run(
      initialState(config(PARTICIPANT, { secure: true }), new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'secure-failed', round: 1, reason: 'too few masked inputs' },
    )
    expect(ended(secureEffects)).toMatchObject([
      { type: 'round-failed', privacy: { epsilon: 0, survivors: 0 } },
    ])
    expect(secure.accounted).toEqual([])

    const [plain, plainEffects] = run(
      initialState(config(EXAMPLE), new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1, 1], 1) },
      { type: 'deadline', round: 1 },
    )
    expect(ended(plainEffects)).toMatchObject([
      { type: 'round-failed', privacy: { epsilon: EXAMPLE.epsilonAfter([1]), survivors: 1 } },
    ])
    expect(plain.accounted).toEqual([1])
  })

  it('a secure round whose unmasking was asked for is accounted with those survivors however it fails: unmask, aggregation or keeping its head', () => {
    for (const failure of [
      { type: 'secure-failed', round: 1, reason: 'a second t-subset gives another secret' },
      { type: 'error', round: 1, reason: 'closing round 1 failed: disk full' },
      { type: 'abort', round: 1, by: 'alice', reason: 'too slow' },
    ] as const) {
      const [state, effects] = run(
        initialState(config(PARTICIPANT, { secure: true }), new Float32Array([0, 0])),
        joined('a'),
        joined('b'),
        joined('c'),
        { type: 'secure-unmasking', round: 1, survivors: 3 },
        failure,
      )
      expect(ended(effects)).toMatchObject([
        { type: 'round-failed', privacy: { epsilon: PARTICIPANT.epsilonAfter([3]), survivors: 3 } },
      ])
      expect(state.accounted).toEqual([3])
      expect(state.unmasking).toBe(0)
    }
  })

  it('a stop during a round that released something records it as failed and accounts it before the run finishes; one that released nothing is not recorded', () => {
    const secure = initialState(config(PARTICIPANT, { secure: true }), new Float32Array([0, 0]))
    const [unmasking, unmaskingEffects] = run(
      secure,
      joined('a'),
      joined('b'),
      joined('c'),
      { type: 'secure-unmasking', round: 1, survivors: 3 },
      { type: 'stop', reason: 'coordinator closed' },
    )
    expect(unmaskingEffects.slice(-2)).toEqual([
      expect.objectContaining({
        type: 'round-failed',
        round: 1,
        reason:
          "the run stopped during the round's unmask stage (coordinator closed); its 3 survivors are accounted",
        privacy: expect.objectContaining({ epsilon: PARTICIPANT.epsilonAfter([3]), survivors: 3 }),
      }),
      { type: 'finished', reason: 'coordinator closed', completed: 0, failed: 1 },
    ])
    expect(unmasking).toMatchObject({ phase: 'finished', round: 1, accounted: [3] })

    const [plain, plainEffects] = run(
      initialState(config(EXAMPLE), new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1, 1], 1) },
      { type: 'stop', reason: 'stopped by alice' },
    )
    expect(ended(plainEffects)).toMatchObject([
      {
        type: 'round-failed',
        reason: 'the run stopped with 1 updates received (stopped by alice); they are accounted',
        contributions: [{ participant: 'a' }],
        dropped: ['b'],
        privacy: { epsilon: EXAMPLE.epsilonAfter([1]), survivors: 1 },
      },
    ])
    expect(plain.accounted).toEqual([1])

    // before the unmask stage nothing was revealed: the round ends unrecorded, as without privacy
    const [early, earlyEffects] = run(secure, joined('a'), joined('b'), joined('c'), {
      type: 'stop',
      reason: 'stopped by alice',
    })
    expect(earlyEffects.at(-1)).toEqual({
      type: 'finished',
      reason: 'stopped by alice',
      completed: 0,
      failed: 0,
    })
    expect(ended(earlyEffects)).toEqual([])
    expect(early.accounted).toEqual([])
  })

  it('a resumed run carries its spent budget on, and ends as it opens when its next round cannot fit', () => {
    const budget = between(EXAMPLE, [2, 2], [2, 2, 2])
    const resumed = initialState(config(budget), new Float32Array([0, 0]), twoRoundsKept)
    const [state, effects] = run(resumed, { type: 'opened' })
    expect(state.phase).toBe('finished')
    expect(effects).toMatchObject([
      { type: 'finished', reason: expect.stringMatching(/^privacy budget: round 3 would take ε/) },
    ])
    // the same at a join, for a run that was not told it is open
    expect(run(resumed, joined('a'))[1]).toEqual(effects)
  })

  it('a task without privacy accounts nothing and records none', () => {
    const [state, effects] = run(
      initialState(config(EXAMPLE, { privacy: null }), new Float32Array([0, 0])),
      joined('a'),
      joined('b'),
      { type: 'update', participant: 'a', update: update(1, [1, 1], 1) },
      { type: 'update', participant: 'b', update: update(1, [4, 4], 3) },
    )
    expect(ended(effects)).toMatchObject([{ privacy: null, examples: 4, labelCounts: [4, 0] }])
    expect(state.accounted).toEqual([])
  })
})
