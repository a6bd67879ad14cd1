import {
  centreDataset,
  type Dataset,
  foldCentre,
  initHead,
  meanEmbedding,
  predictHead,
  trainHeadPrivately,
} from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import { beforeAll, describe, expect, it } from 'vitest'
import { blobs, seededSource } from './dp-fixtures.ts'
import {
  threeClassLogistic as logistic,
  threeClassMlp as mlp,
  adamSettings as settings,
} from './head-specs.ts'

beforeAll(async () => {
  await initBackend()
})

const DIM = 6
/** A large shared offset, as backbone embeddings have (MobileNet's ‖μ‖ ≈ 21 of ‖x‖ ≈ 23). */
const SHIFT = Float32Array.from({ length: DIM }, (_, j) => 8 + j)

/** `data` with `shift` added to every embedding. */
function shifted(data: Dataset, shift: Float32Array): Dataset {
  return { ...data, x: data.x.map((v, k) => v + (shift[k % data.dim] as number)) }
}

describe('meanEmbedding and centreDataset', () => {
  it('the mean per dimension, subtracted from every embedding into a new set; null leaves the set as it is', () => {
    const data: Dataset = {
      x: Float32Array.from([1, 10, 3, 20, 5, 60]),
      y: Int32Array.from([0, 1, 0]),
      n: 3,
      dim: 2,
    }
    const mean = meanEmbedding(data)
    expect([...mean]).toEqual([3, 30])
    const centred = centreDataset(data, mean)
    expect([...centred.x]).toEqual([-2, -20, 0, -10, 2, 30])
    expect(centred.y).toBe(data.y)
    expect([...data.x]).toEqual([1, 10, 3, 20, 5, 60])
    expect([...meanEmbedding(centred)]).toEqual([0, 0])
    expect(centreDataset(data, null)).toBe(data)
  })

  it('refuses a centre of another length and an empty set, saying what it expected', () => {
    const data = blobs(4, DIM, 1)
    expect(() => centreDataset(data, [1, 2])).toThrow(
      "input centre: expected 6 values (the embedding's dimension), got 2",
    )
    expect(() => meanEmbedding({ ...data, n: 0, x: new Float32Array(0), y: new Int32Array(0) })).toThrow(
      'input centre: expected a set with at least one embedding, got none',
    )
  })
})

describe('a head trained on centred inputs', () => {
  it('by DP-SGD on shifted data centred on its own mean, is the head trained on the unshifted data centred alike', () => {
    const data = blobs(200, DIM, 1)
    const moved = shifted(data, SHIFT)
    // what every party does: μ from the (here, the same) set, subtracted right after embedding
    const ours = centreDataset(moved, meanEmbedding(moved))
    const reference = centreDataset(data, meanEmbedding(data))
    const dp = { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.2 }
    for (const spec of [logistic, mlp]) {
      const start = initHead(spec, DIM, 4)
      const a = trainHeadPrivately(spec, DIM, start, ours, settings, dp, seededSource(9))
      const b = trainHeadPrivately(spec, DIM, start, reference, settings, dp, seededSource(9))
      expect(a.steps).toBe(b.steps)
      for (const [i, w] of a.weights.entries()) expect(w).toBeCloseTo(b.weights[i] as number, 4)
    }
  })

  it('clips far less: the per-example norms that C must cover shrink with the shared offset removed', () => {
    const moved = shifted(blobs(200, DIM, 1), SHIFT)
    const norms = (d: Dataset) =>
      Array.from({ length: d.n }, (_, i) => Math.hypot(...d.x.subarray(i * d.dim, (i + 1) * d.dim))).reduce(
        (s, v) => s + v,
        0,
      ) / d.n
    expect(norms(centreDataset(moved, meanEmbedding(moved)))).toBeLessThan(norms(moved) / 5)
  })
})

describe('foldCentre', () => {
  it('gives on raw embeddings what the head gives on centred ones: b − Wᵀμ in the first dense layer (MLP with dropout, and logistic)', () => {
    const raw = shifted(blobs(40, DIM, 2), SHIFT)
    const centre = meanEmbedding(raw)
    const centred = centreDataset(raw, centre)
    for (const spec of [mlp, logistic]) {
      const weights = initHead(spec, DIM, 5).map((w, i) => w + 0.01 * ((i % 7) - 3))
      const folded = foldCentre(spec, DIM, weights, centre)
      const want = predictHead(spec, DIM, weights, centred.x, centred.n)
      const got = predictHead(spec, DIM, folded, raw.x, raw.n)
      for (const [i, p] of got.entries()) expect(p).toBeCloseTo(want[i] as number, 5)
      // only the first layer's bias moved
      const firstBias = DIM * (spec.layers.length > 0 ? 8 : 3)
      const changed = [...folded.keys()].filter((i) => folded[i] !== weights[i])
      expect(changed.every((i) => i >= firstBias && i < firstBias + (spec.layers.length > 0 ? 8 : 3))).toBe(
        true,
      )
      expect(changed.length).toBeGreaterThan(0)
    }
  })

  it('refuses a centre of another length', () => {
    expect(() => foldCentre(logistic, DIM, initHead(logistic, DIM, 0), [1])).toThrow(
      "input centre: expected 6 values (the embedding's dimension), got 1",
    )
  })
})
