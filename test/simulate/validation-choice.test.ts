import { initBackend } from '@fedtune/model/node'
import type { HeadSpec } from '@fedtune/protocol'
import { beforeAll, describe, expect, it } from 'vitest'
import type { HeldOut } from '../../cli/src/simulate/held-out.ts'
import { validationChoice } from '../../cli/src/simulate/validation-choice.ts'

beforeAll(async () => {
  await initBackend()
})

/** Logistic regression on one feature: weights [w_normal, w_pneumonia, b_normal, b_pneumonia]. */
const spec: HeadSpec = { layers: [], labels: ['normal', 'pneumonia'] }
const data = (xs: number[], ys: number[]) => ({
  x: Float32Array.from(xs),
  y: Int32Array.from(ys),
  n: xs.length,
  dim: 1,
})
// Class 1 has the larger feature: a head with w = [−1, 1] ranks perfectly, w = [1, −1] worst.
const validation = data([0, 1, 2, 3], [0, 0, 1, 1])
const test = data([0, 3], [0, 1])
const heldOut = (patience: number | null): HeldOut => ({
  validation,
  test,
  metric: 'auc',
  patience,
  prior: 'federation',
  ordinal: false,
})
const good = Float32Array.from([-1, 1, 1.5, -1.5])
const bad = Float32Array.from([1, -1, 0, 0])

describe('the choice on validation', () => {
  it('keeps the best step by the metric, the earlier on a tie, and scores test only for it', () => {
    const choice = validationChoice(spec, 1, heldOut(null))
    expect(choice.offer(1, bad, null)).toEqual({ value: 0, stop: false })
    expect(choice.offer(2, good, [0.5, 0.5]).value).toBe(1)
    expect(choice.offer(3, good, null).value).toBe(1)
    const chosen = choice.choice()
    expect(chosen.chosen).toBe(2)
    expect(chosen.ran).toBe(3)
    expect(chosen.validation?.auc).toBe(1)
    expect(chosen.test?.accuracy).toBe(1)
    // The prior is folded into the weights it reports: log 0.5 added to both biases.
    expect(chosen.weights[2]).toBeCloseTo(1.5 + Math.log(0.5), 6)
    expect(chosen.testUniform?.accuracy).toBe(1)
  })

  it('stops once patience steps pass without a better figure', () => {
    const choice = validationChoice(spec, 1, heldOut(2))
    expect(choice.offer(1, good, null).stop).toBe(false)
    expect(choice.offer(2, bad, null).stop).toBe(false)
    expect(choice.offer(3, bad, null).stop).toBe(true)
    expect(choice.choice().chosen).toBe(1)
  })

  it('without a validation set keeps the last step and never stops', () => {
    const choice = validationChoice(spec, 1, { ...heldOut(1), validation: null })
    for (let step = 1; step <= 4; step++)
      expect(choice.offer(step, step === 1 ? good : bad, null).stop).toBe(false)
    const chosen = choice.choice()
    expect([chosen.chosen, chosen.validation]).toEqual([4, null])
    expect(chosen.test?.accuracy).toBe(0.5)
  })
})
