import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Partition } from '../../cli/src/data/index.ts'
import {
  DataError,
  mulberry32,
  partitionDirichlet,
  partitionIid,
  readMedmnist,
  sampleDirichlet,
  subsampleStratified,
} from '../../cli/src/data/index.ts'

const pneumonia = readMedmnist(
  readFileSync(new URL('../../../shared/datasets/pneumoniamnist.npz', import.meta.url)),
  'pneumoniamnist',
)
const labels = pneumonia.splits.train.labels
const pneumoniaShare = labels.reduce((n, l) => n + l, 0) / labels.length

/** Ten balanced classes of 300 examples, like a small MNIST. */
const tenClasses = Uint8Array.from({ length: 3000 }, (_, i) => i % 10)

function expectEveryIndexOnce(partition: Partition, total: number): void {
  const all = partition.flat().sort((a, b) => a - b)
  expect(all).toEqual(Array.from({ length: total }, (_, i) => i))
}

function classShares(part: readonly number[], of: ArrayLike<number>, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0)
  for (const i of part) counts[of[i] as number] = (counts[of[i] as number] ?? 0) + 1
  return counts.map((c) => c / part.length)
}

describe('IID partition', () => {
  it('is the same for the same seed and different for another', () => {
    expect(partitionIid(labels, 5, 42)).toEqual(partitionIid(labels, 5, 42))
    expect(partitionIid(labels, 5, 42)).not.toEqual(partitionIid(labels, 5, 43))
  })

  it('puts every example in exactly one hospital, with sizes within one of each other', () => {
    const partition = partitionIid(labels, 7, 1)
    expectEveryIndexOnce(partition, labels.length)
    const sizes = partition.map((p) => p.length)
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
  })

  it('gives every hospital the overall class mix', () => {
    for (const part of partitionIid(labels, 5, 3)) {
      expect(classShares(part, labels, 2)[1]).toBeCloseTo(pneumoniaShare, 2)
    }
  })

  it('returns each hospital’s indices in ascending order', () => {
    for (const part of partitionIid(labels, 3, 1)) expect(part).toEqual([...part].sort((a, b) => a - b))
  })

  it('refuses more hospitals than examples', () => {
    expect(() => partitionIid(Uint8Array.of(0, 1), 3, 1)).toThrow(/3 hospitals .* need 3 examples, got 2/)
  })
})

describe('Dirichlet partition', () => {
  it('is the same for the same seed and different for another', () => {
    expect(partitionDirichlet(labels, 5, 0.5, 7)).toEqual(partitionDirichlet(labels, 5, 0.5, 7))
    expect(partitionDirichlet(labels, 5, 0.5, 7)).not.toEqual(partitionDirichlet(labels, 5, 0.5, 8))
  })

  it('puts every example in exactly one hospital and at least 10 in each', () => {
    for (const alpha of [0.05, 0.5, 5]) {
      const partition = partitionDirichlet(labels, 5, alpha, 1)
      expectEveryIndexOnce(partition, labels.length)
      for (const part of partition) expect(part.length).toBeGreaterThanOrEqual(10)
    }
  })

  it('with a small alpha, most hospitals are dominated by one class', () => {
    for (const seed of [1, 2, 3]) {
      const partition = partitionDirichlet(tenClasses, 10, 0.1, seed)
      const dominated = partition.filter((part) => Math.max(...classShares(part, tenClasses, 10)) > 0.5)
      expect(dominated.length).toBeGreaterThanOrEqual(7)
    }
  })

  it('with a small alpha on PneumoniaMNIST, hospitals are far from the overall mix', () => {
    const partition = partitionDirichlet(labels, 5, 0.1, 1)
    const skews = partition.map((part) =>
      Math.abs((classShares(part, labels, 2)[1] as number) - pneumoniaShare),
    )
    expect(Math.max(...skews)).toBeGreaterThan(0.3)
  })

  it('with a large alpha, every hospital is close to the overall class mix', () => {
    for (const part of partitionDirichlet(tenClasses, 5, 1000, 1)) {
      for (const share of classShares(part, tenClasses, 10)) expect(share).toBeCloseTo(0.1, 1)
    }
    for (const part of partitionDirichlet(labels, 5, 1000, 1)) {
      expect(Math.abs((classShares(part, labels, 2)[1] as number) - pneumoniaShare)).toBeLessThan(0.03)
    }
  })

  it('refuses alpha ≤ 0 and a minimum that the data cannot meet', () => {
    expect(() => partitionDirichlet(labels, 3, 0, 1)).toThrow(/expected alpha > 0, got 0/)
    expect(() => partitionDirichlet(labels.subarray(0, 25), 3, 0.5, 1)).toThrow(DataError)
    expect(() => partitionDirichlet(labels, 200, 0.01, 1, { maxAttempts: 20 })).toThrow(
      /no draw in 20 gave each of 200 hospitals at least 10 .* use a larger alpha or fewer hospitals/,
    )
  })
})

