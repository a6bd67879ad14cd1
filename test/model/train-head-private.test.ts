import {
  accuracy,
  clippedGradientSum,
  type Dataset,
  type DpSgdSettings,
  dpSgdSteps,
  headParams,
  initHead,
  poissonSample,
  predictHead,
  subset,
  trainHead,
  trainHeadPrivately,
} from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import type { HeadSpec, TrainingSettings } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { blobs, norm, seededSource } from './dp-fixtures.ts'
import {
  threeClassLogistic as logistic,
  threeClassMlp as mlp,
  adamSettings as settings,
} from './head-specs.ts'

beforeAll(async () => {
  await initBackend()
})

/** One plain gradient step of size 1: the weights move by exactly −(the noisy gradient). */
const oneStep: TrainingSettings = { ...settings, optimizer: 'sgd', learningRate: 1 }
const train = blobs(300, 6, 1)
const test = blobs(150, 6, 2)

function diff(a: Float32Array, b: Float32Array): Float64Array {
  return Float64Array.from(a, (v, i) => v - (b[i] as number))
}

/** The clipped gradient sum at `weights`, flattened (no dropout: these heads have none). */
function clippedSumAt(spec: HeadSpec, weights: Float32Array, data: Dataset, clipNorm: number): Float64Array {
  const grads = tf.tidy(() => {
    const batch = {
      x: tf.tensor2d(data.x, [data.n, data.dim]),
      oneHot: tf.oneHot(tf.tensor1d(data.y, 'int32'), 3).toFloat() as tf.Tensor2D,
    }
    const sum = clippedGradientSum(spec, headParams(spec, data.dim, weights), batch, clipNorm, null)
    return sum.grads.map((g) => g.dataSync() as Float32Array)
  })
  return Float64Array.from(grads.flatMap((g) => [...g]))
}

