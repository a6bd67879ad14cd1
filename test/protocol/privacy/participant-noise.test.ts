import {
  addInto,
  decodeSecureSum,
  type ExamplePrivacy,
  emptyEvaluationCounts,
  encodeParticipantPrivateContribution,
  encodeRoundContribution,
  type FixedPoint,
  fixedPointFor,
  participantNoise,
  type RandomSource,
  ringScale,
  roundingNormBound,
  secureVectorLength,
  seededSource,
} from '@fedtune/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { examplePrivacy, participantPrivacy as privacy } from '../../privacy-fixture.ts'

afterEach(() => {
  vi.unstubAllGlobals()
})

const dimension = 3000
/** The coordinator's ring plan for such a round (ring-fit.ts): 10 participants, at least 4 survive. */
const plan = ringScale({
  participants: 10,
  minParticipants: privacy.minParticipants,
  clip: privacy.clipNorm,
  noiseMultiplier: privacy.noiseMultiplier,
  dimension,
})
const fp: FixedPoint = { clipNorm: privacy.clipNorm, scale: plan.scale, maxExamples: 1 }

describe('a participant’s share of the distributed discrete Gaussian', () => {
  it('is (z·C·s)² / minParticipants rounded up to the sampler’s integer: the coordinator’s ring plan to the last bit', () => {
    const noise = participantNoise(privacy, plan.scale, dimension)
    expect(noise.sigmaSquared).toBe(plan.sigmaSquared)
    expect(noise.l2Sensitivity).toBe(plan.bound)
    expect(noise.l2Sensitivity).toBe(
      roundingNormBound({ clip: privacy.clipNorm, scale: plan.scale, dimension }),
    )
    expect(Number.isInteger(noise.sigmaSquared)).toBe(true)
  })

  it('so any minParticipants survivors carry at least (z·C·s)², a hair more for the rounding up', () => {
    for (const scale of [1, 64, 2 ** 10, plan.scale]) {
      const { sigmaSquared } = participantNoise(privacy, scale, dimension)
      const full = (privacy.noiseMultiplier * privacy.clipNorm * scale) ** 2
      expect(privacy.minParticipants * sigmaSquared).toBeGreaterThanOrEqual(full)
      // roundVarianceUp adds at most about 2σ_i per participant
      expect(privacy.minParticipants * sigmaSquared).toBeLessThanOrEqual(
        full + privacy.minParticipants * (2 * Math.sqrt(full / privacy.minParticipants) + 2),
      )
    }
  })

  it('refuses a scale that is not a positive number, naming it', () => {
    expect(() => participantNoise(privacy, 0, dimension)).toThrow(
      'participantNoise: expected a positive finite fixed-point scale, got 0',
    )
  })
})

/** n words of the round's secure sum, as the coordinator unmasks it: each participant's vector added. */
function sumOf(vectors: readonly Uint32Array[]): Uint32Array {
  const sum = new Uint32Array(vectors[0]?.length ?? 0)
  for (const v of vectors) addInto(sum, v)
  return sum
}

function variance(values: Float64Array): { mean: number; variance: number } {
  let mean = 0
  for (const v of values) mean += v
  mean /= values.length
  let squares = 0
  for (const v of values) squares += (v - mean) ** 2
  return { mean, variance: squares / (values.length - 1) }
}

