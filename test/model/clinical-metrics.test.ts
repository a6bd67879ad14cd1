import {
  countEvaluation,
  dominantWarning,
  evaluatePredictions,
  expectedCalibrationError,
  foldPrior,
  labelMix,
  pooledMetrics,
  predictHead,
  rocAuc,
  selectionValue,
} from '@fedtune/model'
import {
  addEvaluationCounts,
  evaluationCountsLength,
  flattenEvaluationCounts,
  ProtocolError,
  paramCount,
  parseEvaluationCounts,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

/** Row-major probabilities from rows of class shares. */
const probs = (rows: number[][]) => Float32Array.from(rows.flat())

describe('clinical metrics from predictions', () => {
  // 3 classes, 6 examples; predictions: arg-max of each row.
  const rows = [
    [0.8, 0.1, 0.1], // true 0, predicted 0
    [0.6, 0.3, 0.1], // true 0, predicted 0
    [0.2, 0.7, 0.1], // true 1, predicted 1
    [0.5, 0.4, 0.1], // true 1, predicted 0
    [0.1, 0.2, 0.7], // true 2, predicted 2
    [0.1, 0.6, 0.3], // true 2, predicted 1
  ]
  const labels = Int32Array.from([0, 0, 1, 1, 2, 2])
  const m = evaluatePredictions(probs(rows), labels, 3, { ordinal: true })

  it('gives the confusion matrix, true class by row', () => {
    expect(m.confusion).toEqual([
      [2, 0, 0],
      [1, 1, 0],
      [0, 1, 1],
    ])
    expect(m.examples).toBe(6)
    expect(m.accuracy).toBeCloseTo(4 / 6, 12)
  })

  it('gives per-class precision, recall, F1 and specificity as scikit-learn defines them', () => {
    const [c0, c1, c2] = m.perClass
    expect(c0).toEqual({ support: 2, predicted: 3, precision: 2 / 3, recall: 1, f1: 0.8, specificity: 3 / 4 })
    expect(c1?.precision).toBeCloseTo(0.5, 12)
    expect(c1?.recall).toBeCloseTo(0.5, 12)
    expect(c1?.f1).toBeCloseTo(0.5, 12)
    expect(c1?.specificity).toBeCloseTo(3 / 4, 12)
    expect(c2).toEqual({ support: 2, predicted: 1, precision: 1, recall: 0.5, f1: 2 / 3, specificity: 1 })
  })

  it('gives balanced accuracy as the mean recall', () => {
    expect(m.balancedAccuracy).toBeCloseTo((1 + 0.5 + 0.5) / 3, 12)
  })

  it('gives the macro one-vs-rest AUC of roc-auc.ts', () => {
    expect(m.auc).toBe(rocAuc(probs(rows), labels, 3))
    expect(m.binned).toBe(false)
  })

  it('gives quadratic weighted kappa and the MAE of the grade for ordinal labels', () => {
    // O = [[2,0,0],[1,1,0],[0,1,1]]; rows 2,2,2; columns 3,2,1; w_ij = (i−j)²/4.
    // Σ w·O = 1/4 + 1/4 = 0.5 (two off-by-one cells); E_ij = r_i·c_j / 6.
    const r = [2, 2, 2]
    const c = [3, 2, 1]
    let expected = 0
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) expected += (((i - j) ** 2 / 4) * (r[i] as number) * (c[j] as number)) / 6
    expect(m.ordinal?.qwk).toBeCloseTo(1 - 0.5 / expected, 12)
    expect(m.ordinal?.mae).toBeCloseTo(2 / 6, 12)
  })

  it('leaves ordinal figures out unless the labels are ordinal', () => {
    expect(evaluatePredictions(probs(rows), labels, 3).ordinal).toBeNull()
  })

  it('gives the expected calibration error over 15 bins of the top probability', () => {
    // Binary, 4 examples, confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.6 (right):
    // bin of 0.9: acc 0.5, conf 0.9 → 2/4 · 0.4; bin of 0.6: acc 1, conf 0.6 → 2/4 · 0.4.
    const p = probs([
      [0.9, 0.1],
      [0.9, 0.1],
      [0.4, 0.6],
      [0.6, 0.4],
    ])
    const y = Int32Array.from([0, 1, 1, 0])
    expect(expectedCalibrationError(p, y, 2)).toBeCloseTo(0.4, 6)
  })

  it('reports binary sensitivity and specificity as class 1 recall and specificity', () => {
    const p = probs([
      [0.9, 0.1],
      [0.3, 0.7],
      [0.2, 0.8],
      [0.6, 0.4],
    ])
    const b = evaluatePredictions(p, Int32Array.from([0, 0, 1, 1]), 2)
    expect(b.perClass[1]?.recall).toBe(0.5)
    expect(b.perClass[1]?.specificity).toBe(0.5)
  })
})

