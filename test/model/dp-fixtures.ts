import { type Dataset, seededRandom } from '@fedtune/model'
import type { RandomSource } from '@fedtune/protocol'

/**
 * A deterministic RandomSource for tests: mulberry32 (model's seededRandom) scaled back to its
 * 32-bit words. Reproducible, and never for real noise.
 */
export function seededSource(seed: number): RandomSource {
  const next = seededRandom(seed)
  return { nextUint32: () => next() * 4294967296 }
}

/** Gaussian blobs in `dim` dimensions, class c centred at +2 on coordinate c (c < dim), n/classes each. */
export function blobs(n: number, dim: number, seed: number, classes = 3): Dataset {
  const random = seededRandom(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  const y = Int32Array.from({ length: n }, (_, i) => i % classes)
  const x = new Float32Array(n * dim)
  y.forEach((c, i) => {
    for (let j = 0; j < dim; j++) x[i * dim + j] = 0.5 * gauss() + (j === c ? 2 : 0)
  })
  return { x, y, n, dim }
}

/** The L2 norm of a list of vectors taken as one. */
export function norm(parts: readonly ArrayLike<number>[]): number {
  let sum = 0
  for (const part of parts) for (let i = 0; i < part.length; i++) sum += (part[i] as number) ** 2
  return Math.sqrt(sum)
}
