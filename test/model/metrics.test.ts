import { accuracy, rocAuc, stratifiedSplit } from '@fedtune/model'
import { describe, expect, it } from 'vitest'

/** Two-class probabilities from class-1 scores. */
const binary = (scores: number[]) => Float32Array.from(scores.flatMap((s) => [1 - s, s]))

describe('accuracy', () => {
  it('counts the rows whose arg-max is the label', () => {
    const probs = Float32Array.from([0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7])
    expect(accuracy(probs, Int32Array.from([0, 1, 1, 1]), 2)).toBe(0.75)
  })
})

describe('rocAuc', () => {
  it('is 1 for a perfect ranking and 0 for an inverted one', () => {
    const labels = Int32Array.from([0, 0, 1, 1])
    expect(rocAuc(binary([0.1, 0.2, 0.8, 0.9]), labels, 2)).toBe(1)
    expect(rocAuc(binary([0.9, 0.8, 0.2, 0.1]), labels, 2)).toBe(0)
  })

  it('counts a tie between a positive and a negative as one half', () => {
    expect(rocAuc(binary([0.5, 0.5]), Int32Array.from([0, 1]), 2)).toBe(0.5)
    // Pairs (neg, pos): (0.1,0.4) 1, (0.1,0.8) 1, (0.4,0.4) ½, (0.4,0.8) 1 → 3.5 / 4.
    expect(rocAuc(binary([0.1, 0.4, 0.4, 0.8]), Int32Array.from([0, 0, 1, 1]), 2)).toBe(0.875)
  })

  it('matches a hand-computed value', () => {
    // Positives 0.35, 0.8; negatives 0.1, 0.4: pairs won 1, 0, 1, 1 → 0.75 (scikit-learn agrees).
    expect(rocAuc(binary([0.1, 0.4, 0.35, 0.8]), Int32Array.from([0, 0, 1, 1]), 2)).toBe(0.75)
  })

  it('averages one-vs-rest AUCs over the classes present for more than two classes', () => {
    const probs = Float32Array.from([0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.2, 0.5, 0.3, 0.4, 0.2, 0.4])
    const labels = Int32Array.from([0, 1, 2, 2])
    // Class 0: pos 0.8 vs 0.1, 0.2, 0.4 → 1. Class 1: pos 0.8 vs 0.1, 0.5, 0.2 → 1.
    // Class 2: pos 0.3, 0.4 vs neg 0.1, 0.1 → 1.
    expect(rocAuc(probs, labels, 3)).toBe(1)
    const skewed = Float32Array.from([0.8, 0.1, 0.1, 0.1, 0.8, 0.5, 0.2, 0.5, 0.3, 0.4, 0.2, 0.4])
    // Class 2 now: pos 0.3, 0.4 vs neg 0.1, 0.5 → 2 of 4 → 0.5; macro (1 + 1 + 0.5) / 3.
    expect(rocAuc(skewed, labels, 3)).toBeCloseTo(2.5 / 3, 10)
  })

  it('ignores classes absent from the labels in the macro average', () => {
    const probs = Float32Array.from([0.7, 0.2, 0.1, 0.2, 0.7, 0.1, 0.6, 0.3, 0.1])
    expect(rocAuc(probs, Int32Array.from([0, 1, 0]), 3)).toBe(1)
  })

  it('is null when fewer than two classes are present', () => {
    expect(rocAuc(binary([0.2, 0.9]), Int32Array.from([1, 1]), 2)).toBeNull()
    expect(rocAuc(new Float32Array(0), new Int32Array(0), 2)).toBeNull()
  })
})

describe('stratifiedSplit', () => {
  const data = (labels: number[]) => ({
    x: Float32Array.from(labels.flatMap((_, i) => [i, -i])),
    y: Int32Array.from(labels),
    n: labels.length,
    dim: 2,
  })

  it('takes the validation fraction from each class, deterministically for a seed', () => {
    const d = data([...Array(20).fill(0), ...Array(10).fill(1)])
    const a = stratifiedSplit(d, 0.2, 7)
    const b = stratifiedSplit(d, 0.2, 7)
    expect(a.val.n).toBe(6)
    expect([...a.val.y].filter((y) => y === 0).length).toBe(4)
    expect([...a.val.y].filter((y) => y === 1).length).toBe(2)
    expect(a.train.n + a.val.n).toBe(30)
    expect(a.val.x).toEqual(b.val.x)
    expect(stratifiedSplit(d, 0.2, 8).val.x).not.toEqual(a.val.x)
    // Rows travel with their labels.
    for (let i = 0; i < a.val.n; i++) expect(a.val.x[2 * i + 1]).toBe(-(a.val.x[2 * i] as number))
  })

  it('keeps at least one training example of every class', () => {
    const { train, val } = stratifiedSplit(data([0, 0, 0, 1]), 0.5, 1)
    expect([...train.y].sort()).toEqual([0, 1])
    expect([...val.y]).toEqual([0, 0])
  })
})
