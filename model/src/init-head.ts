import { type HeadSpec, paramShapes } from '@fedtune/protocol'
import { seededRandom } from './prng.ts'

/**
 * Initial head weights, flat in `paramShapes` order: kernels Glorot-uniform, U(±√(6/(fan_in+fan_out)))
 * (Glorot & Bengio, AISTATS 2010, eq. 16; Keras' default), biases zero. Drawn from the seeded
 * generator so the coordinator and every participant derive the same start from the same seed.
 */
export function initHead(spec: HeadSpec, inputDim: number, seed: number): Float32Array {
  const shapes = paramShapes(spec, inputDim)
  const total = shapes.reduce((sum, { shape }) => sum + shape.reduce((a, b) => a * b, 1), 0)
  const out = new Float32Array(total)
  const random = seededRandom(seed)
  let offset = 0
  for (const { shape } of shapes) {
    const size = shape.reduce((a, b) => a * b, 1)
    if (shape.length === 2) {
      const limit = Math.sqrt(6 / (shape[0] + shape[1]))
      for (let i = 0; i < size; i++) out[offset + i] = (2 * random() - 1) * limit
    }
    offset += size
  }
  return out
}
