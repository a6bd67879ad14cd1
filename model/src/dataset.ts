/** Embeddings and labels, row-major: example i is x[i·dim, (i+1)·dim), its class y[i]. */
export type Dataset = {
  readonly x: Float32Array
  readonly y: Int32Array
  readonly n: number
  readonly dim: number
}

export function checkDataset(data: Dataset, what: string, dim?: number, classes?: number): void {
  if (!Number.isInteger(data.n) || data.n < 0 || !Number.isInteger(data.dim) || data.dim < 1)
    throw new Error(`${what}: expected a non-negative n and a positive dim, got n=${data.n}, dim=${data.dim}`)
  if (dim !== undefined && data.dim !== dim)
    throw new Error(`${what}: expected embeddings of ${dim}, got ${data.dim}`)
  if (data.x.length !== data.n * data.dim)
    throw new Error(
      `${what}: expected ${data.n}x${data.dim} = ${data.n * data.dim} values, got ${data.x.length}`,
    )
  if (data.y.length !== data.n) throw new Error(`${what}: expected ${data.n} labels, got ${data.y.length}`)
  if (classes !== undefined)
    for (let i = 0; i < data.n; i++) {
      const label = data.y[i] as number
      if (!(label >= 0 && label < classes))
        throw new Error(`${what}: label ${i} is ${label}, expected a class index from 0 to ${classes - 1}`)
    }
}

/** The rows `indices` of `data`, in that order. */
export function subset(data: Dataset, indices: ArrayLike<number>): Dataset {
  const { dim } = data
  const x = new Float32Array(indices.length * dim)
  const y = new Int32Array(indices.length)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k] as number
    x.set(data.x.subarray(i * dim, (i + 1) * dim), k * dim)
    y[k] = data.y[i] as number
  }
  return { x, y, n: indices.length, dim }
}
