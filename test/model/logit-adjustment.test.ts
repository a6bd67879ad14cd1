import {
  accuracy,
  type Dataset,
  initHead,
  logitAdjustment,
  predictHead,
  seededRandom,
  trainHead,
} from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import type { HeadSpec, TrainingSettings } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { adamSettings } from './head-specs.ts'

beforeAll(async () => {
  await initBackend()
})

const head: HeadSpec = {
  layers: [{ type: 'dense', units: 8, activation: 'relu' }],
  labels: ['normal', 'pneumonia'],
}
const settings: TrainingSettings = { ...adamSettings, epochs: 20, seed: 1 }

/** Two overlapping Gaussian classes in 4 dimensions, class c centred at ±1 on every coordinate. */
function twoClasses(counts: readonly [number, number], seed: number): Dataset {
  const random = seededRandom(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  const labels = counts.flatMap((k, c) => Array(k).fill(c) as number[])
  const x = new Float32Array(labels.length * 4)
  labels.forEach((c, i) => {
    for (let j = 0; j < 4; j++) x[i * 4 + j] = gauss() + (c === 1 ? 1 : -1)
  })
  return { x, y: Int32Array.from(labels), n: labels.length, dim: 4 }
}

/** Fraction of class-c examples predicted as c. */
function recall(weights: Float32Array, data: Dataset, c: number): number {
  const probs = predictHead(head, 4, weights, data.x, data.n)
  let hit = 0
  let total = 0
  for (let i = 0; i < data.n; i++) {
    if (data.y[i] !== c) continue
    total++
    if ((probs[i * 2 + c] as number) > (probs[i * 2 + 1 - c] as number)) hit++
  }
  return hit / total
}

describe('logitAdjustment', () => {
  it('is τ·log of each class share, and log 0 (far below any logit, finite) for an absent class', () => {
    const offsets = logitAdjustment(Int32Array.from([0, 1, 1, 1]), 3)
    expect(offsets[0]).toBeCloseTo(Math.log(0.25), 6)
    expect(offsets[1]).toBeCloseTo(Math.log(0.75), 6)
    expect(offsets[2]).toBeLessThan(-1e6)
    expect(Number.isFinite(offsets[2])).toBe(true)
    expect(logitAdjustment(Int32Array.from([0, 1]), 2, 2)[0]).toBeCloseTo(2 * Math.log(0.5), 6)
  })
})

describe('trainHead with the logit-adjusted loss', () => {
  const balanced = twoClasses([300, 300], 1)
  const test = twoClasses([500, 500], 2)
  const shared = trainHead(head, 4, initHead(head, 4, 0), balanced, settings).weights

  it('leaves the global head as it is at a single-class site, where cross-entropy drags the boundary to that class', () => {
    const onlyPneumonia = twoClasses([0, 200], 3)
    const before = tf.memory().numTensors
    const adjusted = trainHead(head, 4, shared, onlyPneumonia, { ...settings, loss: 'logit-adjusted' })
    expect(tf.memory().numTensors).toBe(before)
    // Softmax over the one class present is 1: zero loss, zero gradient, Δ = 0.
    expect(adjusted.loss).toBe(0)
    expect(adjusted.weights).toEqual(shared)
    const dragged = trainHead(head, 4, shared, onlyPneumonia, {
      ...settings,
      classWeights: 'balanced',
    }).weights
    expect(recall(shared, test, 0)).toBeGreaterThan(0.9)
    expect(recall(dragged, test, 0)).toBeLessThan(recall(shared, test, 0) - 0.05)
  })

  it('learns the balanced boundary from a skewed site, as the other sites do, where cross-entropy learns its majority', () => {
    const skewed = twoClasses([20, 380], 4)
    const quick = { ...settings, epochs: 10 }
    const plain = trainHead(head, 4, shared, skewed, quick).weights
    const adjusted = trainHead(head, 4, shared, skewed, { ...quick, loss: 'logit-adjusted' }).weights
    // Both classes are recalled about equally well: the site's 95 % prior is taken out of the logits.
    expect(Math.abs(recall(adjusted, test, 0) - recall(adjusted, test, 1))).toBeLessThan(0.1)
    expect(recall(plain, test, 0)).toBeLessThan(recall(adjusted, test, 0) - 0.05)
    expect(accuracy(predictHead(head, 4, adjusted, test.x, test.n), test.y, 2)).toBeGreaterThan(0.88)
  })
})