describe('the one-class warning', () => {
  it('flags a head that predicts one class for more than 95 % of the set', () => {
    const rows = Array.from({ length: 400 }, (_, i) => (i === 0 ? [0.2, 0.8] : [0.9, 0.1]))
    const labels = Int32Array.from({ length: 400 }, (_, i) => (i < 175 ? 0 : 1))
    const m = evaluatePredictions(probs(rows), labels, 2)
    expect(m.dominant).toEqual({ label: 0, share: 399 / 400 })
    expect(dominantWarning(m, ['normal', 'pneumonia'], 'round 3, test set')).toBe(
      'round 3, test set: the head predicts "normal" for 399 of 400 images (99.8 %); its accuracy says little',
    )
  })

  it('stays quiet at 95 % or below', () => {
    const rows = Array.from({ length: 20 }, (_, i) => (i === 0 ? [0.2, 0.8] : [0.9, 0.1]))
    const m = evaluatePredictions(probs(rows), new Int32Array(20), 2)
    expect(m.dominant).toBeNull()
    expect(dominantWarning(m, ['a', 'b'], 'x')).toBeNull()
  })
})

describe('pooled counts', () => {
  /** A seeded set of n examples with scores that depend on the label. */
  function sample(n: number, classes: number, seed: number) {
    let s = seed
    const rand = () => {
      s = (s * 1103515245 + 12345) >>> 0
      return s / 2 ** 32
    }
    const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * classes))
    const out = new Float32Array(n * classes)
    for (let i = 0; i < n; i++) {
      let total = 0
      for (let c = 0; c < classes; c++) {
        const v = Math.exp(2 * rand() + (c === labels[i] ? 1.5 : 0))
        out[i * classes + c] = v
        total += v
      }
      for (let c = 0; c < classes; c++) out[i * classes + c] = (out[i * classes + c] as number) / total
    }
    return { probs: out, labels }
  }

  it('sum like the examples they count: two sites pooled give the metrics of both sets together', () => {
    const a = sample(300, 5, 1)
    const b = sample(200, 5, 2)
    const pooled = addEvaluationCounts(
      countEvaluation(a.probs, a.labels, 5),
      countEvaluation(b.probs, b.labels, 5),
    )
    const together = {
      probs: Float32Array.from([...a.probs, ...b.probs]),
      labels: Int32Array.from([...a.labels, ...b.labels]),
    }
    const exact = evaluatePredictions(together.probs, together.labels, 5, { ordinal: true })
    const binned = pooledMetrics(pooled, 5, { ordinal: true })
    expect(binned?.confusion).toEqual(exact.confusion)
    expect(binned?.perClass).toEqual(exact.perClass)
    expect(binned?.ordinal).toEqual(exact.ordinal)
    expect(binned?.binned).toBe(true)
    expect(Math.abs((binned?.auc as number) - (exact.auc as number))).toBeLessThan(0.01)
    expect(Math.abs((binned?.ece as number) - exact.ece)).toBeLessThan(1 / 120 + 1e-9)
  })

  it('give the exact binary AUC when no positive and negative share a score bin', () => {
    const p = probs([
      [0.99, 0.01],
      [0.7, 0.3],
      [0.3, 0.7],
      [0.6, 0.4],
      [0.01, 0.99],
    ])
    const y = Int32Array.from([0, 0, 1, 1, 1])
    expect(pooledMetrics(countEvaluation(p, y, 2), 2)?.auc).toBeCloseTo(rocAuc(p, y, 2) as number, 12)
  })

  it('are null with no example', () => {
    expect(pooledMetrics(countEvaluation(new Float32Array(0), new Int32Array(0), 3), 3)).toBeNull()
  })

  it('travel as one vector of the documented length and are read back checked', () => {
    const { probs: p, labels } = sample(50, 3, 3)
    const counts = countEvaluation(p, labels, 3)
    const words = flattenEvaluationCounts(counts)
    expect(words).toHaveLength(evaluationCountsLength(3))
    expect(parseEvaluationCounts(words, 3)).toEqual(counts)
  })

  it('refuse a vector whose parts disagree, naming what disagrees', () => {
    const { probs: p, labels } = sample(50, 3, 4)
    const words = flattenEvaluationCounts(countEvaluation(p, labels, 3))
    const bad = [...words]
    bad[0] = (bad[0] as number) + 1
    expect(() => parseEvaluationCounts(bad, 3)).toThrow(
      /confusion matrix counts 51 examples, the confidence histogram 50/,
    )
    expect(() => parseEvaluationCounts(words.slice(1), 3)).toThrow(ProtocolError)
    const negative = [...words]
    negative[5] = -1
    expect(() => parseEvaluationCounts(negative, 3)).toThrow(/non-negative integer/)
  })
})

