import {
  accuracy,
  type Dataset,
  dropoutMask,
  headGradients,
  headParams,
  initHead,
  predictHead,
  seededRandom,
  trainHead,
} from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import { type HeadSpec, paramCount, type TrainingSettings } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { adamSettings, threeClassMlp as mlp } from './head-specs.ts'

beforeAll(async () => {
  await initBackend()
})

const settings: TrainingSettings = { ...adamSettings, epochs: 30 }

/** Three Gaussian blobs in `dim` dimensions, class c centred at +2 on coordinate c. */
function blobs(n: number, dim: number, seed: number, counts?: number[]): Dataset {
  const random = seededRandom(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  const labels = counts
    ? counts.flatMap((k, c) => Array(k).fill(c) as number[])
    : Array.from({ length: n }, (_, i) => i % 3)
  const x = new Float32Array(labels.length * dim)
  labels.forEach((c, i) => {
    for (let j = 0; j < dim; j++) x[i * dim + j] = 0.5 * gauss() + (j === c ? 2 : 0)
  })
  return { x, y: Int32Array.from(labels), n: labels.length, dim }
}

describe('initHead', () => {
  it('is deterministic for a seed, differs between seeds and has paramCount values', () => {
    const a = initHead(mlp, 10, 42)
    expect(a.length).toBe(paramCount(mlp, 10))
    expect(initHead(mlp, 10, 42)).toEqual(a)
    expect(initHead(mlp, 10, 43)).not.toEqual(a)
  })

  it('draws kernels within the Glorot-uniform limit and sets biases to zero', () => {
    const w = initHead(mlp, 10, 1)
    const limit = Math.sqrt(6 / (10 + 8))
    const kernel = w.subarray(0, 80)
    expect(kernel.every((v) => Math.abs(v) <= limit)).toBe(true)
    expect(kernel.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(limit * 0.8)
    expect(w.subarray(80, 88).every((v) => v === 0)).toBe(true)
  })

  it('reproduces known values, so every platform starts from the same head', () => {
    const w = initHead({ layers: [], labels: ['a', 'b'] }, 2, 7)
    // mulberry32(7) scaled to ±√(6/4), computed independently (Python, float32-rounded): kernel then zero bias.
    expect([...w].map((v) => Number(v.toFixed(6)))).toEqual([-1.196074, -1.072979, 1.16818, 0.487519, 0, 0])
  })
})

describe('headGradients', () => {
  /** The same loss written with autodiff-able tf ops, as the reference for the hand-written backward pass. */
  function referenceLoss(
    spec: HeadSpec,
    params: tf.Tensor[],
    x: tf.Tensor2D,
    oneHot: tf.Tensor2D,
    w: tf.Tensor1D,
    masks: tf.Tensor2D[],
  ) {
    let h: tf.Tensor2D = x
    let p = 0
    let m = 0
    for (const layer of spec.layers) {
      if (layer.type === 'dropout') {
        h = tf.mul(h, masks[m++] as tf.Tensor2D)
        continue
      }
      const z = tf.add(tf.matMul(h, params[p] as tf.Tensor2D), params[p + 1] as tf.Tensor) as tf.Tensor2D
      h = layer.activation === 'relu' ? tf.relu(z) : z
      p += 2
    }
    const logits = tf.add(tf.matMul(h, params[p] as tf.Tensor2D), params[p + 1] as tf.Tensor)
    return tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(tf.logSoftmax(logits), oneHot), 1), w))) as tf.Scalar
  }

  it('matches autodiff of the same loss, with dropout and class weights', () => {
    const n = 6
    const dim = 4
    const data = blobs(n, dim, 5)
    const weights = initHead(mlp, dim, 9)
    const before = tf.memory().numTensors
    const { ours, reference } = tf.tidy(() => {
      const params = headParams(mlp, dim, weights).map((t) =>
        tf.add(t, tf.randomUniform(t.shape, -0.1, 0.1, 'float32', 1)),
      )
      const x = tf.tensor2d(data.x, [n, dim])
      const oneHot = tf.oneHot(tf.tensor1d(data.y, 'int32'), 3).toFloat() as tf.Tensor2D
      const w = tf.tensor1d([0.5, 1, 2, 0.5, 1, 2].map((v) => v / n))
      const { loss, grads } = headGradients(mlp, params, { x, oneHot, weight: w }, seededRandom(11))
      const mask = tf.tensor2d(dropoutMask(n, 8, 0.25, seededRandom(11)), [n, 8])
      const auto = tf.grads((...ps: tf.Tensor[]) => referenceLoss(mlp, ps, x, oneHot, w, [mask]))(params)
      const refLoss = referenceLoss(mlp, params, x, oneHot, w, [mask])
      return {
        ours: [loss.dataSync()[0] as number, ...grads.map((g) => [...g.dataSync()])] as const,
        reference: [refLoss.dataSync()[0] as number, ...auto.map((g) => [...g.dataSync()])] as const,
      }
    })
    expect(tf.memory().numTensors).toBe(before)
    expect(ours[0]).toBeCloseTo(reference[0], 5)
    for (let i = 1; i < ours.length; i++) {
      const a = ours[i] as number[]
      const b = reference[i] as number[]
      expect(a.length).toBe(b.length)
      for (let j = 0; j < a.length; j++) expect(a[j]).toBeCloseTo(b[j] as number, 5)
    }
  })

  it('agrees with a central finite difference on a logistic-regression head', () => {
    const spec: HeadSpec = { layers: [], labels: ['a', 'b', 'c'] }
    const data = blobs(5, 3, 2)
    const weights = initHead(spec, 3, 4)
    const lossAt = (w: Float32Array) =>
      tf.tidy(() => {
        const { loss } = headGradients(spec, headParams(spec, 3, w), batchOf(data), null)
        return loss.dataSync()[0] as number
      })
    const analytic = tf.tidy(() =>
      headGradients(spec, headParams(spec, 3, weights), batchOf(data), null).grads.flatMap((g) => [
        ...g.dataSync(),
      ]),
    )
    const h = 1e-2
    for (let i = 0; i < weights.length; i++) {
      const plus = Float32Array.from(weights)
      const minus = Float32Array.from(weights)
      plus[i] = (plus[i] as number) + h
      minus[i] = (minus[i] as number) - h
      expect(analytic[i]).toBeCloseTo((lossAt(plus) - lossAt(minus)) / (2 * h), 3)
    }
  })
})

