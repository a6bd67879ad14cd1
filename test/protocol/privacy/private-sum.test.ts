import {
  addInto,
  decodeSecureSum,
  encodeExamplePrivateContribution,
  fixedPointFor,
  PRIVATE_NO_EVALUATION,
  secureVectorLength,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

describe('the secure vector of a private task', () => {
  it('is the update and a 1, no counts: the sum gives Σ Δ over the contributors and how many there were', () => {
    const params = 4
    const classes = 3
    expect(secureVectorLength(params, classes, true)).toBe(params + 1)
    expect(secureVectorLength(params, classes)).toBeGreaterThan(params + 1 + classes)
    const fp = fixedPointFor({ participants: 3, maxExamples: 1, clipNorm: 10 })
    const deltas = [
      Float32Array.of(0.5, -0.25, 1, 0),
      Float32Array.of(-1, 0.75, 2, 0.125),
      Float32Array.of(0.25, 0, -3, 1),
    ]
    const sum = new Uint32Array(params + 1)
    for (const d of deltas) addInto(sum, encodeExamplePrivateContribution(d, fp))
    const decoded = decodeSecureSum(sum, params, classes, fp, true)
    expect(decoded.examples).toBe(3)
    expect(Array.from(decoded.weightedSum)).toEqual([-0.25, 0.5, 0, 1.125, 3])
    expect(decoded.labelCounts).toBeNull()
    expect(decoded.evaluation).toEqual({ ok: false, reason: PRIVATE_NO_EVALUATION })
  })

  it('refuses a sum of the other layout’s length', () => {
    const fp = fixedPointFor({ participants: 3, maxExamples: 1, clipNorm: 10 })
    expect(() => decodeSecureSum(new Uint32Array(secureVectorLength(4, 3)), 4, 3, fp, true)).toThrow(
      'secure sum: expected 5 words',
    )
  })
})
