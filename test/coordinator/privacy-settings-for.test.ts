import {
  parseTaskFile,
  privacyAtSubmit,
  privacySettingsFor,
  RING_WRAP_BOUND,
  runAccountant,
} from '@fedtune/coordinator'
import { dpSgdSteps } from '@fedtune/model'
import { ringOverflowProbability, ringScale } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

/**
 * Issue 16: the coordinator turns a task's `privacy` into what its run serves — the noise multiplier
 * when the file leaves it out, the secure sum's fixed point, the budget the rounds account — or
 * refuses it at start with the numbers that make it impossible.
 */
const base = {
  name: 'pneumonia',
  backbone: { source: '../backbones/mobilenet', sha256: 'ab'.repeat(32) },
  head: { labels: ['normal', 'pneumonia'] },
  training: { rounds: 20, localEpochs: 2 },
  participation: { minParticipants: 3, participantsPerRound: 5 },
}

/** The task file with `privacy` (and `more` over the base), parsed as the coordinator reads it. */
function task(privacy: Record<string, unknown>, more: Record<string, unknown> = {}) {
  const file = parseTaskFile({ ...base, privacy, ...more }, '/srv/tasks')
  if (file.privacy === null) throw new Error('expected a private task')
  return { ...file, privacy: file.privacy }
}

function served(privacy: Record<string, unknown>, more: Record<string, unknown> = {}, params = 2562) {
  const found = privacySettingsFor(task(privacy, more), params)
  if (!found.ok) throw new Error(`expected the task to be served, got ${JSON.stringify(found.problems)}`)
  return found.value
}

function refused(privacy: Record<string, unknown>, more: Record<string, unknown> = {}, params = 2562) {
  const found = privacySettingsFor(task(privacy, more), params)
  if (found.ok) throw new Error('expected the task to be refused')
  return found.problems
}

describe('privacySettingsFor, unit "example"', () => {
  it('derives the smallest z that keeps every round within ε, and tells participants the steps a round', () => {
    const run = served({ unit: 'example', epsilon: 3, samplingRate: 0.05 })
    const { settings } = run
    expect(settings).toMatchObject({
      unit: 'example',
      epsilon: 3,
      delta: 1e-5,
      clipNorm: 1,
      rounds: 20,
      samplingRate: 0.05,
      stepsPerRound: dpSgdSteps(2, 0.05),
    })
    const all = new Array<number>(20).fill(1)
    // within ε over all 20 rounds, and the smallest such z to the search's precision
    expect(run.budget.epsilonAfter(all)).toBeLessThanOrEqual(3)
    const smaller = runAccountant(
      { ...settings, noiseMultiplier: settings.noiseMultiplier * 0.999 },
      {
        unit: 'example',
        samplingRate: 0.05,
        noiseMultiplier: settings.noiseMultiplier * 0.999,
        stepsPerRound: dpSgdSteps(2, 0.05),
      },
    )
    expect(smaller.epsilonAfter(all)).toBeGreaterThan(3)
  })

  it('keeps a z the file sets, and weighs every participant 1 in a secure sum clipped to the aggregation’s bound', () => {
    const run = served(
      { unit: 'example', epsilon: 8, noiseMultiplier: 1.1 },
      { aggregation: { clipNorm: 2 } },
    )
    expect(run.settings.noiseMultiplier).toBe(1.1)
    expect(run.fixedPoint).toEqual({ clipNorm: 2, scale: 2 ** 27, maxExamples: 1 })
    // unit "example" costs the same however many survive
    expect(run.budget.epsilonAfter([2])).toBe(run.budget.epsilonAfter([5]))
  })

  it('has no fixed point in plaintext-debug', () => {
    const run = served({ unit: 'example', epsilon: 3 }, { aggregation: { mode: 'plaintext-debug' } })
    expect(run.fixedPoint).toBeNull()
  })

  it('refuses a target ε no noise up to the largest meets, with the ε even that spends', () => {
    const [problem, ...more] = refused({ unit: 'example', epsilon: 0.01 }, { training: { rounds: 10_000 } })
    expect(more).toEqual([])
    expect(problem).toEqual({
      path: 'privacy.epsilon',
      expected: expect.stringMatching(
        /^an ε that 10000 rounds of 1 DP-SGD steps at q = 1 can meet with a noise multiplier up to 1000 \(even that spends ε = 0\.\d\d at δ = 0\.00001\)/,
      ),
      found: 'number 0.01',
    })
  })

  it('refuses a z with which not even one round fits ε, saying what one round spends', () => {
    const [problem] = refused({ unit: 'example', epsilon: 3, noiseMultiplier: 0.1 })
    expect(problem?.path).toBe('privacy.noiseMultiplier')
    expect(problem?.expected).toMatch(
      /one round of 2 DP-SGD steps at q = 1 spends ε = \d+\.\d at δ = 0\.00001/,
    )
    expect(problem?.found).toBe('number 0.1')
  })
})