function batchOf(data: Dataset) {
  return {
    x: tf.tensor2d(data.x, [data.n, data.dim]),
    oneHot: tf.oneHot(tf.tensor1d(data.y, 'int32'), 3).toFloat() as tf.Tensor2D,
    weight: tf.fill([data.n], 1 / data.n) as tf.Tensor1D,
  }
}

describe('trainHead', () => {
  const train = blobs(300, 6, 1)
  const test = blobs(150, 6, 2)

  it('reduces the loss and separates separable classes, leaking no tensors', () => {
    const start = initHead(mlp, 6, 0)
    const before = tf.memory().numTensors
    const progress: number[] = []
    const once = trainHead(mlp, 6, start, train, { ...settings, epochs: 1 })
    const trained = trainHead(mlp, 6, start, train, settings, (p) => progress.push(p.loss))
    const probs = predictHead(mlp, 6, trained.weights, test.x, test.n)
    expect(tf.memory().numTensors).toBe(before)
    expect(trained.loss).toBeLessThan(once.loss / 2)
    expect(progress.length).toBe(30 * Math.ceil(300 / 16))
    expect(accuracy(probs, test.y, 3)).toBeGreaterThan(0.95)
    expect(trained.weights.length).toBe(start.length)
    expect(start).toEqual(initHead(mlp, 6, 0))
  })

  it('also learns with plain SGD', () => {
    const start = initHead(mlp, 6, 0)
    const trained = trainHead(mlp, 6, start, train, {
      ...settings,
      optimizer: 'sgd',
      learningRate: 0.1,
      epochs: 20,
    })
    expect(accuracy(predictHead(mlp, 6, trained.weights, test.x, test.n), test.y, 3)).toBeGreaterThan(0.9)
  })

  it("hands over each epoch's weights, and 'stop' ends training after that epoch", () => {
    const start = initHead(mlp, 6, 0)
    const quick = { ...settings, epochs: 3 }
    const seen: [number, Float32Array][] = []
    const full = trainHead(mlp, 6, start, train, quick, undefined, (epoch, weights) => {
      seen.push([epoch, weights])
      return undefined
    })
    expect(seen.map(([epoch]) => epoch)).toEqual([1, 2, 3])
    expect(seen[2]?.[1]).toEqual(full.weights)
    const before = tf.memory().numTensors
    const stopped = trainHead(mlp, 6, start, train, quick, undefined, (epoch) =>
      epoch === 2 ? 'stop' : undefined,
    )
    expect(tf.memory().numTensors).toBe(before)
    expect(stopped.weights).toEqual(seen[1]?.[1])
    expect(stopped.weights).toEqual(trainHead(mlp, 6, start, train, { ...quick, epochs: 2 }).weights)
  })

  it('is reproducible from the seed and changes with it', () => {
    const start = initHead(mlp, 6, 0)
    const quick = { ...settings, epochs: 2 }
    const a = trainHead(mlp, 6, start, train, quick)
    expect(trainHead(mlp, 6, start, train, quick).weights).toEqual(a.weights)
    expect(trainHead(mlp, 6, start, train, { ...quick, seed: 4 }).weights).not.toEqual(a.weights)
  })

  it('with balanced class weights recalls a rare class better than without', () => {
    const skewed = blobs(0, 6, 7, [200, 200, 12])
    const hard = { ...settings, epochs: 3, learningRate: 0.003 }
    const start = initHead(mlp, 6, 0)
    const recallOfRare = (w: Float32Array) => {
      const probs = predictHead(mlp, 6, w, test.x, test.n)
      let hit = 0
      let total = 0
      for (let i = 0; i < test.n; i++) {
        if (test.y[i] !== 2) continue
        total++
        if ((probs[i * 3 + 2] as number) > Math.max(probs[i * 3] as number, probs[i * 3 + 1] as number)) hit++
      }
      return hit / total
    }
    const plain = recallOfRare(trainHead(mlp, 6, start, skewed, hard).weights)
    const balanced = recallOfRare(
      trainHead(mlp, 6, start, skewed, { ...hard, classWeights: 'balanced' }).weights,
    )
    expect(balanced).toBeGreaterThan(plain)
  })

  it('refuses labels outside the head and weights of the wrong length', () => {
    const bad = { ...train, y: Int32Array.from(train.y, (y, i) => (i === 5 ? 3 : y)) }
    expect(() => trainHead(mlp, 6, initHead(mlp, 6, 0), bad, settings)).toThrow(
      /label 5 is 3, expected a class index from 0 to 2/,
    )
    expect(() => trainHead(mlp, 6, new Float32Array(3), train, settings)).toThrow(/expected \d+ weights/)
  })
})

describe('predictHead', () => {
  it('returns rows of probabilities that sum to one, without dropout, leaking nothing', () => {
    const data = blobs(2000, 6, 3)
    const w = initHead(mlp, 6, 5)
    const before = tf.memory().numTensors
    const a = predictHead(mlp, 6, w, data.x, data.n)
    expect(tf.memory().numTensors).toBe(before)
    expect(predictHead(mlp, 6, w, data.x, data.n)).toEqual(a)
    for (let i = 0; i < data.n; i += 111)
      expect((a[i * 3] as number) + (a[i * 3 + 1] as number) + (a[i * 3 + 2] as number)).toBeCloseTo(1, 5)
  })
})
