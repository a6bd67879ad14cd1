import {
  ProtocolError,
  ringOverflowProbability,
  ringScale,
  roundingNormBound,
  roundVarianceUp,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

describe('the chance the noisy sum leaves the 32-bit ring', () => {
  it('is d·2·exp(−(2^31 − P·⌊B⌋)²/(2·P·σ_i²)): with B = 3, P = 2^29, σ_i² = 2^28/20 and d = 4, 8·e^−20', () => {
    // c = 1, s = 1, d = 4, β = 0: B = c·s + √d = 3, and the margin is 2^31 − 3·2^29 = 2^29.
    const spec = {
      participants: 2 ** 29,
      clip: 1,
      scale: 1,
      dimension: 4,
      beta: 0,
      sigmaSquared: 2 ** 28 / 20,
    }
    expect(ringOverflowProbability(spec)).toBeCloseTo(8 * Math.exp(-20), 20)
    expect(ringOverflowProbability(spec) / (8 * Math.exp(-20))).toBeCloseTo(1, 12)
  })

  it('is 1 when the clipped signal alone can reach 2^31, and 0 without noise below it', () => {
    const base = { clip: 1, scale: 1, dimension: 4, beta: 0 }
    expect(ringOverflowProbability({ ...base, participants: 2 ** 30, sigmaSquared: 1 })).toBe(1)
    expect(ringOverflowProbability({ ...base, participants: 2 ** 29, sigmaSquared: 0 })).toBe(0)
  })

  it('refuses a participant count or variance out of range', () => {
    const base = { clip: 1, scale: 1, dimension: 4 }
    expect(() => ringOverflowProbability({ ...base, participants: 0, sigmaSquared: 1 })).toThrow(
      /positive integer participant count, got number 0/,
    )
    expect(() => ringOverflowProbability({ ...base, participants: 1, sigmaSquared: -1 })).toThrow(
      ProtocolError,
    )
  })
})

describe('the largest power-of-two scale that fits the ring', () => {
  it('is 2^24 for 100 participants with clip 1 and d = 2600: at 2^25 the clipped signal alone reaches 2^31', () => {
    const plan = ringScale({
      participants: 100,
      minParticipants: 50,
      clip: 1,
      noiseMultiplier: 1,
      dimension: 2600,
    })
    expect(plan.scale).toBe(2 ** 24)
    expect(plan.overflowProbability).toBeLessThanOrEqual(1e-9)
    expect(100 * 2 ** 25).toBeGreaterThan(2 ** 31)
    // σ_i² = z²·c²·s²/m, rounded up for the sampler
    expect(plan.sigmaSquared).toBe(roundVarianceUp(2 ** 48 / 50))
    expect(plan.bound).toBe(roundingNormBound({ clip: 1, scale: 2 ** 24, dimension: 2600 }))
  })

  it('is 2^21 where the noise limits it (z = 50, m = 2): 2^22 would pass the target', () => {
    const spec = { participants: 10, minParticipants: 2, clip: 1, noiseMultiplier: 50, dimension: 1000 }
    const plan = ringScale(spec)
    expect(plan.scale).toBe(2 ** 21)
    const at = (scale: number) =>
      ringOverflowProbability({
        participants: 10,
        clip: 1,
        scale,
        dimension: 1000,
        sigmaSquared: (50 * scale) ** 2 / 2,
      })
    // past 2^52 the variance is taken as it is, an integer already
    expect(plan.sigmaSquared).toBe((50 * 2 ** 21) ** 2 / 2)
    expect(at(2 ** 21)).toBeLessThanOrEqual(1e-9)
    expect(at(2 ** 22)).toBeGreaterThan(1e-9)
    expect(10 * 2 ** 22).toBeLessThan(2 ** 31 / 50)
  })

  it('gives each participant at least z²·c²·s²/m, so that any m survivors carry noise z·c·s', () => {
    const spec = {
      participants: 5,
      minParticipants: 3,
      clip: 0.1,
      noiseMultiplier: 0.8,
      dimension: 2600,
      target: 1e-12,
    }
    const plan = ringScale(spec)
    expect(plan.sigmaSquared).toBeGreaterThanOrEqual((0.8 * 0.1 * plan.scale) ** 2 / 3)
    expect(Number.isInteger(Math.log2(plan.scale))).toBe(true)
    expect(plan.overflowProbability).toBeLessThanOrEqual(1e-12)
  })

  it('refuses what cannot fit, with the numbers, and arguments out of range', () => {
    expect(() =>
      ringScale({
        participants: 10_000_000,
        minParticipants: 10,
        clip: 1,
        noiseMultiplier: 1,
        dimension: 1_000_000,
      }),
    ).toThrow(/no scale .* 10000000 participants' 1000000 coordinates/)
    const ok = { participants: 10, minParticipants: 5, clip: 1, noiseMultiplier: 1, dimension: 10 }
    expect(() => ringScale({ ...ok, minParticipants: 11 })).toThrow(
      /minParticipants an integer from 1 to participants/,
    )
    expect(() => ringScale({ ...ok, noiseMultiplier: 0 })).toThrow(/positive noise multiplier, got number 0/)
    expect(() => ringScale({ ...ok, target: 1 })).toThrow(/target probability in \(0, 1\)/)
    expect(() => ringScale({ ...ok, clip: Number.NaN })).toThrow(ProtocolError)
  })
})
