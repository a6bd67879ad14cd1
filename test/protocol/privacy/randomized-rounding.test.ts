import {
  conditionalRandomizedRounding,
  DEFAULT_BETA,
  l2Norm,
  ProtocolError,
  type RandomSource,
  randomizedRound,
  roundingNormBound,
  seededSource,
  standardNormal,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { zScore } from './chi-square.ts'

/** A source that returns the given words in turn. */
const scripted = (...ws: number[]): RandomSource => {
  let i = 0
  return { nextUint32: () => ws[i++] as number }
}

/** A random direction of norm `norm` in `d` coordinates. */
function onSphere(d: number, norm: number, random: RandomSource): Float64Array {
  const v = Float64Array.from({ length: d }, () => standardNormal(random))
  const n = l2Norm(v)
  return v.map((x) => (x * norm) / n)
}

describe('randomized rounding of one value', () => {
  it('rounds up with probability exactly its fractional part, compared bit for bit', () => {
    // 2.5: the fraction's first 32 bits are 2^31; a word below rounds up, the word itself (with nothing
    // after it) is not below 0.5, so it rounds down.
    expect(randomizedRound(2.5, scripted(0x7fffffff))).toBe(3)
    expect(randomizedRound(2.5, scripted(0x80000000))).toBe(2)
    // −2.5 is −(2.5 rounded): down to −3 exactly when 2.5 rounds up.
    expect(randomizedRound(-2.5, scripted(0x7fffffff))).toBe(-3)
    // A fraction of 2^-40 needs the second word: the first must be 0, then below 2^24.
    expect(randomizedRound(2 ** -40, scripted(0, 2 ** 24 - 1))).toBe(1)
    expect(randomizedRound(2 ** -40, scripted(0, 2 ** 24))).toBe(0)
    expect(randomizedRound(2 ** -40, scripted(1))).toBe(0)
  })

  it('draws nothing for an integer', () => {
    const untouched: RandomSource = {
      nextUint32: () => {
        throw new Error('an integer needs no coin')
      },
    }
    expect(randomizedRound(-7, untouched)).toBe(-7)
    expect(randomizedRound(0, untouched)).toBe(0)
  })

  it('is unbiased: the mean of many roundings is the value', () => {
    const random = seededSource(4)
    const n = 40_000
    for (const v of [0.3, -2.7, 1 / 3, 1e6 + 0.125]) {
      let ups = 0
      for (let i = 0; i < n; i++) if (randomizedRound(v, random) === Math.floor(v) + 1) ups++
      expect(Math.abs(zScore(ups, n, v - Math.floor(v))), `v = ${v}`).toBeLessThan(4.5)
    }
  })
})

describe('the rounding norm bound (Kairouz, Liu & Steinke 2021, Theorem 1)', () => {
  it('is min(c·s + √d, √((c·s)² + d/4 + √(2 ln 1/β)·(c·s + √d/2)))', () => {
    // β = e^−0.5 makes √(2 ln 1/β) = 1: √(100² + 2500 + 100 + 50) = √12650.
    expect(roundingNormBound({ clip: 1, scale: 100, dimension: 10_000 })).toBeCloseTo(Math.sqrt(12_650), 9)
    expect(roundingNormBound({ clip: 1, scale: 100, dimension: 10_000, beta: 0 })).toBe(200)
    // with few coordinates and a large c·s, the two are close and the first can be the smaller
    expect(roundingNormBound({ clip: 1, scale: 1, dimension: 1, beta: 0.01 })).toBe(2)
    expect(DEFAULT_BETA).toBeCloseTo(Math.exp(-0.5), 15)
  })

  it('refuses a clip, scale, dimension or β out of range', () => {
    expect(() => roundingNormBound({ clip: 0, scale: 1, dimension: 1 })).toThrow(
      /positive finite clip, got number 0/,
    )
    expect(() => roundingNormBound({ clip: 1, scale: -1, dimension: 1 })).toThrow(/positive finite scale/)
    expect(() => roundingNormBound({ clip: 1, scale: 1, dimension: 0 })).toThrow(/positive integer dimension/)
    expect(() => roundingNormBound({ clip: 1, scale: 1, dimension: 1, beta: 1 })).toThrow(/beta in \[0, 1\)/)
    expect(() => roundingNormBound({ clip: 1, scale: 2 ** 51, dimension: 1 })).toThrow(/past 2\^50/)
  })
})

describe('conditional randomized rounding (Kairouz, Liu & Steinke 2021, Algorithm 1)', () => {
  it('never returns a vector longer than the bound, though unconditional rounding of the same input does', () => {
    // Every coordinate at ±0.5 grid units, the worst case of Theorem 1: c·s = 10 in 400 coordinates, so
    // B = √(100 + 100 + 10 + 10) ≈ 14.8, and an unconditional rounding's ‖x̃‖² ~ Binomial(400, 1/2)
    // passes B² = 220 about 2% of the time.
    const spec = { clip: 2.5, scale: 4 }
    const bound = roundingNormBound({ ...spec, dimension: 400 })
    expect(bound).toBeCloseTo(Math.sqrt(220), 12)
    const random = seededSource(12)
    let unconditionalOver = 0
    for (let trial = 0; trial < 300; trial++) {
      const x = Float64Array.from({ length: 400 }, () => (random.nextUint32() & 1 ? 0.125 : -0.125))
      const rounded = conditionalRandomizedRounding(x, spec, random)
      expect(rounded.every((v, j) => Math.abs(v - (x[j] as number) * 4) === 0.5)).toBe(true)
      expect(l2Norm(rounded)).toBeLessThanOrEqual(bound)
      if (l2Norm(x.map((v) => randomizedRound(v * 4, random))) > bound) unconditionalOver++
    }
    expect(unconditionalOver).toBeGreaterThan(0)
  })

  it('takes an input scaled to the clip in doubles, whose norm rounds a few ulps above it', () => {
    const random = seededSource(15)
    for (let trial = 0; trial < 50; trial++) {
      const x = onSphere(100, 0.5, random)
      const rounded = conditionalRandomizedRounding(x, { clip: 0.5, scale: 64 }, random)
      expect(l2Norm(rounded)).toBeLessThanOrEqual(roundingNormBound({ clip: 0.5, scale: 64, dimension: 100 }))
    }
  })

  it('is unbiased where the bound rarely binds: the mean of 4000 roundings is x·s', () => {
    const spec = { clip: 1, scale: 16 }
    const random = seededSource(13)
    const x = onSphere(8, 0.5, random)
    const n = 4000
    const sum = new Float64Array(8)
    for (let i = 0; i < n; i++) {
      const r = conditionalRandomizedRounding(x, spec, random)
      for (let j = 0; j < 8; j++) sum[j] = (sum[j] as number) + (r[j] as number)
    }
    // each coordinate's rounding has variance ≤ 1/4: the mean's sd is ≤ 1/(2√n)
    for (let j = 0; j < 8; j++)
      expect(Math.abs((sum[j] as number) / n - (x[j] as number) * 16)).toBeLessThan(4.5 / (2 * Math.sqrt(n)))
  })

  it('gives the pinned rounding for seed 2026', () => {
    const x = Float64Array.of(0.3, -0.45, 0.1, 0.7)
    expect(Array.from(conditionalRandomizedRounding(x, { clip: 1, scale: 16 }, seededSource(2026)))).toEqual([
      5, -7, 1, 11,
    ])
  })

  it('takes float32 input and large c·s (the exact bigint norm check past 2^52)', () => {
    const random = seededSource(14)
    const x = Float32Array.from(onSphere(16, 0.99, random))
    const spec = { clip: 1, scale: 2 ** 30 }
    const rounded = conditionalRandomizedRounding(x, spec, random)
    for (let j = 0; j < 16; j++)
      expect(Math.abs((rounded[j] as number) - (x[j] as number) * 2 ** 30)).toBeLessThan(1)
  })

  it('refuses an input longer than the clip beyond float rounding, or not finite', () => {
    const random = seededSource(0)
    expect(() =>
      conditionalRandomizedRounding(Float64Array.of(3, 4), { clip: 4.9, scale: 2 }, random),
    ).toThrow(/clipped to L2 norm ≤ 4.9, got norm 5/)
    expect(() =>
      conditionalRandomizedRounding(Float64Array.of(3, 4), { clip: 5 * (1 - 1e-7), scale: 2 }, random),
    ).toThrow(ProtocolError)
    expect(() =>
      conditionalRandomizedRounding(Float64Array.of(Number.NaN), { clip: 1, scale: 2 }, random),
    ).toThrow(/finite values, got a vector whose norm is NaN/)
  })
})