describe('a participant-level private contribution', () => {
  it('is [rounded Δ + noise…, 1]: the decoded sum of minParticipants zero updates has variance (z·C)² per coordinate', () => {
    const m = privacy.minParticipants
    const zero = new Float32Array(dimension)
    const vectors = Array.from({ length: m }, (_, i) =>
      encodeParticipantPrivateContribution(zero, privacy, fp, seededSource(i + 1)),
    )
    expect(vectors[0]).toHaveLength(secureVectorLength(dimension, 2, true))
    const decoded = decodeSecureSum(sumOf(vectors), dimension, 2, fp, true)
    expect(decoded.examples).toBe(m)
    expect(decoded.labelCounts).toBeNull()
    const { mean, variance: v } = variance(decoded.weightedSum.subarray(0, dimension))
    const expected = (m * plan.sigmaSquared) / plan.scale ** 2
    // 3000 coordinates: the sample variance is within ±3·√(2/3000) ≈ 8 % of the true one
    expect(v / expected).toBeGreaterThan(0.92)
    expect(v / expected).toBeLessThan(1.08)
    expect(expected).toBeGreaterThanOrEqual((privacy.noiseMultiplier * privacy.clipNorm) ** 2)
    expect(Math.abs(mean)).toBeLessThan((4 * Math.sqrt(expected)) / Math.sqrt(dimension))
  })

  it('clips each update to C before the noise: the sum’s mean is Σ clip(Δ)', () => {
    const deltas = [0.001, -0.002, 0.0005].map((x) => new Float32Array(dimension).fill(x))
    const clipped = deltas.map((d) => {
      const norm = Math.sqrt(d.reduce((a, x) => a + x * x, 0))
      return Math.min(1, privacy.clipNorm / norm) * (d[0] as number)
    })
    const vectors = deltas.map((d, i) =>
      encodeParticipantPrivateContribution(d, privacy, fp, seededSource(100 + i)),
    )
    const decoded = decodeSecureSum(sumOf(vectors), dimension, 2, fp, true)
    const { mean } = variance(decoded.weightedSum.subarray(0, dimension))
    const noiseStd = Math.sqrt((3 * plan.sigmaSquared) / plan.scale ** 2 / dimension)
    expect(Math.abs(mean - clipped.reduce((a, b) => a + b, 0))).toBeLessThan(5 * noiseStd)
  })

  it('refuses to encode without a cryptographic source: ProtocolError "unsupported", nothing returned', () => {
    vi.stubGlobal('crypto', {})
    expect(() => encodeParticipantPrivateContribution(new Float32Array(4), privacy, fp)).toThrow(
      expect.objectContaining({
        code: 'unsupported',
        message: expect.stringMatching(/crypto.getRandomValues/),
      }),
    )
  })

  it('refuses a round whose fixed point clips to another norm than the task’s C', () => {
    expect(() =>
      encodeParticipantPrivateContribution(
        new Float32Array(4),
        privacy,
        { ...fp, clipNorm: 5 },
        seededSource(1),
      ),
    ).toThrow(
      "participant-level privacy: expected the round's fixed point to clip to the task's C = 0.5 with maxExamples 1, got clipNorm 5 and maxExamples 1",
    )
  })
})

describe('what a participant masks, by the task’s privacy', () => {
  const delta = Float32Array.of(0.25, -0.5, 0.125, 0)
  const contribution = {
    delta,
    examples: 36,
    labelCounts: [10, 26],
    evaluation: emptyEvaluationCounts(2),
  }
  const plainFp = fixedPointFor({ participants: 3, maxExamples: 100, clipNorm: 10 })
  const privateFp = fixedPointFor({ participants: 3, maxExamples: 1, clipNorm: 10 })
  const never = (): RandomSource => {
    throw new Error('no noise is drawn here')
  }

  it('without privacy: the update weighted by its examples, with the label and evaluation counts', () => {
    const words = encodeRoundContribution(contribution, null, plainFp, never)
    expect(words).toHaveLength(secureVectorLength(4, 2))
    expect(words[4]).toBe(36)
    expect(Array.from(words.subarray(5, 7))).toEqual([10, 26])
  })

  it('unit "example": Δ (private already) with weight 1 and the word 1, no counts and no noise drawn', () => {
    const example: ExamplePrivacy = { ...examplePrivacy, rounds: 5, samplingRate: 0.1, stepsPerRound: 10 }
    const words = encodeRoundContribution(contribution, example, privateFp, never)
    expect(Array.from(words)).toEqual([
      ...Array.from(delta, (x) => (Math.round(x * privateFp.scale) + 2 ** 32) % 2 ** 32),
      1,
    ])
  })

  it('unit "participant": noised from the source it is given, [Δ + noise…, 1]', () => {
    const random = vi.fn(() => seededSource(7))
    const words = encodeRoundContribution(contribution, privacy, fp, random)
    expect(random).toHaveBeenCalledOnce()
    expect(words).toHaveLength(5)
    expect(words[4]).toBe(1)
    expect(words).toEqual(encodeParticipantPrivateContribution(delta, privacy, fp, seededSource(7)))
  })
})
