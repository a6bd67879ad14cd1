import {
  clippedGradientSum,
  type Dataset,
  headGradients,
  headParams,
  initHead,
  logitOffsets,
  seededRandom,
  subset,
} from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import type { HeadSpec } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { blobs, norm } from './dp-fixtures.ts'
import { threeClassMlp as hidden, threeClassLogistic as logistic } from './head-specs.ts'

beforeAll(async () => {
  await initBackend()
})

const dim = 4
const data = blobs(9, dim, 5)
const offset = logitOffsets([0.6, 0.3, 0.1], 3)

/** Weights a little away from the initialisation, so biases and hidden units are not all alike. */
function weightsFor(spec: HeadSpec): Float32Array {
  const start = initHead(spec, dim, 9)
  const random = seededRandom(21)
  return Float32Array.from(start, (w) => w + 0.3 * (random() - 0.5))
}

function tensors(d: Dataset, withOffset: boolean) {
  return {
    x: tf.tensor2d(d.x, [d.n, d.dim]),
    oneHot: tf.oneHot(tf.tensor1d(d.y, 'int32'), 3).toFloat() as tf.Tensor2D,
    ...(withOffset ? { logitOffset: tf.tensor1d(offset) } : {}),
  }
}

/**
 * Each example's own gradient, the brute-force way: the example alone through headGradients with
 * weight 1. With `dropoutSeed`, one generator is drawn from example after example: for a head with one
 * dropout layer that is the order the batched pass draws its row-major mask in, so the masks agree.
 */
function perExample(
  spec: HeadSpec,
  weights: Float32Array,
  withOffset: boolean,
  dropoutSeed: number | null,
): Float32Array[][] {
  const random = dropoutSeed === null ? null : seededRandom(dropoutSeed)
  return tf.tidy(() => {
    const params = headParams(spec, dim, weights)
    return Array.from({ length: data.n }, (_, i) => {
      const one = { ...tensors(subset(data, [i]), withOffset), weight: tf.ones([1]) as tf.Tensor1D }
      return headGradients(spec, params, one, random).grads.map((g) => g.dataSync() as Float32Array)
    })
  })
}

function clipped(
  spec: HeadSpec,
  weights: Float32Array,
  d: Dataset,
  clipNorm: number,
  withOffset: boolean,
  dropoutSeed: number | null,
) {
  return tf.tidy(() => {
    const random = dropoutSeed === null ? null : seededRandom(dropoutSeed)
    const sum = clippedGradientSum(
      spec,
      headParams(spec, dim, weights),
      tensors(d, withOffset),
      clipNorm,
      random,
    )
    return {
      loss: sum.loss.dataSync()[0] as number,
      grads: sum.grads.map((g) => g.dataSync() as Float32Array),
      norms: [...sum.norms.dataSync()],
    }
  })
}

const cases = [
  { name: 'a head with hidden layers and dropout', spec: hidden, withOffset: false, dropoutSeed: 11 },
  { name: 'a head with hidden layers and a logit offset', spec: hidden, withOffset: true, dropoutSeed: null },
  { name: 'logistic regression', spec: logistic, withOffset: false, dropoutSeed: null },
  { name: 'logistic regression with a logit offset', spec: logistic, withOffset: true, dropoutSeed: null },
]

describe('clippedGradientSum', () => {
  for (const { name, spec, withOffset, dropoutSeed } of cases) {
    it(`finds each example's gradient norm without computing its gradient: ${name}`, () => {
      const weights = weightsFor(spec)
      const brute = perExample(spec, weights, withOffset, dropoutSeed).map(norm)
      const ghost = clipped(spec, weights, data, 1e6, withOffset, dropoutSeed).norms
      expect(ghost.length).toBe(data.n)
      for (let i = 0; i < data.n; i++) expect(ghost[i]).toBeCloseTo(brute[i] as number, 5)
      expect(new Set(brute.map((v) => v.toFixed(4))).size).toBe(data.n)
    })

    it(`sums the per-example gradients each clipped to C: ${name}`, () => {
      const weights = weightsFor(spec)
      const each = perExample(spec, weights, withOffset, dropoutSeed)
      const norms = each.map(norm).sort((a, b) => a - b)
      // C at the median: some examples are clipped and some are not.
      const clipNorm = norms[Math.floor(data.n / 2)] as number
      expect(norms[0]).toBeLessThan(clipNorm)
      expect(norms[data.n - 1]).toBeGreaterThan(clipNorm)
      const expected = each[0]?.map((g) => new Float64Array(g.length)) as Float64Array[]
      for (const grads of each) {
        const c = Math.min(1, clipNorm / norm(grads))
        grads.forEach((g, p) => {
          const sum = expected[p] as Float64Array
          for (let j = 0; j < g.length; j++) sum[j] = (sum[j] as number) + c * (g[j] as number)
        })
      }
      const ours = clipped(spec, weights, data, clipNorm, withOffset, dropoutSeed).grads
      expect(ours.map((g) => g.length)).toEqual(expected.map((g) => g.length))
      ours.forEach((g, p) => {
        for (let j = 0; j < g.length; j++)
          expect(g[j]).toBeCloseTo((expected[p] as Float64Array)[j] as number, 5)
      })
    })
  }

  it('removing one example changes the clipped sum by exactly its clipped gradient, of norm at most C', () => {
    const weights = weightsFor(hidden)
    const clipNorm = 0.5
    const each = perExample(hidden, weights, false, null)
    const whole = clipped(hidden, weights, data, clipNorm, false, null).grads
    for (let k = 0; k < data.n; k++) {
      const rest = Array.from({ length: data.n }, (_, i) => i).filter((i) => i !== k)
      const without = clipped(hidden, weights, subset(data, rest), clipNorm, false, null).grads
      const change = whole.map((g, p) =>
        Float32Array.from(g, (v, j) => v - ((without[p] as Float32Array)[j] as number)),
      )
      const own = each[k] as Float32Array[]
      const c = Math.min(1, clipNorm / norm(own))
      change.forEach((g, p) => {
        for (let j = 0; j < g.length; j++)
          expect(g[j]).toBeCloseTo(c * ((own[p] as Float32Array)[j] as number), 5)
      })
      expect(norm(change)).toBeLessThanOrEqual(clipNorm * (1 + 1e-5))
    }
  })

  it('returns the summed unweighted per-example loss and leaks no tensor', () => {
    const weights = weightsFor(hidden)
    const before = tf.memory().numTensors
    const { loss } = clipped(hidden, weights, data, 1, true, null)
    expect(tf.memory().numTensors).toBe(before)
    const mean = tf.tidy(() => {
      const batch = { ...tensors(data, true), weight: tf.fill([data.n], 1 / data.n) as tf.Tensor1D }
      return headGradients(hidden, headParams(hidden, dim, weights), batch, null).loss.dataSync()[0] as number
    })
    expect(loss).toBeCloseTo(mean * data.n, 4)
  })

  it('refuses a clip norm that is not positive and finite', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => clipped(logistic, weightsFor(logistic), data, bad, false, null)).toThrow(
        `clippedGradientSum: expected a positive, finite clip norm, got ${bad}`,
      )
  })
})
