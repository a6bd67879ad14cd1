import { ProtocolError } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import {
  addInto,
  addWordsInto,
  clipL2,
  decodeWeightedSum,
  encodeWeighted,
  fixedPointFor,
  subtractFrom,
  subtractWordsFrom,
} from '../../../protocol/src/secagg/fixed-point.ts'
import { wordKernel } from '../../../protocol/src/secagg/word-simd.ts'

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))

describe('L2 clipping', () => {
  it('scales a vector longer than the bound down to the bound, keeping its direction', () => {
    const { clipped, norm: before } = clipL2(new Float32Array([3, 4]), 1)
    expect(before).toBe(5)
    expect(clipped[0]).toBeCloseTo(0.6, 6)
    expect(clipped[1]).toBeCloseTo(0.8, 6)
    expect(norm(clipped)).toBeCloseTo(1, 6)
  })

  it('leaves a vector within the bound unchanged, as a copy', () => {
    const v = new Float32Array([0.1, -0.2])
    const { clipped, norm: before } = clipL2(v, 1)
    expect(clipped).toEqual(v)
    expect(clipped).not.toBe(v)
    expect(before).toBeCloseTo(Math.sqrt(0.05), 6)
  })

  it('refuses NaN or infinite values and a non-positive bound', () => {
    expect(() => clipL2(new Float32Array([1, Number.NaN]), 1)).toThrow(
      /finite values, got a vector whose norm is NaN/,
    )
    expect(() => clipL2(new Float32Array([Number.POSITIVE_INFINITY]), 1)).toThrow(ProtocolError)
    expect(() => clipL2(new Float32Array(2), 0)).toThrow(/positive finite bound, got number 0/)
  })
})

describe('fixed-point scale', () => {
  it('is the largest power of two keeping participants · maxExamples · clipNorm · scale below 2^31', () => {
    for (const spec of [
      { participants: 10, maxExamples: 1000, clipNorm: 1 },
      { participants: 100, maxExamples: 5000, clipNorm: 0.1 },
      { participants: 1, maxExamples: 1, clipNorm: 1 },
      { participants: 3, maxExamples: 7, clipNorm: 0.3 },
    ]) {
      const { scale } = fixedPointFor(spec)
      const bound = spec.participants * spec.maxExamples * spec.clipNorm
      expect(Math.log2(scale) % 1).toBe(0)
      expect(bound * scale).toBeLessThan(2 ** 31)
      expect(bound * scale * 2).toBeGreaterThanOrEqual(2 ** 31)
    }
    // 10 · 1000 · 1 = 10^4 → 2^31 / 10^4 ≈ 214748 → 2^17 = 131072.
    expect(fixedPointFor({ participants: 10, maxExamples: 1000, clipNorm: 1 })).toEqual({
      clipNorm: 1,
      scale: 131072,
      maxExamples: 1000,
    })
    // Exactly 2^31 is not below 2^31.
    expect(fixedPointFor({ participants: 1, maxExamples: 1, clipNorm: 1 }).scale).toBe(2 ** 30)
  })

  it('refuses a federation too large for integer resolution, with the numbers in the message', () => {
    const attempt = () => fixedPointFor({ participants: 1000, maxExamples: 100_000, clipNorm: 100 })
    expect(attempt).toThrow(ProtocolError)
    expect(attempt).toThrow(/1000 participants × 100000 examples × clipNorm 100 = 10000000000/)
    try {
      attempt()
    } catch (error) {
      expect((error as ProtocolError).code).toBe('invalid-spec')
    }
  })

  it('refuses example counts whose sum would not fit 32 bits, and invalid numbers', () => {
    expect(() => fixedPointFor({ participants: 2 ** 16, maxExamples: 2 ** 16, clipNorm: 1e-9 })).toThrow(
      /does not fit the 32-bit example count/,
    )
    expect(() => fixedPointFor({ participants: 0, maxExamples: 1, clipNorm: 1 })).toThrow(
      /participant count, got number 0/,
    )
    expect(() => fixedPointFor({ participants: 1, maxExamples: 1.5, clipNorm: 1 })).toThrow(
      /maxExamples, got number 1.5/,
    )
    expect(() => fixedPointFor({ participants: 1, maxExamples: 1, clipNorm: Number.NaN })).toThrow(
      /clipNorm, got number NaN/,
    )
  })
})

