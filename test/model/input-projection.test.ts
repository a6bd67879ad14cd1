import {
  centreDataset,
  type Dataset,
  maxProjection,
  meanEmbedding,
  principalComponents,
  projectDataset,
} from '@fedtune/model'
import { describe, expect, it } from 'vitest'
import { symmetricEigen } from '../../model/src/symmetric-eigen.ts'
import { blobs } from './dp-fixtures.ts'

const DIM = 6

/** ±3, ±2 and ±1 along coordinates 1, 4 and 2 in turn (variances 9 : 4 : 1, uncorrelated), plus a shared offset, `repeat` times. */
function planted(repeat: number, dim: number): Dataset {
  const points = [
    [1, 3],
    [1, -3],
    [4, 2],
    [4, -2],
    [2, 1],
    [2, -1],
  ] as const
  const n = repeat * points.length
  const x = new Float32Array(n * dim)
  for (let i = 0; i < n; i++) {
    const [axis, value] = points[i % points.length] as readonly [number, number]
    x[i * dim] = 5 // an offset the components must ignore
    x[i * dim + axis] = value
  }
  return { x, y: new Int32Array(n), n, dim }
}

describe('symmetricEigen', () => {
  it('decomposes a symmetric matrix: A·v = λ·v, eigenvalues decreasing, eigenvectors orthonormal', () => {
    const n = 7
    const data = blobs(30, n, 4)
    const a = new Float64Array(n * n)
    for (let i = 0; i < data.n; i++)
      for (let r = 0; r < n; r++)
        for (let c = 0; c < n; c++)
          a[r * n + c] =
            (a[r * n + c] as number) + (data.x[i * n + r] as number) * (data.x[i * n + c] as number)
    const { values, vectors } = symmetricEigen(a, n)
    for (let k = 1; k < n; k++) expect(values[k] as number).toBeLessThanOrEqual(values[k - 1] as number)
    for (let c = 0; c < n; c++) {
      for (let r = 0; r < n; r++) {
        let av = 0
        for (let j = 0; j < n; j++) av += (a[r * n + j] as number) * (vectors[j * n + c] as number)
        expect(av).toBeCloseTo((values[c] as number) * (vectors[r * n + c] as number), 8)
      }
      for (let d = 0; d < n; d++) {
        let dot = 0
        for (let j = 0; j < n; j++) dot += (vectors[j * n + c] as number) * (vectors[j * n + d] as number)
        expect(dot).toBeCloseTo(c === d ? 1 : 0, 10)
      }
    }
  })

  it('known answer: [[2, 1], [1, 2]] has eigenvalues 3 and 1', () => {
    const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2)
    expect(values[0]).toBeCloseTo(3, 12)
    expect(values[1]).toBeCloseTo(1, 12)
  })
})

describe('principalComponents', () => {
  it('finds planted directions by decreasing variance, around the set’s own mean, with a fixed sign', () => {
    // fewer points than dimensions (the Gram path) and more (the scatter path) give the same basis
    for (const [repeat, dim] of [
      [1, 7],
      [40, 7],
    ] as const) {
      const { basis, k } = principalComponents(planted(repeat, dim), 3)
      expect(k).toBe(3)
      const rows = [0, 1, 2].map((c) => Array.from(basis.subarray(c * dim, (c + 1) * dim)))
      const axis = [1, 4, 2]
      for (const [c, row] of rows.entries())
        for (const [j, v] of row.entries()) expect(v).toBeCloseTo(j === axis[c] ? 1 : 0, 5)
    }
  })

  it('is deterministic: the same set gives the same basis, bit for bit', () => {
    const data = blobs(50, DIM, 3)
    expect(principalComponents(data, 4).basis).toEqual(principalComponents(data, 4).basis)
  })

  it('refuses more components than the validation set allows, with the numbers', () => {
    const data = blobs(4, DIM, 1)
    expect(maxProjection(data)).toBe(3)
    expect(() => principalComponents(data, 4)).toThrow(
      'input projection: 4 components need at least 5 validation embeddings of dimension ≥ 4, got 4 of dimension 6 (at most 3 components)',
    )
    expect(() => principalComponents(planted(10, DIM), 4)).toThrow(
      'input projection: the validation embeddings vary along only 3 directions, expected at least 4 (asked for 4 components)',
    )
    expect(() => principalComponents(data, 0)).toThrow(
      'input projection: expected a whole number of components ≥ 1, got 0',
    )
  })
})

describe('projectDataset', () => {
  it('maps each embedding to its k coordinates on the basis; null leaves the set as it is', () => {
    const data = planted(2, DIM)
    const centred = centreDataset(data, meanEmbedding(data))
    const projection = principalComponents(centred, 2)
    const projected = projectDataset(centred, projection)
    expect(projected.dim).toBe(2)
    expect(projected.y).toBe(data.y)
    expect(projected.n).toBe(12)
    for (let i = 0; i < data.n; i++) {
      expect(projected.x[i * 2]).toBeCloseTo(centred.x[i * DIM + 1] as number, 5)
      expect(projected.x[i * 2 + 1]).toBeCloseTo(centred.x[i * DIM + 4] as number, 5)
    }
    expect(projectDataset(data, null)).toBe(data)
    expect(() => projectDataset(blobs(3, 4, 1), projection)).toThrow(
      "input projection: expected embeddings of 6 values (the projection's dimension), got 4",
    )
  })
})
