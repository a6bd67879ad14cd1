import { decodeWeights, encodeWeights, ProtocolError } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

describe('weights on the wire', () => {
  it('round-trips float32 values bit for bit through little-endian bytes', () => {
    const values = new Float32Array([0, -0, 1.5, -3.25e-8, 3.4028234663852886e38, 1e-45])
    const bytes = encodeWeights(values)
    expect(bytes.byteLength).toBe(values.length * 4)
    expect(bytes.slice(8, 12)).toEqual(new Uint8Array([0x00, 0x00, 0xc0, 0x3f])) // 1.5f LE
    expect(decodeWeights(bytes, values.length)).toEqual(values)
  })

  it('accepts an ArrayBuffer (what a browser receives) and an unaligned Buffer view', () => {
    const bytes = encodeWeights(new Float32Array([1, 2, 3]))
    expect(decodeWeights(bytes.buffer, 3)).toEqual(new Float32Array([1, 2, 3]))
    const padded = new Uint8Array(13)
    padded.set(bytes, 1)
    expect(decodeWeights(padded.subarray(1), 3)).toEqual(new Float32Array([1, 2, 3]))
  })

  it('refuses the wrong size and says what it expected and what arrived', () => {
    expect(() => decodeWeights(new Uint8Array(8), 3, 'update.delta')).toThrow(
      'update.delta: expected 3 float32 values (12 bytes), got 8 bytes',
    )
  })

  it('refuses NaN and infinities, naming the position', () => {
    const bytes = encodeWeights(new Float32Array([1, Number.NaN, 2]))
    expect(() => decodeWeights(bytes, 3)).toThrow(/value 1 is NaN/)
    try {
      decodeWeights(encodeWeights(new Float32Array([Number.POSITIVE_INFINITY])), 1)
    } catch (error) {
      expect(error).toBeInstanceOf(ProtocolError)
      expect((error as ProtocolError).code).toBe('not-finite')
    }
  })

  it('refuses anything that is not binary', () => {
    expect(() => decodeWeights([1, 2, 3], 3)).toThrow('expected binary float32 data, got an array of 3 items')
    expect(() => decodeWeights('AAAA', 1)).toThrow(/expected binary float32 data, got "AAAA"/)
  })
})