describe('weighted fixed-point encoding', () => {
  const fp = fixedPointFor({ participants: 4, maxExamples: 100, clipNorm: 1 })

  it('lays out [round(n·clip(Δ)·scale) …, n, extra …] with negatives as two’s complement', () => {
    const encoded = encodeWeighted(new Float32Array([0.5, -0.25]), 3, [1, 2], fp)
    expect(Array.from(encoded)).toEqual([1.5 * fp.scale, 2 ** 32 - 0.75 * fp.scale, 3, 1, 2])
  })

  it('decodes the sum of encodings to Σ n·clip(Δ), Σ n and the summed extras', () => {
    const inputs = [
      { delta: new Float32Array([0.1, -0.2, 0.3]), examples: 10, extra: [4, 6] },
      { delta: new Float32Array([-0.5, 0.5, 0]), examples: 100, extra: [100, 0] },
      { delta: new Float32Array([3, 4, 0]), examples: 1, extra: [0, 1] }, // clipped to norm 1
    ]
    const sum = new Uint32Array(3 + 1 + 2)
    for (const { delta, examples, extra } of inputs) addInto(sum, encodeWeighted(delta, examples, extra, fp))
    const decoded = decodeWeightedSum(sum, 3, fp)
    const expected = [10 * 0.1 - 100 * 0.5 + 0.6, 10 * -0.2 + 100 * 0.5 + 0.8, 10 * 0.3]
    for (let j = 0; j < 3; j++) expect(decoded.weightedSum[j]).toBeCloseTo(expected[j] as number, 3)
    expect(decoded.examples).toBe(111)
    expect(decoded.extra).toEqual([104, 7])
  })

  it('never wraps: the federation’s extreme inputs decode to the extreme sum', () => {
    // Four participants at maxExamples, all at +clipNorm in one coordinate: the largest possible sum.
    const sum = new Uint32Array(2 + 1)
    for (let p = 0; p < 4; p++) addInto(sum, encodeWeighted(new Float32Array([1, 0]), 100, [], fp))
    expect(decodeWeightedSum(sum, 2, fp).weightedSum[0]).toBeCloseTo(400, 6)
    const negative = new Uint32Array(3)
    for (let p = 0; p < 4; p++) addInto(negative, encodeWeighted(new Float32Array([-0.6, -0.8]), 100, [], fp))
    const decoded = decodeWeightedSum(negative, 2, fp).weightedSum
    expect(decoded[0]).toBeCloseTo(-240, 3)
    expect(decoded[1]).toBeCloseTo(-320, 3)
  })

  it('keeps every coordinate within the per-participant budget even when float32 rounding overshoots', () => {
    // clipNorm 0.1 is not a float32: a vector clipped to it has the coordinate fround(0.1) > 0.1, which
    // at scale 2^34 is 26 units above the budget floor(0.1 · 2^34) that fixedPointFor reserved.
    const tight = fixedPointFor({ participants: 1, maxExamples: 1, clipNorm: 0.1 })
    expect(tight.scale).toBe(2 ** 34)
    const limit = Math.floor(0.1 * 2 ** 34)
    expect(Math.round(Math.fround(0.1) * 2 ** 34)).toBeGreaterThan(limit)
    expect(encodeWeighted(new Float32Array([5]), 1, [], tight)[0]).toBe(limit)
    expect(encodeWeighted(new Float32Array([-5]), 1, [], tight)[0]).toBe(2 ** 32 - limit)
  })

  it('refuses example counts outside 1..maxExamples or fractional, NaN values, and bad extras', () => {
    const delta = new Float32Array(2)
    expect(() => encodeWeighted(delta, 101, [], fp)).toThrow(/from 1 to maxExamples = 100, got number 101/)
    expect(() => encodeWeighted(delta, 0, [], fp)).toThrow(/got number 0/)
    expect(() => encodeWeighted(delta, 2.5, [], fp)).toThrow(/got number 2.5/)
    expect(() => encodeWeighted(new Float32Array([Number.NaN]), 1, [], fp)).toThrow(/finite values/)
    expect(() => encodeWeighted(delta, 1, [-1], fp)).toThrow(
      /extra\[0\] to be an integer from 0 to maxExamples = 100, got number -1/,
    )
    expect(() => encodeWeighted(delta, 1, [0, 0.5], fp)).toThrow(/extra\[1\]/)
  })

  it('refuses to decode a sum shorter than dim + 1', () => {
    expect(() => decodeWeightedSum(new Uint32Array(3), 3, fp)).toThrow(/at least dim \+ 1 = 4 words, got 3/)
  })
})

