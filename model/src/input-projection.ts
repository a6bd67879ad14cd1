import type { Dataset } from './dataset.ts'
import { symmetricEigen } from './symmetric-eigen.ts'

/**
 * A projection of centred embeddings onto the top k principal components of a set (the
 * coordinator's validation embeddings: public to it, so free of privacy cost, like the centre).
 * The idea under example-level DP: a head on k inputs has k·C + C parameters instead of d·C + C, so
 * the noise on each step's sum, one coordinate per parameter, has a norm about √(d/k) smaller while
 * the clipped per-example gradients keep most of theirs. `npm run bench:privacy -- --tune
 * projection` measured it on every set's validation split against centring alone, and it did not
 * beat centring there (README, "Differential privacy"), so fedtune's task file has no such field;
 * this is the bench's tool.
 *
 * `basis` is row-major [k, dim]: row i is the i-th component (unit length, the rows orthonormal),
 * by decreasing variance.
 */
export type InputProjection = { readonly k: number; readonly dim: number; readonly basis: Float32Array }

/** The largest k the centred validation set allows: its embeddings minus their mean span at most n − 1 directions (and never more than dim). */
export function maxProjection(validation: { readonly n: number; readonly dim: number }): number {
  return Math.max(0, Math.min(validation.n - 1, validation.dim))
}

/**
 * The top `k` principal components of `data` around its own mean, by an exact symmetric
 * eigendecomposition (no random start, so the same set always gives the same basis): of the n×n Gram
 * matrix when n ≤ dim (the components are then Xᵀu/√λ), of the dim×dim scatter matrix otherwise.
 * Each component's sign is fixed so that its largest-magnitude entry is positive. Refuses a k the
 * set cannot support (k > n − 1, or directions with no variance), with the numbers.
 */
export function principalComponents(data: Dataset, k: number): InputProjection {
  const { n, dim } = data
  if (!Number.isInteger(k) || k < 1)
    throw new Error(`input projection: expected a whole number of components ≥ 1, got ${k}`)
  if (k > maxProjection(data))
    throw new Error(
      `input projection: ${k} components need at least ${k + 1} validation embeddings of dimension ≥ ${k}, got ${n} of dimension ${dim} (at most ${maxProjection(data)} components)`,
    )
  const mean = new Float64Array(dim)
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dim; j++) mean[j] = (mean[j] as number) + (data.x[i * dim + j] as number) / n
  const xc = new Float64Array(n * dim)
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dim; j++) xc[i * dim + j] = (data.x[i * dim + j] as number) - (mean[j] as number)
  const basis = new Float64Array(k * dim)
  let values: Float64Array
  if (n <= dim) {
    const gram = new Float64Array(n * n)
    for (let a = 0; a < n; a++)
      for (let b = a; b < n; b++) {
        let s = 0
        for (let j = 0; j < dim; j++) s += (xc[a * dim + j] as number) * (xc[b * dim + j] as number)
        gram[a * n + b] = s
        gram[b * n + a] = s
      }
    const eigen = symmetricEigen(gram, n)
    values = eigen.values
    for (let c = 0; c < k; c++) {
      const lambda = values[c] as number
      for (let j = 0; j < dim; j++) {
        let s = 0
        for (let a = 0; a < n; a++) s += (xc[a * dim + j] as number) * (eigen.vectors[a * n + c] as number)
        basis[c * dim + j] = s / Math.sqrt(Math.max(lambda, Number.MIN_VALUE))
      }
    }
  } else {
    const scatter = new Float64Array(dim * dim)
    for (let i = 0; i < n; i++)
      for (let a = 0; a < dim; a++) {
        const v = xc[i * dim + a] as number
        if (v === 0) continue
        for (let b = a; b < dim; b++)
          scatter[a * dim + b] = (scatter[a * dim + b] as number) + v * (xc[i * dim + b] as number)
      }
    for (let a = 0; a < dim; a++)
      for (let b = 0; b < a; b++) scatter[a * dim + b] = scatter[b * dim + a] as number
    const eigen = symmetricEigen(scatter, dim)
    values = eigen.values
    for (let c = 0; c < k; c++)
      for (let j = 0; j < dim; j++) basis[c * dim + j] = eigen.vectors[j * dim + c] as number
  }
  // A component with (numerically) no variance is an arbitrary direction: refuse rather than guess.
  const top = Math.max(values[0] as number, 0)
  const flat = Array.from(values.subarray(0, k)).findIndex((v) => !(v > top * 1e-10))
  if (flat >= 0)
    throw new Error(
      `input projection: the validation embeddings vary along only ${flat} directions, expected at least ${k} (asked for ${k} components)`,
    )
  for (let c = 0; c < k; c++) {
    const row = basis.subarray(c * dim, (c + 1) * dim)
    let norm = 0
    let peak = 0
    for (const v of row) {
      norm += v * v
      if (Math.abs(v) > Math.abs(peak)) peak = v
    }
    const scale = (peak < 0 ? -1 : 1) / Math.sqrt(norm)
    for (let j = 0; j < dim; j++) row[j] = (row[j] as number) * scale
  }
  return { k, dim, basis: Float32Array.from(basis) }
}

/** `data` (already centred) mapped onto the projection's components: a new set of dimension k; `data` itself when `projection` is null. */
export function projectDataset(data: Dataset, projection: InputProjection | null): Dataset {
  if (projection === null) return data
  const { k, dim, basis } = projection
  if (data.dim !== dim)
    throw new Error(
      `input projection: expected embeddings of ${dim} values (the projection's dimension), got ${data.dim}`,
    )
  const x = new Float32Array(data.n * k)
  for (let i = 0; i < data.n; i++) {
    const row = i * dim
    for (let c = 0; c < k; c++) {
      let s = 0
      const b = c * dim
      for (let j = 0; j < dim; j++) s += (basis[b + j] as number) * (data.x[row + j] as number)
      x[i * k + c] = s
    }
  }
  return { ...data, x, dim: k }
}
