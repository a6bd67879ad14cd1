import {
  countEvaluation,
  type Dataset,
  dpSgdSteps,
  evaluatePredictions,
  localRound,
  metricsLine,
  predictHead,
  secureContribution,
} from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import {
  type ExamplePrivacy,
  emptyEvaluationCounts,
  type HeadSpec,
  type ParticipantPrivacy,
  type RoundStart,
  seededSource,
  type TrainingSettings,
} from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it, vi } from 'vitest'

beforeAll(async () => {
  await initBackend()
})

/** A linear head on two inputs: its weights are the 2×2 output kernel, then the two biases. */
const spec: HeadSpec = { layers: [], labels: ['normal', 'pneumonia'] }
const inputDim = 2
const training: TrainingSettings = {
  epochs: 40,
  batchSize: 8,
  optimizer: 'adam',
  learningRate: 0.1,
  classWeights: 'none',
  loss: 'cross-entropy',
  prior: null,
  seed: 1,
}

/** Class 0 at (1, 0), class 1 at (0, 1): a head trained on it tells them apart. */
function points(labels: number[]): Dataset {
  const x = new Float32Array(labels.flatMap((c) => (c === 0 ? [1, 0] : [0, 1])))
  return { x, y: Int32Array.from(labels), n: labels.length, dim: inputDim }
}
const train = points([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
const val = points([0, 0, 0, 1, 1])

/** A received head that ignores its input: biases (0, 2) make it say "pneumonia" for everything. */
const saysPneumonia = Float32Array.from([0, 0, 0, 0, 0, 2])
const round = (weights: Float32Array, predictionPrior: number[] | null = null): RoundStart => ({
  round: 4,
  weights,
  training,
  deadlineMs: 60_000,
  secagg: null,
  predictionPrior,
})

describe('a participant’s round', () => {
  it('counts the received global head on its validation split, not the head it trains from it', () => {
    const before = tf.memory().numTensors
    const result = localRound(spec, inputDim, { train, val }, round(saysPneumonia))
    expect(tf.memory().numTensors).toBe(before)
    // every validation example predicted "pneumonia": column 1 of the confusion matrix only
    expect(result.metrics.evaluation.confusion).toEqual([0, 3, 0, 2])
    const probs = predictHead(spec, inputDim, saysPneumonia, val.x, val.n)
    expect(result.metrics.evaluation).toEqual(countEvaluation(probs, val.y, 2))
    // the head it trained tells the classes apart, so its counts would differ
    const trained = saysPneumonia.map((w, i) => w + (result.delta[i] as number))
    const trainedCounts = countEvaluation(predictHead(spec, inputDim, trained, val.x, val.n), val.y, 2)
    expect(trainedCounts.confusion).toEqual([3, 0, 0, 2])
    expect(secureContribution(result).evaluation).toBe(result.metrics.evaluation)
  })

  it('keeps the exact metrics of the received head for the site, with the one-class flag', () => {
    const result = localRound(spec, inputDim, { train, val }, round(saysPneumonia))
    const probs = predictHead(spec, inputDim, saysPneumonia, val.x, val.n)
    expect(result.received).toEqual(evaluatePredictions(probs, val.y, 2))
    expect(result.received).toMatchObject({ examples: 5, accuracy: 0.4, balancedAccuracy: 0.5 })
    expect(result.received?.perClass.map((c) => c.recall)).toEqual([0, 1])
    expect(result.received?.dominant).toEqual({ label: 1, share: 1 })
  })

  it('prints as one line a clinician reads: ACC, balanced ACC, AUC, recall per class, sensitivity and specificity', () => {
    const { received } = localRound(spec, inputDim, { train, val }, round(saysPneumonia))
    expect(received && metricsLine(received, spec.labels)).toBe(
      'ACC 0.400; balanced ACC 0.500; AUC 0.500; recall normal 0.000, pneumonia 1.000; sensitivity 1.000, specificity 0.000 ("pneumonia" positive)',
    )
  })

  it('predicts with the round’s prediction prior folded into the received head', () => {
    // biases (0, 1) lean to "pneumonia" (p = 0.73); a prior of (0.9, 0.1) turns every prediction to "normal"
    const leaning = Float32Array.from([0, 0, 0, 0, 0, 1])
    const plain = localRound(spec, inputDim, { train, val }, round(leaning))
    expect(plain.metrics.evaluation.confusion).toEqual([0, 3, 0, 2])
    const withPrior = localRound(spec, inputDim, { train, val }, round(leaning, [0.9, 0.1]))
    expect(withPrior.metrics.evaluation.confusion).toEqual([3, 0, 2, 0])
    // the prior changes what is measured, not what is trained
    expect(withPrior.delta).toEqual(plain.delta)
  })

  it('a participant with no validation examples contributes zero counts and has no figures of its own', () => {
    const result = localRound(spec, inputDim, { train, val: points([]) }, round(saysPneumonia))
    expect(result.metrics.evaluation).toEqual(emptyEvaluationCounts(2))
    expect(result.received).toBeNull()
    expect(result.examples).toBe(12)
  })
})

describe('a participant’s round under the task’s privacy', () => {
  const example: ExamplePrivacy = {
    unit: 'example',
    epsilon: 3,
    delta: 1e-5,
    clipNorm: 1,
    noiseMultiplier: 1.1,
    rounds: 5,
    samplingRate: 0.25,
    stepsPerRound: dpSgdSteps(2, 0.25),
  }
  const participant: ParticipantPrivacy = {
    unit: 'participant',
    epsilon: 8,
    delta: 1e-5,
    clipNorm: 1,
    noiseMultiplier: 1,
    rounds: 5,
    minParticipants: 3,
  }
  const short = (weights: Float32Array): RoundStart => ({
    ...round(weights),
    training: { ...training, epochs: 2 },
  })

  it('unit "example": trains with DP-SGD from the source it is given, dpSgdSteps(epochs, q) steps, no tensor left', () => {
    const before = tf.memory().numTensors
    const random = vi.fn(() => seededSource(3))
    const result = localRound(spec, inputDim, { train, val }, short(saysPneumonia), {
      privacy: example,
      random,
    })
    expect(tf.memory().numTensors).toBe(before)
    expect(random).toHaveBeenCalledOnce()
    expect(result.privateSteps).toBe(dpSgdSteps(2, 0.25))
    expect(result.delta.every(Number.isFinite)).toBe(true)
    // the same seeded source gives the same private update: the noise and sampling come from it alone
    const again = localRound(spec, inputDim, { train, val }, short(saysPneumonia), {
      privacy: example,
      random: () => seededSource(3),
    })
    expect(again.delta).toEqual(result.delta)
    // the site still sees the received head on its own images; the counts stay local (what is sent is the encoder's choice)
    expect(result.received).toMatchObject({ examples: 5 })
    expect(result.examples).toBe(12)
  })

  it('unit "example": without a random source the round fails untrained', () => {
    expect(() =>
      localRound(spec, inputDim, { train, val }, short(saysPneumonia), {
        privacy: example,
        random: () => {
          throw new Error('no crypto.getRandomValues')
        },
      }),
    ).toThrow('no crypto.getRandomValues')
  })

  it('unit "participant": trains as usual (the noise is added when the update is encoded)', () => {
    const plain = localRound(spec, inputDim, { train, val }, short(saysPneumonia))
    const result = localRound(spec, inputDim, { train, val }, short(saysPneumonia), { privacy: participant })
    expect(result.privateSteps).toBeNull()
    expect(plain.privateSteps).toBeNull()
    expect(result.delta).toEqual(plain.delta)
  })
})