describe('the prior at prediction', () => {
  const spec = { layers: [], labels: ['a', 'b', 'c'] }
  const dim = 4

  it('adds log π to the logits: softmax(z + log π) ∝ π·softmax(z)', () => {
    const weights = Float32Array.from({ length: paramCount(spec, dim) }, (_, i) => Math.sin(i))
    const x = Float32Array.from([0.5, -1, 2, 0.1, 1, 1, -1, 0])
    const prior = [0.7, 0.2, 0.1]
    const plain = predictHead(spec, dim, weights, x, 2)
    const adjusted = predictHead(spec, dim, foldPrior(spec, dim, weights, prior), x, 2)
    for (let i = 0; i < 2; i++) {
      const row = [0, 1, 2].map((c) => (plain[i * 3 + c] as number) * (prior[c] as number))
      const total = row.reduce((a, b) => a + b, 0)
      for (let c = 0; c < 3; c++) expect(adjusted[i * 3 + c]).toBeCloseTo((row[c] as number) / total, 5)
    }
  })

  it('smooths the federation label counts so an absent class keeps a finite log', () => {
    expect(labelMix([8, 0, 2], 3)).toEqual([9 / 13, 1 / 13, 3 / 13])
    expect(labelMix(null, 3)).toBeNull()
  })

  it('refuses a prior of the wrong length or with a zero share', () => {
    const weights = new Float32Array(paramCount(spec, dim))
    expect(() => foldPrior(spec, dim, weights, [0.5, 0.5])).toThrow(/expected 3 class shares, got 2/)
    expect(() => foldPrior(spec, dim, weights, [1, 0, 0])).toThrow(/class shares in \(0, 1\]/)
  })
})

describe('selection metrics', () => {
  it('name the figure a run keeps its best round by', () => {
    const m = evaluatePredictions(
      probs([
        [0.9, 0.1],
        [0.2, 0.8],
      ]),
      Int32Array.from([0, 1]),
      2,
      { ordinal: true },
    )
    expect(selectionValue(m, 'auc')).toBe(1)
    expect(selectionValue(m, 'accuracy')).toBe(1)
    expect(selectionValue(m, 'balancedAccuracy')).toBe(1)
    expect(selectionValue(m, 'qwk')).toBe(1)
  })
})
