import {
  clipToNorm,
  decodePrivateMean,
  l2Norm,
  type PrivateUpdateSpec,
  ProtocolError,
  privateUpdateWords,
  type RandomSource,
  seededSource,
  standardNormal,
} from '@fedtune/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'

afterEach(() => {
  vi.unstubAllGlobals()
})

/** The masked sum's words: each participant's words added mod 2^32, as secure aggregation reveals them. */
function ringSum(updates: readonly Uint32Array[]): Uint32Array {
  const sum = new Uint32Array((updates[0] as Uint32Array).length)
  for (const u of updates) for (let j = 0; j < sum.length; j++) sum[j] = (sum[j] as number) + (u[j] as number)
  return sum
}

const randomDelta = (d: number, norm: number, random: RandomSource) => {
  const v = Float32Array.from({ length: d }, () => standardNormal(random))
  const n = l2Norm(v)
  return v.map((x) => (x * norm) / n)
}

describe('a participant’s update under participant-level DP', () => {
  it('without noise, the decoded mean of several participants is the mean of their clipped deltas, within 1/s', () => {
    const random = seededSource(21)
    const spec: PrivateUpdateSpec = { clip: 1, scale: 2 ** 16, sigmaSquared: 0 }
    const deltas = [0.2, 0.9, 1, 2.5, 30].map((norm) => randomDelta(300, norm, random))
    const words = deltas.map((delta) => privateUpdateWords(delta, spec, random))
    const mean = decodePrivateMean(ringSum(words), { scale: spec.scale, survivors: deltas.length })
    const clipped = deltas.map((delta) => clipToNorm(delta, 1))
    for (let j = 0; j < 300; j++) {
      const expected = clipped.reduce((s, c) => s + (c[j] as number), 0) / deltas.length
      expect(Math.abs((mean[j] as number) - expected)).toBeLessThan(1 / spec.scale)
    }
  })

  it('stores negative integers in two’s complement: −3 grid units is the word 2^32 − 3', () => {
    const words = privateUpdateWords(
      Float32Array.of(-3 / 16, 5 / 16),
      { clip: 1, scale: 16, sigmaSquared: 0 },
      seededSource(0),
    )
    expect(Array.from(words)).toEqual([2 ** 32 - 3, 5])
    expect(Array.from(decodePrivateMean(words, { scale: 16, survivors: 1 }))).toEqual([-3 / 16, 5 / 16])
  })

  it('with noise, the decoded sum’s variance is survivors·σ_i²/s² (8 survivors, σ_i² = 10^6, s = 2^10)', () => {
    const random = seededSource(22)
    const spec: PrivateUpdateSpec = { clip: 1, scale: 2 ** 10, sigmaSquared: 1e6 }
    const d = 4000
    // Deltas on the grid (multiples of 1/s) round without randomness, so all the spread is the noise.
    const onGrid = () =>
      Float32Array.from({ length: d }, () => (Math.floor(random.nextUint32() / 2 ** 26) - 32) / 2 ** 15)
    const deltas = Array.from({ length: 8 }, onGrid)
    const mean = decodePrivateMean(ringSum(deltas.map((delta) => privateUpdateWords(delta, spec, random))), {
      scale: spec.scale,
      survivors: 8,
    })
    let squares = 0
    for (let j = 0; j < d; j++) {
      const truth = deltas.reduce((s, delta) => s + (delta[j] as number), 0)
      squares += (8 * (mean[j] as number) - truth) ** 2
    }
    const expected = (8 * 1e6) / 2 ** 20
    // the sample variance of 4000 normals is within 10% with probability far beyond 1 − 10^-5
    expect(Math.abs(squares / d / expected - 1)).toBeLessThan(0.1)
  })

  it('draws its noise from the platform’s cryptographic source by default: two updates of one delta differ', () => {
    const delta = Float32Array.of(0.25, -0.5, 0.125)
    const spec: PrivateUpdateSpec = { clip: 1, scale: 2 ** 8, sigmaSquared: 1e4 }
    const a = privateUpdateWords(delta, spec)
    const b = privateUpdateWords(delta, spec)
    expect(Array.from(a)).not.toEqual(Array.from(b))
    const decoded = decodePrivateMean(a, { scale: 2 ** 8, survivors: 1 })
    for (let j = 0; j < 3; j++)
      expect(Math.abs((decoded[j] as number) - (delta[j] as number))).toBeLessThan(8 * (100 / 256))
  })

  it('produces nothing when its random source fails, in rounding or in the noise: the error propagates', () => {
    const delta = Float32Array.from({ length: 50 }, (_, j) => (j % 7) / 100 + 1 / 3000)
    const spec: PrivateUpdateSpec = { clip: 1, scale: 2 ** 12, sigmaSquared: 1e4 }
    for (const failAfter of [0, 60, 200]) {
      const inner = seededSource(1)
      let drawn = 0
      const failing: RandomSource = {
        nextUint32: () => {
          if (drawn++ >= failAfter) throw new Error(`entropy source failed after ${failAfter} words`)
          return inner.nextUint32()
        },
      }
      let result: Uint32Array | undefined
      expect(() => {
        result = privateUpdateWords(delta, spec, failing)
      }).toThrow(`entropy source failed after ${failAfter} words`)
      expect(result).toBeUndefined()
    }
  })

  it('refuses to add noise without a cryptographic source: ProtocolError "unsupported", no update', () => {
    vi.stubGlobal('crypto', {})
    expect(() => privateUpdateWords(Float32Array.of(0.1), { clip: 1, scale: 16, sigmaSquared: 100 })).toThrow(
      expect.objectContaining({ code: 'unsupported' }),
    )
  })
})