describe('trainHeadPrivately', () => {
  it('refuses DP settings under which the guarantee would not hold, naming the value', () => {
    const start = initHead(logistic, 6, 0)
    const run = (dp: DpSgdSettings) => () =>
      trainHeadPrivately(logistic, 6, start, train, settings, dp, seededSource(1))
    const good = { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.1 }
    for (const clipNorm of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(run({ ...good, clipNorm })).toThrow(
        `DP-SGD: expected a positive, finite clipNorm C, got ${clipNorm}`,
      )
    for (const noiseMultiplier of [-0.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(run({ ...good, noiseMultiplier })).toThrow(
        `DP-SGD: expected a finite noiseMultiplier z ≥ 0, got ${noiseMultiplier}`,
      )
    for (const samplingRate of [0, -0.1, 1.5, Number.NaN])
      expect(run({ ...good, samplingRate })).toThrow(
        `DP-SGD: expected a samplingRate q in (0, 1], got ${samplingRate}`,
      )
    expect(run({ ...good, noiseMultiplier: 0, samplingRate: 1 })).not.toThrow()
  })

  it("refuses losses that depend on the whole dataset's label counts: balanced class weights, its own prior", () => {
    const start = initHead(logistic, 6, 0)
    const dp = { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.1 }
    expect(() =>
      trainHeadPrivately(
        logistic,
        6,
        start,
        train,
        { ...settings, classWeights: 'balanced' },
        dp,
        seededSource(1),
      ),
    ).toThrow(/class weights "balanced" are computed from this data's label counts/)
    expect(() =>
      trainHeadPrivately(
        logistic,
        6,
        start,
        train,
        { ...settings, loss: 'logit-adjusted' },
        dp,
        seededSource(1),
      ),
    ).toThrow(/own label mix \(prior null\)/)
    expect(() =>
      trainHeadPrivately(
        logistic,
        6,
        start,
        { ...train, n: 0, x: new Float32Array(0), y: new Int32Array(0) },
        settings,
        dp,
        seededSource(1),
      ),
    ).toThrow('trainHeadPrivately: expected at least one training example')
  })

  it('without noise, clipping or subsampling it takes the same steps as full-batch trainHead', () => {
    const hidden: HeadSpec = {
      layers: [{ type: 'dense', units: 5, activation: 'relu' }],
      labels: ['a', 'b', 'c'],
    }
    const exact = { clipNorm: 1e9, noiseMultiplier: 0, samplingRate: 1 }
    const start = initHead(hidden, 6, 0)
    const data = subset(
      train,
      Array.from({ length: 40 }, (_, i) => i),
    )
    for (const loss of [
      { loss: 'cross-entropy', prior: null },
      { loss: 'logit-adjusted', prior: [0.5, 0.3, 0.2] },
    ] as const) {
      const same = { ...settings, ...loss, epochs: 3, batchSize: data.n }
      const ours = trainHeadPrivately(hidden, 6, start, data, same, exact, seededSource(1))
      const theirs = trainHead(hidden, 6, start, data, same)
      expect(ours.steps).toBe(3)
      expect(ours.loss).toBeCloseTo(theirs.loss, 5)
      for (const [i, w] of ours.weights.entries()) expect(w).toBeCloseTo(theirs.weights[i] as number, 5)
    }
  })

  it('takes round(1/q) Poisson steps per epoch, the figure the accountant composes', () => {
    expect([
      dpSgdSteps(3, 0.1),
      dpSgdSteps(1, 0.3),
      dpSgdSteps(2, 0.6),
      dpSgdSteps(5, 1),
      dpSgdSteps(1, 0.004),
    ]).toEqual([30, 3, 4, 5, 250])
    const seen: [number, number][] = []
    const run = trainHeadPrivately(
      logistic,
      6,
      initHead(logistic, 6, 0),
      train,
      { ...settings, epochs: 2 },
      { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.3 },
      seededSource(2),
      (p) => seen.push([p.epoch, p.batch]),
    )
    expect(run.steps).toBe(6)
    expect(seen).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
      [2, 1],
      [2, 2],
      [2, 3],
    ])
  })

  it('samples each example independently with probability q', () => {
    const source = seededSource(7)
    const n = 20_000
    const q = 0.05
    const first = poissonSample(n, q, source)
    const second = poissonSample(n, q, source)
    // Binomial(n, q): within 4.5 standard deviations of n·q.
    const sd = Math.sqrt(n * q * (1 - q))
    for (const rows of [first, second]) expect(Math.abs(rows.length - n * q)).toBeLessThan(4.5 * sd)
    expect(first.every((r, i) => i === 0 || r > (first[i - 1] as number))).toBe(true)
    // Independent draws overlap in about n·q² rows, far from the n·q a repeated batch would share.
    const inFirst = new Set(first)
    const overlap = second.filter((r) => inFirst.has(r)).length
    expect(Math.abs(overlap - n * q * q)).toBeLessThan(4.5 * Math.sqrt(n * q * q))
    expect(poissonSample(5, 1, source)).toEqual(Int32Array.from([0, 1, 2, 3, 4]))

    // The trainer's batches: over 200 steps at q = 0.1 of 300 examples, 6000 expected in all.
    let sampled = 0
    trainHeadPrivately(
      logistic,
      6,
      initHead(logistic, 6, 0),
      train,
      { ...settings, epochs: 20 },
      { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.1 },
      seededSource(8),
      (p) => {
        sampled += p.sampled
      },
    )
    expect(Math.abs(sampled - 6000)).toBeLessThan(4.5 * Math.sqrt(60_000 * 0.1 * 0.9))
  })

  it('with q = 1 and no noise, adding one example moves the summed gradient by its clipped gradient, at most C', () => {
    const clipNorm = 0.3
    const exact = { clipNorm, noiseMultiplier: 0, samplingRate: 1 }
    const data = subset(
      train,
      Array.from({ length: 12 }, (_, i) => i),
    )
    const start = initHead(logistic, 6, 0)
    // With SGD at learning rate 1 one step moves the weights by −(clipped sum)/n.
    const summed = (d: Dataset) =>
      diff(start, trainHeadPrivately(logistic, 6, start, d, oneStep, exact, seededSource(1)).weights).map(
        (v) => v * d.n,
      )
    const whole = summed(data)
    for (const k of [0, 5, 11]) {
      const without = summed(
        subset(
          data,
          [...Array(data.n).keys()].filter((i) => i !== k),
        ),
      )
      const change = whole.map((v, j) => v - (without[j] as number))
      const own = clippedSumAt(logistic, start, subset(data, [k]), clipNorm)
      for (const [j, v] of change.entries()) expect(v).toBeCloseTo(own[j] as number, 4)
      expect(norm([change])).toBeLessThanOrEqual(clipNorm * (1 + 1e-4))
      expect(norm([own])).toBeCloseTo(clipNorm, 5)
    }
  })

  it('adds noise of standard deviation z·C to every coordinate of the clipped sum', () => {
    const dim = 400
    const data = blobs(20, dim, 4)
    const dp = { clipNorm: 0.5, noiseMultiplier: 2, samplingRate: 1 }
    const start = initHead(logistic, dim, 0)
    const moved = diff(
      start,
      trainHeadPrivately(logistic, dim, start, data, oneStep, dp, seededSource(5)).weights,
    )
    const clippedSum = clippedSumAt(logistic, start, data, dp.clipNorm)
    const noise = moved.map((v, j) => v * data.n - (clippedSum[j] as number))
    const count = noise.length
    const mean = noise.reduce((a, b) => a + b, 0) / count
    const sd = Math.sqrt(noise.reduce((a, b) => a + (b - mean) ** 2, 0) / (count - 1))
    const sigma = dp.noiseMultiplier * dp.clipNorm
    expect(count).toBe(1203)
    expect(Math.abs(mean)).toBeLessThan((4 * sigma) / Math.sqrt(count))
    // The sample standard deviation's standard error is about σ/√(2·count), 2% here.
    expect(Math.abs(sd / sigma - 1)).toBeLessThan(0.08)
    const fourth = noise.reduce((a, b) => a + (b - mean) ** 4, 0) / count
    expect(fourth / sd ** 4).toBeCloseTo(3, 0) // a Gaussian's kurtosis
  })

  it('is reproducible from the random source and changes with it', () => {
    const start = initHead(mlp, 6, 0)
    const dp = { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.2 }
    const quick = { ...settings, epochs: 2 }
    const a = trainHeadPrivately(mlp, 6, start, train, quick, dp, seededSource(9))
    expect(trainHeadPrivately(mlp, 6, start, train, quick, dp, seededSource(9))).toEqual(a)
    expect(trainHeadPrivately(mlp, 6, start, train, quick, dp, seededSource(10)).weights).not.toEqual(
      a.weights,
    )
  })

  it('still separates separable classes under moderate noise, leaking no tensor', () => {
    const start = initHead(mlp, 6, 0)
    const dp = { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.1 }
    const before = tf.memory().numTensors
    const trained = trainHeadPrivately(
      mlp,
      6,
      start,
      train,
      { ...settings, epochs: 10, learningRate: 0.02 },
      dp,
      seededSource(11),
    )
    expect(tf.memory().numTensors).toBe(before)
    expect(trained.steps).toBe(100)
    expect(accuracy(predictHead(mlp, 6, trained.weights, test.x, test.n), test.y, 3)).toBeGreaterThan(0.9)
    expect(trained.loss).toBeLessThan(Math.log(3))
    expect(start).toEqual(initHead(mlp, 6, 0))
  })
})
