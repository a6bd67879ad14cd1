import { countEvaluation } from '@fedtune/model'
import {
  addEvaluationCounts,
  addInto,
  decodeSecureSum,
  emptyEvaluationCounts,
  encodeSecureContribution,
  evaluationCountsLength,
  fixedPointFor,
  ProtocolError,
  secureVectorLength,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

const params = 4
const classes = 3
const fixedPoint = fixedPointFor({ participants: 2, maxExamples: 1000, clipNorm: 10 })

/** The counts of a head scoring `rows` (one probability row per example) on examples labelled `labels`. */
const counts = (labels: number[], rows: number[][]) =>
  countEvaluation(Float32Array.from(rows.flat()), Int32Array.from(labels), classes)

const a = {
  delta: Float32Array.from([0.5, -0.25, 0, 1]),
  examples: 6,
  labelCounts: [3, 2, 1],
  evaluation: counts(
    [0, 1, 2],
    [
      [0.7, 0.2, 0.1],
      [0.6, 0.3, 0.1],
      [0.1, 0.1, 0.8],
    ],
  ),
}
const b = {
  delta: Float32Array.from([-0.5, 0.5, 0.25, 0]),
  examples: 4,
  labelCounts: [0, 1, 3],
  evaluation: counts(
    [1, 1],
    [
      [0.2, 0.5, 0.3],
      [0.05, 0.05, 0.9],
    ],
  ),
}

/** What secure aggregation reveals: the sum of the encoded contributions mod 2^32. */
function summed(...vectors: Uint32Array[]): Uint32Array {
  const sum = new Uint32Array(secureVectorLength(params, classes))
  for (const v of vectors) addInto(sum, v)
  return sum
}

describe('the secure vector', () => {
  it('is [n·clip(Δ) (params), n, label counts (C), evaluation counts]', () => {
    expect(secureVectorLength(params, classes)).toBe(params + 1 + classes + evaluationCountsLength(classes))
    const words = encodeSecureContribution(a, fixedPoint)
    expect(words.length).toBe(secureVectorLength(params, classes))
    expect(Array.from(words.subarray(params, params + 1 + classes))).toEqual([6, 3, 2, 1])
  })

  it('the sum of two contributions decodes to their summed update, label counts and evaluation counts', () => {
    const sum = decodeSecureSum(
      summed(encodeSecureContribution(a, fixedPoint), encodeSecureContribution(b, fixedPoint)),
      params,
      classes,
      fixedPoint,
    )
    expect(sum.examples).toBe(10)
    expect(sum.labelCounts).toEqual([3, 3, 4])
    expect(Array.from(sum.weightedSum)).toEqual([6 * 0.5 - 4 * 0.5, 6 * -0.25 + 4 * 0.5, 4 * 0.25, 6, 10])
    expect(sum.evaluation).toEqual({ ok: true, counts: addEvaluationCounts(a.evaluation, b.evaluation) })
  })

  it('a participant with no validation examples adds zero counts', () => {
    const none = { ...b, evaluation: emptyEvaluationCounts(classes) }
    const sum = decodeSecureSum(
      summed(encodeSecureContribution(a, fixedPoint), encodeSecureContribution(none, fixedPoint)),
      params,
      classes,
      fixedPoint,
    )
    expect(sum.evaluation).toEqual({ ok: true, counts: a.evaluation })
  })

  it('a sum whose counts do not add up (a participant sent inconsistent ones) decodes without throwing, flagged with the reason', () => {
    const lying = encodeSecureContribution(b, fixedPoint)
    // three more examples of class 0 predicted right, in the confusion matrix only
    const confusionStart = params + 1 + classes
    lying[confusionStart] = (lying[confusionStart] as number) + 3
    const sum = decodeSecureSum(
      summed(encodeSecureContribution(a, fixedPoint), lying),
      params,
      classes,
      fixedPoint,
    )
    expect(sum.evaluation).toEqual({
      ok: false,
      reason:
        'the pooled evaluation counts: the confusion matrix counts 8 examples, the confidence histogram 5',
    })
    expect(sum.labelCounts).toEqual([3, 3, 4])
    expect(sum.examples).toBe(10)
  })

  it("a participant's own inconsistent or misshapen counts are refused before they are masked", () => {
    const words = [...a.evaluation.confusion]
    words[0] = (words[0] as number) + 1
    expect(() =>
      encodeSecureContribution({ ...a, evaluation: { ...a.evaluation, confusion: words } }, fixedPoint),
    ).toThrow(
      new ProtocolError(
        'malformed',
        'secure contribution: evaluation counts: the confusion matrix counts 4 examples, the confidence histogram 3',
      ),
    )
    expect(() =>
      encodeSecureContribution({ ...a, evaluation: emptyEvaluationCounts(2) }, fixedPoint),
    ).toThrow(/expected \d+ counts for 3 classes, got \d+/)
  })

  it('a sum of the wrong length is refused', () => {
    expect(() =>
      decodeSecureSum(new Uint32Array(params + 1 + classes + 2), params, classes, fixedPoint),
    ).toThrow(
      `secure sum: expected ${secureVectorLength(params, classes)} words, got ${params + 1 + classes + 2}`,
    )
  })
})