describe('clipping to the L2 norm', () => {
  it('scales a longer vector to norm ≤ c, keeping its direction, and copies a shorter one unchanged', () => {
    const random = seededSource(23)
    for (let trial = 0; trial < 200; trial++) {
      const v = randomDelta(1 + (trial % 50), 0.5 + trial / 10, random)
      const clipped = clipToNorm(v, 1.7)
      expect(l2Norm(clipped)).toBeLessThanOrEqual(1.7)
      if (l2Norm(v) > 1.7) expect(l2Norm(clipped)).toBeCloseTo(1.7, 9)
      const ratio = (clipped[0] as number) / (v[0] as number)
      for (let j = 0; j < v.length; j++)
        expect((clipped[j] as number) / (v[j] as number)).toBeCloseTo(ratio, 9)
    }
    const short = Float32Array.of(0.1, -0.2)
    expect(Array.from(clipToNorm(short, 1))).toEqual(Array.from(short))
  })

  it('refuses a non-finite vector and a bad clip', () => {
    expect(() => clipToNorm(Float32Array.of(Number.NaN), 1)).toThrow(
      /finite values, got a vector whose norm is NaN/,
    )
    expect(() => clipToNorm(Float32Array.of(1), 0)).toThrow(/positive finite clip, got number 0/)
  })
})

describe('decoding the unmasked sum', () => {
  it('reads each word as a signed 32-bit integer divided by s·survivors', () => {
    expect(
      Array.from(decodePrivateMean(Uint32Array.of(0xffffffff, 6, 0x80000000), { scale: 2, survivors: 3 })),
    ).toEqual([-1 / 6, 1, -(2 ** 31) / 6])
  })

  it('refuses a survivor count or scale out of range', () => {
    expect(() => decodePrivateMean(new Uint32Array(1), { scale: 2, survivors: 0 })).toThrow(
      /positive integer survivor count, got number 0/,
    )
    expect(() => decodePrivateMean(new Uint32Array(1), { scale: 0, survivors: 1 })).toThrow(ProtocolError)
  })
})
