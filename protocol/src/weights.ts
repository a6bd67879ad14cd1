import { describe } from './describe.ts'
import { ProtocolError } from './errors.ts'

/**
 * Weights cross the wire as little-endian IEEE-754 float32 bytes, one flat vector (tfjs keeps
 * weights the same way: one buffer plus shapes). Tensors never cross the wire.
 */
export function encodeWeights(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true)
  return out
}

/**
 * Parses bytes from the wire into `expectedLength` finite floats. socket.io hands Node a Buffer
 * and a browser an ArrayBuffer; both are accepted, nothing else is.
 */
export function decodeWeights(value: unknown, expectedLength: number, what = 'weights'): Float32Array {
  const bytes = asBytes(value)
  if (bytes === undefined)
    throw new ProtocolError('malformed', `${what}: expected binary float32 data, got ${describe(value)}`)
  if (bytes.byteLength !== expectedLength * 4)
    throw new ProtocolError(
      'wrong-size',
      `${what}: expected ${expectedLength} float32 values (${expectedLength * 4} bytes), got ${bytes.byteLength} bytes`,
    )
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Float32Array(expectedLength)
  for (let i = 0; i < expectedLength; i++) {
    const v = view.getFloat32(i * 4, true)
    if (!Number.isFinite(v))
      throw new ProtocolError('not-finite', `${what}: value ${i} is ${v}, expected a finite number`)
    out[i] = v
  }
  return out
}

export function asBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  return undefined
}
