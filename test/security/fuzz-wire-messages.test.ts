import {
  type Challenge,
  checkHelloProof,
  confidenceBin,
  emptyEvaluationCounts,
  encodeWeights,
  type FixedPoint,
  fixedPointFor,
  flattenEvaluationCounts,
  type HeadSpec,
  PROTOCOL_VERSION,
  paramCount,
  parseChallenge,
  parseFinished,
  parseHeadSpec,
  parseHello,
  parseHelloAck,
  parseRoundResult,
  parseRoundStart,
  parseSecaggSetup,
  parseTaskInfo,
  parseUpdate,
  parseUpdateAck,
  SCORE_BINS,
  scoreBin,
  secureRoundContext,
  secureVectorLength,
  signHello,
  type TaskInfo,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import * as fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { CaseTally, inputsLike, junk, outcome, reportTally, runs } from './fuzz.ts'

/**
 * Every inbound parser of the main wire (protocol/src/messages.ts), on both sides of it: what the
 * coordinator parses (hello and its proof, update) and what a participant parses (challenge, hello
 * ack and its task, round start and its secure setup, update ack, round result, finished). Each
 * input gives a typed value or a ProtocolError with a known code, never another exception, and no
 * case takes longer than CASE_BOUND_MS.
 *
 * Cases in this file: 40,000 (of the ≥ 100,000 the fuzz files run together).
 */
const tally = new CaseTally()
afterAll(() => reportTally('wire messages', tally))

const head: HeadSpec = { layers: [{ type: 'dense', units: 4, activation: 'relu' }], labels: ['a', 'b', 'c'] }
const embeddingDim = 8
const params = paramCount(head, embeddingDim)
const classes = head.labels.length
const digest = 'ab'.repeat(32)
const fixedPoint: FixedPoint = fixedPointFor({ participants: 3, maxExamples: 1000, clipNorm: 10 })
const task: TaskInfo = {
  taskId: 'chest-xray',
  name: 'Chest X-ray',
  description: 'pneumonia or not',
  rounds: 5,
  backbone: {
    digest,
    path: `/backbone/${digest}/`,
    files: [
      { name: 'model.json', sha256: 'cd'.repeat(32), bytes: 1234 },
      { name: 'group1-shard1of1.bin', sha256: 'ef'.repeat(32), bytes: 99 },
    ],
    inputSize: 224,
    embeddingDim,
    views: ['original'],
  },
  head,
  ordinal: false,
  paramCount: params,
  aggregation: 'secure',
  browsers: { enabled: true, maxPerRound: 2 },
  privacy: null,
  inputCentre: null,
}
const seeds = [1, 2, 3].map((i) => new Uint8Array(32).fill(i))
const challenge: Challenge = { taskId: task.taskId, nonce: new Uint8Array(32).fill(7) }
const hello = signHello(nodeCrypto, seeds[0] as Uint8Array, challenge, {
  protocol: PROTOCOL_VERSION,
  participant: 'hospital-a',
  kind: 'hospital',
  agent: 'fedtune-client/0.1.0 wasm',
})
const secagg = {
  setup: {
    taskId: task.taskId,
    round: 3,
    identityKeys: seeds.map((s) => nodeCrypto.ed25519PublicKey(s)),
    neighbourCount: 3,
    neighbourSeed: new Uint8Array(32).fill(9),
    threshold: 2,
    dim: secureVectorLength(params, classes),
  },
  fixedPoint,
}
const training = {
  epochs: 2,
  batchSize: 32,
  optimizer: 'adam',
  learningRate: 0.001,
  classWeights: 'none',
  loss: 'logit-adjusted',
  prior: [0.5, 0.25, 0.25],
  seed: 42,
}
const weights = encodeWeights(new Float32Array(params).map((_, i) => (i % 7) / 10 - 0.3))
const roundStart = {
  round: 3,
  weights,
  training,
  deadlineMs: 60_000,
  secagg,
  predictionPrior: [0.5, 0.25, 0.25],
}
const plaintextRoundStart = {
  ...roundStart,
  secagg: null,
  training: { ...training, prior: null },
  predictionPrior: null,
}
/** Four validation examples of class 1, three predicted right: counts that add up. */
const evaluation = (() => {
  const c = emptyEvaluationCounts(classes)
  const confusion = [0, 0, 0, 0, 3, 1, 0, 0, 0]
  const positives = [...c.positives]
  const negatives = [...c.negatives]
  positives[SCORE_BINS + scoreBin(0.8)] = 4
  negatives[scoreBin(0.1)] = 4
  negatives[2 * SCORE_BINS + scoreBin(0.1)] = 4
  const confidence = [...c.confidence]
  const correct = [...c.correct]
  confidence[confidenceBin(0.8)] = 4
  correct[confidenceBin(0.8)] = 3
  return flattenEvaluationCounts({ confusion, positives, negatives, confidence, correct })
})()
const update = {
  round: 3,
  delta: weights,
  examples: 10,
  labelCounts: [5, 3, 2],
  metrics: { trainLoss: 0.7, evaluation },
}

describe('fuzzing the coordinator side of the wire: every input is a typed value or a coded refusal', () => {
  it('hello, parsed and its proof checked as the socket shell does', () => {
    fc.assert(
      fc.property(inputsLike(hello), (raw) => {
        outcome(tally, () => {
          const parsed = parseHello(raw)
          checkHelloProof(nodeCrypto, parsed, challenge)
          return parsed
        })
      }),
      runs(8000),
    )
  })

  it('update', () => {
    fc.assert(
      fc.property(inputsLike(update), (raw) => {
        outcome(tally, () => parseUpdate(raw, params, classes))
      }),
      runs(6000),
    )
  })
})

describe('fuzzing the participant side of the wire: every input is a typed value or a coded refusal', () => {
  it('challenge', () => {
    fc.assert(
      fc.property(inputsLike(challenge), (raw) => {
        outcome(tally, () => parseChallenge(raw))
      }),
      runs(3000),
    )
  })

  it('hello ack, with the task it carries, and its refusal', () => {
    fc.assert(
      fc.property(
        inputsLike({ ok: true, task }, { ok: false, code: 'identity-mismatch', reason: 'not yours' }),
        (raw) => {
          outcome(tally, () => parseHelloAck(raw))
        },
      ),
      runs(6000),
    )
  })

  it('round start, and the secure setup checked against the task as a participant does', () => {
    fc.assert(
      fc.property(inputsLike(roundStart, plaintextRoundStart), (raw) => {
        outcome(tally, () => {
          const round = parseRoundStart(raw, params, classes)
          return round.secagg === null ? round : { round, context: secureRoundContext(task, round) }
        })
      }),
      runs(7000),
    )
  })

  it('update ack, round result and finished', () => {
    fc.assert(
      fc.property(
        inputsLike(
          { ok: true },
          { ok: false, code: 'wrong-round', reason: 'round 2 is over' },
          { round: 3, status: 'aggregated', reason: null, participants: 3, accuracy: 0.9, auc: 0.95 },
          { round: 3, status: 'failed', reason: 'too few', participants: 1, accuracy: null, auc: null },
          { rounds: 5, completed: 4 },
        ),
        (raw) => {
          outcome(tally, () => parseUpdateAck(raw))
          outcome(tally, () => parseRoundResult(raw))
          outcome(tally, () => parseFinished(raw))
        },
      ),
      runs(2000),
    )
  })

  it('task info, secure setup and head spec on their own', () => {
    fc.assert(
      fc.property(
        inputsLike(task, secagg.setup, head),
        fc.oneof(junk, fc.constant(undefined)),
        (raw, where) => {
          outcome(tally, () => parseTaskInfo(raw))
          outcome(tally, () => parseSecaggSetup(raw))
          outcome(tally, () => parseHeadSpec(raw, typeof where === 'string' ? where : 'head'))
        },
      ),
      runs(2000),
    )
  })
})

describe('what the fuzzing found, pinned', () => {
  it('a head spec with a BigInt or ten thousand levels of nesting is refused with invalid-spec, not a TypeError or RangeError', () => {
    let deep: unknown = 'a'
    for (let i = 0; i < 10_000; i++) deep = [deep]
    expect(() => parseHeadSpec({ layers: [{ type: 1n }], labels: ['a', 'b'] })).toThrow(
      /layers\[0\]\.type: expected "dense" or "dropout", got bigint/,
    )
    expect(() => parseHeadSpec({ layers: [], labels: deep })).toThrow(
      /expected at least two non-empty class names/,
    )
  })

  it('a list with a hole is refused like a list with undefined in it, not parsed into a value with a hole', () => {
    const holes = (length: number, ...items: unknown[]) => Object.assign(new Array(length), items)
    expect(() =>
      parseHeadSpec({ layers: holes(2, { type: 'dropout', rate: 0.1 }), labels: ['a', 'b'] }),
    ).toThrow(/layers\[1\]: expected an object/)
    expect(() => parseHeadSpec({ layers: [], labels: holes(3, 'a', 'b') })).toThrow(/non-empty class names/)
    expect(() => parseUpdate({ ...update, labelCounts: holes(3, 5, 5) }, params, classes)).toThrow(
      /update.labelCounts.2: expected an integer/,
    )
    const gappy = holes(evaluation.length, ...evaluation.slice(0, 3))
    expect(() =>
      parseUpdate({ ...update, metrics: { trainLoss: 0.7, evaluation: gappy } }, params, classes),
    ).toThrow('update.metrics.evaluation: expected non-negative integer counts, got undefined at 3')
    // the setup's identity keys travel packed in one byte string: a list, with holes or not, is refused
    expect(() =>
      parseSecaggSetup({ ...secagg.setup, identityKeys: holes(4, new Uint8Array(32), new Uint8Array(32)) }),
    ).toThrow(/identityKeys: expected 1 to 100000 keys of 32 bytes concatenated, got an array of 4 items/)
  })
})