describe('mod 2^32 vector arithmetic', () => {
  it('adds and subtracts with wrap-around, in place', () => {
    const acc = Uint32Array.of(2 ** 32 - 1, 5, 0)
    addInto(acc, Uint32Array.of(2, 2 ** 32 - 5, 0))
    expect(Array.from(acc)).toEqual([1, 0, 0])
    subtractFrom(acc, Uint32Array.of(2, 1, 0))
    expect(Array.from(acc)).toEqual([2 ** 32 - 1, 2 ** 32 - 1, 0])
  })

  it('a mask added then subtracted leaves the input unchanged', () => {
    const input = Uint32Array.from({ length: 64 }, (_, i) => i * 2654435761)
    const mask = Uint32Array.from({ length: 64 }, (_, i) => (i * 40503 + 7) * 97531)
    const masked = input.slice()
    addInto(masked, mask)
    subtractFrom(masked, mask)
    expect(masked).toEqual(input)
  })

  it('gives the scalar definition’s words on every length, also across SIMD chunks and on views', () => {
    // Node has WebAssembly SIMD: long vectors below take the kernel, short ones the scalar loop.
    expect(wordKernel()).not.toBeNull()
    const words = (n: number, seed: number) =>
      Uint32Array.from({ length: n }, (_, i) => Math.imul(i + seed, 2654435761) >>> 0)
    for (const n of [0, 1, 3, 255, 256, 257, 1001, 16_383, 16_384, 16_385, 50_001]) {
      const acc = words(n, 1)
      const v = words(n, 7)
      const sum = Uint32Array.from(acc, (a, i) => a + (v[i] as number))
      const difference = Uint32Array.from(acc, (a, i) => a - (v[i] as number))
      const added = acc.slice()
      addInto(added, v)
      expect(added).toEqual(sum)
      const subtracted = acc.slice()
      subtractFrom(subtracted, v)
      expect(subtracted).toEqual(difference)
    }
    // Unaligned to a SIMD lane: views that start one word into their buffers, each operand in its own.
    const acc = words(40_001, 3).subarray(1)
    const v = words(40_001, 5).subarray(1)
    const expected = Uint32Array.from(acc, (a, i) => a + (v[i] as number))
    addInto(acc, v)
    expect(acc).toEqual(expected)
    // A vector added to itself doubles.
    const self = words(20_000, 9)
    const doubled = Uint32Array.from(self, (a) => a * 2)
    addInto(self, self)
    expect(self).toEqual(doubled)
  })

  it('adds and subtracts little-endian words as they came off the wire, at any byte offset', () => {
    // A frame puts a masked input or a correction wherever its header ends: offsets 0–3 mod 4.
    const words = (n: number, seed: number) =>
      Uint32Array.from({ length: n }, (_, i) => Math.imul(i + seed, 2654435761) >>> 0)
    const littleEndian = (v: Uint32Array, offset: number) => {
      const bytes = new Uint8Array(offset + v.length * 4)
      const view = new DataView(bytes.buffer)
      for (const [i, w] of v.entries()) view.setUint32(offset + i * 4, w, true)
      return bytes.subarray(offset)
    }
    for (const n of [1, 255, 256, 12_823, 16_385])
      for (const offset of [0, 1, 2, 3]) {
        const acc = words(n, 1)
        const v = words(n, 7)
        const bytes = littleEndian(v, offset)
        const added = acc.slice()
        addWordsInto(added, bytes)
        expect(added).toEqual(Uint32Array.from(acc, (a, i) => a + (v[i] as number)))
        const subtracted = acc.slice()
        subtractWordsFrom(subtracted, bytes)
        expect(subtracted).toEqual(Uint32Array.from(acc, (a, i) => a - (v[i] as number)))
        expect(bytes).toEqual(littleEndian(v, offset)) // the received bytes are left as they came
      }
  })

  it('refuses vectors of different lengths', () => {
    expect(() => addInto(new Uint32Array(3), new Uint32Array(4))).toThrow(/addInto: expected 3 words, got 4/)
    expect(() => subtractFrom(new Uint32Array(3), new Uint32Array(2))).toThrow(
      /subtractFrom: expected 3 words, got 2/,
    )
    expect(() => addWordsInto(new Uint32Array(300), new Uint8Array(1199))).toThrow(
      /addWordsInto: expected 1200 bytes, got 1199/,
    )
    expect(() => subtractWordsFrom(new Uint32Array(3), new Uint8Array(16))).toThrow(
      /subtractWordsFrom: expected 12 bytes, got 16/,
    )
  })
})