describe('privacySettingsFor, unit "participant"', () => {
  it('derives z for the fewest survivors at the ring’s own scale, which then fits the ring', () => {
    const run = served({ unit: 'participant', epsilon: 8 })
    const { settings, fixedPoint, budget } = run
    expect(settings).toMatchObject({ unit: 'participant', epsilon: 8, rounds: 20, minParticipants: 3 })
    // the ring's plan at the derived z is the fixed point the participants round to
    const plan = ringScale({
      participants: 5,
      minParticipants: 3,
      clip: 1,
      noiseMultiplier: settings.noiseMultiplier,
      dimension: 2562,
    })
    expect(fixedPoint).toEqual({ clipNorm: 1, scale: plan.scale, maxExamples: 1 })
    expect(Number.isInteger(Math.log2(plan.scale))).toBe(true)
    expect(
      ringOverflowProbability({
        participants: 5,
        clip: 1,
        scale: plan.scale,
        sigmaSquared: plan.sigmaSquared,
        dimension: 2562,
      }),
    ).toBeLessThanOrEqual(RING_WRAP_BOUND)
    // every round at the worst case stays within ε; more survivors carry more noise and cost less
    expect(budget.worstSurvivors).toBe(3)
    expect(budget.epsilonAfter(new Array<number>(20).fill(3))).toBeLessThanOrEqual(8)
    expect(budget.epsilonAfter(new Array<number>(20).fill(3))).toBeGreaterThan(7.99)
    expect(budget.epsilonAfter([5])).toBeLessThan(budget.epsilonAfter([3]))
  })

  it('refuses noise and clip no scale fits into the 32-bit ring, with the participants and coordinates', () => {
    const problems = refused(
      { unit: 'participant', epsilon: 8, delta: 1e-6, noiseMultiplier: 2 },
      {
        participation: { minParticipants: 2, participantsPerRound: 100_000 },
        aggregation: { maxExamples: 1, neighbours: 255, threshold: 200 },
      },
      2e9,
    )
    expect(problems).toEqual([
      {
        path: 'privacy.noiseMultiplier',
        expected: `noise and a clip norm whose sum over participantsPerRound = 100000 participants' 2000000000 coordinates fits the 32-bit ring with wrap probability ≤ ${RING_WRAP_BOUND}`,
        found: expect.stringMatching(
          /^clipNorm 1, noise multiplier 2: ringScale: no scale from 2\^40 down to 2\^-40/,
        ),
      },
    ])
  })

  it('refuses a target ε the rounds cannot meet over the fewest survivors', () => {
    const [problem] = refused({ unit: 'participant', epsilon: 0.01 }, { training: { rounds: 10_000 } })
    expect(problem?.path).toBe('privacy.epsilon')
    expect(problem?.expected).toMatch(/^an ε that 10000 rounds .* noise multiplier up to 1000/)
  })
})

describe('privacyAtSubmit: what a submitted task is refused for before its backbone is loaded', () => {
  it('unit "example": everything its run start would refuse, with the same problems', () => {
    const impossible = task({ unit: 'example', epsilon: 0.01 }, { training: { rounds: 10_000 } })
    expect(privacyAtSubmit(impossible)).toEqual(privacySettingsFor(impossible, 2562))
    expect(privacyAtSubmit(task({ unit: 'example', epsilon: 3 }))).toMatchObject({ ok: true })
  })

  it('unit "participant": a target ε the rounds cannot meet, with the problem its run start gives', () => {
    const impossible = task({ unit: 'participant', epsilon: 0.01 }, { training: { rounds: 10_000 } })
    const found = privacyAtSubmit(impossible)
    expect(found).toEqual({
      ok: false,
      problems: refused({ unit: 'participant', epsilon: 0.01 }, { training: { rounds: 10_000 } }),
    })
  })

  it('unit "participant": a file\'s z with which one round of even the continuous Gaussian spends more than ε', () => {
    const found = privacyAtSubmit(task({ unit: 'participant', epsilon: 1, noiseMultiplier: 0.5 }))
    if (found.ok) throw new Error('expected the task to be refused')
    expect(found.problems).toEqual([
      {
        path: 'privacy.noiseMultiplier',
        expected: expect.stringMatching(
          /^a noise multiplier with which at least one round fits ε = 1 \(one round at z = 0\.5 spends at least ε = \d+\.\d+ at δ = 0\.00001, the continuous Gaussian's, whatever the head\)/,
        ),
        found: 'number 0.5',
      },
    ])
    // and its run would refuse it too, at every head size
    for (const params of [4, 2562, 1_000_000])
      expect(refused({ unit: 'participant', epsilon: 1, noiseMultiplier: 0.5 }, {}, params)[0]?.path).toBe(
        'privacy.noiseMultiplier',
      )
  })

  it('never refuses a participant task its run would serve: every refusal at submit is one at start, whatever the head', () => {
    let refusedAtSubmit = 0
    for (const epsilon of [0.05, 0.3, 1, 3, 8])
      for (const rounds of [1, 20, 500, 5000])
        for (const noiseMultiplier of [null, 0.3, 1, 3, 10]) {
          const privacy = {
            unit: 'participant',
            epsilon,
            ...(noiseMultiplier === null ? {} : { noiseMultiplier }),
          }
          const t = task(privacy, { training: { rounds } })
          if (privacyAtSubmit(t).ok) continue
          refusedAtSubmit++
          for (const params of [4, 2562, 100_000]) expect(privacySettingsFor(t, params).ok).toBe(false)
        }
    // the sweep reaches both outcomes
    expect(refusedAtSubmit).toBeGreaterThan(10)
    expect(refusedAtSubmit).toBeLessThan(100)
  })
})