describe('Dirichlet sampling', () => {
  it('gives proportions that sum to 1 even when alpha is tiny enough to underflow a direct Gamma draw', () => {
    const random = mulberry32(5)
    for (let i = 0; i < 200; i++) {
      const p = sampleDirichlet(0.001, 8, random)
      expect(p.every((v) => Number.isFinite(v) && v >= 0)).toBe(true)
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
    }
  })

  it('has mean 1/k per part', () => {
    const random = mulberry32(9)
    const sum = new Float64Array(4)
    const draws = 20_000
    for (let i = 0; i < draws; i++) {
      const p = sampleDirichlet(0.7, 4, random)
      for (let j = 0; j < 4; j++) sum[j] = (sum[j] as number) + (p[j] as number)
    }
    for (const s of sum) expect(s / draws).toBeCloseTo(0.25, 2)
  })

  it('has the Dirichlet variance α(kα−α)/((kα)²(kα+1)) per part', () => {
    // For Dir(α,…,α) over k parts: Var p_i = (1/k)(1 − 1/k)/(kα + 1).
    const alpha = 0.3
    const k = 3
    const random = mulberry32(11)
    let sumSq = 0
    const draws = 20_000
    for (let i = 0; i < draws; i++) sumSq += ((sampleDirichlet(alpha, k, random)[0] as number) - 1 / k) ** 2
    expect(sumSq / draws).toBeCloseTo(((1 / k) * (1 - 1 / k)) / (k * alpha + 1), 2)
  })

  it('gives 0 to ineligible parts', () => {
    const p = sampleDirichlet(0.5, 4, mulberry32(1), (i) => i !== 2)
    expect(p[2]).toBe(0)
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
  })
})

describe('stratified subsample', () => {
  it('keeps each class’s share, rounding by largest remainder', () => {
    const indices = Array.from({ length: labels.length }, (_, i) => i)
    const kept = subsampleStratified(indices, labels, 30, mulberry32(1))
    expect(kept).toHaveLength(30)
    // 4708 train images, 1214 normal: 30 · 1214 / 4708 = 7.7 → 8 normal, 22 pneumonia.
    expect(kept.filter((i) => labels[i] === 0)).toHaveLength(8)
    expect(new Set(kept).size).toBe(30)
    expect(kept).toEqual([...kept].sort((a, b) => a - b))
  })

  it('never brings in a class the hospital did not have', () => {
    const onlyPneumonia = Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === 1)
    expect(subsampleStratified(onlyPneumonia, labels, 10, mulberry32(2)).every((i) => labels[i] === 1)).toBe(
      true,
    )
  })

  it('returns exactly the count asked for when several classes round up', () => {
    const fiveClasses = Uint8Array.from({ length: 1000 }, (_, i) => i % 5)
    const indices = Array.from({ length: 1000 }, (_, i) => i)
    for (const count of [1, 3, 7, 8, 13])
      expect(subsampleStratified(indices, fiveClasses, count, mulberry32(count))).toHaveLength(count)
  })
})
