import {
  confidenceBin,
  connectRefusal,
  type EvaluationCounts,
  emptyEvaluationCounts,
  encodeWeights,
  flattenEvaluationCounts,
  type HeadSpec,
  PROTOCOL_VERSION,
  paramCount,
  paramShapes,
  parseChallenge,
  parseConnectionAuth,
  parseHeadSpec,
  parseHello,
  parseHelloAck,
  parseRefused,
  parseRoundStart,
  parseTaskInfo,
  parseUpdate,
  SCORE_BINS,
  scoreBin,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

const spec: HeadSpec = {
  layers: [
    { type: 'dense', units: 256, activation: 'relu' },
    { type: 'dropout', rate: 0.2 },
  ],
  labels: ['normal', 'pneumonia'],
}

describe('head spec', () => {
  it('lays parameters out as kernel then bias per dense layer, the softmax output last', () => {
    expect(paramShapes(spec, 1280)).toEqual([
      { name: 'dense0/kernel', shape: [1280, 256] },
      { name: 'dense0/bias', shape: [256] },
      { name: 'output/kernel', shape: [256, 2] },
      { name: 'output/bias', shape: [2] },
    ])
    expect(paramCount(spec, 1280)).toBe(1280 * 256 + 256 + 256 * 2 + 2)
  })

  it('a logistic-regression head has only the output layer', () => {
    expect(paramCount({ layers: [], labels: ['a', 'b', 'c'] }, 10)).toBe(33)
  })

  it('refuses unknown layer types, bad rates and duplicate labels with the field named', () => {
    expect(() => parseHeadSpec({ layers: [{ type: 'conv' }], labels: ['a', 'b'] })).toThrow(
      'head.layers[0].type: expected "dense" or "dropout", got "conv"',
    )
    expect(() => parseHeadSpec({ layers: [{ type: 'dropout', rate: 1 }], labels: ['a', 'b'] })).toThrow(
      /head.layers\[0\].rate: expected a number in \[0, 1\)/,
    )
    expect(() => parseHeadSpec({ layers: [], labels: ['a', 'a'] })).toThrow(/distinct/)
  })
})

describe('messages from outside', () => {
  const hello = {
    protocol: PROTOCOL_VERSION,
    participant: 'hospital-1',
    kind: 'hospital',
    agent: 'test',
    identityKey: new Uint8Array(32).fill(9),
    proof: new Uint8Array(64).fill(5),
  }

  it('a hello in the current protocol version is accepted', () => {
    expect(parseHello(hello)).toEqual(hello)
  })

  it('a hello must carry a 64-byte proof (whether it verifies is the coordinator’s check)', () => {
    const { proof: _, ...unproven } = hello
    expect(() => parseHello(unproven)).toThrow('hello.proof: expected 64 bytes, got undefined')
    expect(() => parseHello({ ...hello, proof: new Uint8Array(63) })).toThrow(
      'hello.proof: expected 64 bytes, got',
    )
  })

  it('a hello may carry an enrolment code of 16 to 128 URL-safe characters, kept as said', () => {
    const invited = { ...hello, invite: 'Q3x_9-abcdefGHIJ' }
    expect(parseHello(invited)).toEqual(invited)
    expect(parseHello({ ...hello, invite: 'a'.repeat(128) }).invite).toBe('a'.repeat(128))
    expect('invite' in parseHello(hello)).toBe(false)
  })

  it('a bad enrolment code is refused with what was expected, and the code itself is never quoted', () => {
    const expected = 'hello.invite: expected 16 to 128 letters, digits, "_" or "-", got'
    const cases: [unknown, string][] = [
      ['short-code', `${expected} a string of 10 characters`],
      ['a'.repeat(129), `${expected} a string of 129 characters`],
      ['has spaces in it, sixteen+', `${expected} a string of 26 characters with others among them`],
      [42, `${expected} number 42`],
      [null, `${expected} null`],
    ]
    for (const [invite, message] of cases) {
      let error: unknown
      try {
        parseHello({ ...hello, invite })
      } catch (e) {
        error = e
      }
      expect(error).toMatchObject({ code: 'malformed', message })
    }
  })

  it('a connection’s handshake names its task, or none; a name outside the task alphabet is refused', () => {
    expect(parseConnectionAuth({ task: 'chest-xray.v2' })).toEqual({ task: 'chest-xray.v2' })
    expect(parseConnectionAuth({})).toEqual({})
    expect(parseConnectionAuth(undefined)).toEqual({})
    expect(() => parseConnectionAuth({ task: '../admin' })).toThrow(
      'auth.task: expected a string matching /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, got "../admin"',
    )
    expect(() => parseConnectionAuth({ task: 'x'.repeat(65) })).toThrow(
      /auth.task: expected a string matching/,
    )
    expect(() => parseConnectionAuth('chest')).toThrow('auth: expected an object, got "chest"')
  })

  it('a refused event is a refusal: ok false, a code and a reason', () => {
    expect(parseRefused({ ok: false, code: 'revoked', reason: 'an operator revoked hospital-1' })).toEqual({
      ok: false,
      code: 'revoked',
      reason: 'an operator revoked hospital-1',
    })
    expect(() => parseRefused({ ok: true })).toThrow('refused.ok: expected false, got boolean true')
  })

  it('a connection refused before its challenge carries its refusal in the connect error’s data', () => {
    const refused = Object.assign(new Error('unknown-task'), {
      data: { ok: false, code: 'unknown-task', reason: 'no task "x"; open: chest, skin' },
    })
    expect(connectRefusal(refused)).toEqual({
      ok: false,
      code: 'unknown-task',
      reason: 'no task "x"; open: chest, skin',
    })
    expect(connectRefusal(new Error('xhr poll error'))).toBeUndefined()
    expect(connectRefusal(Object.assign(new Error('e'), { data: { content: 'other' } }))).toBeUndefined()
    expect(() => connectRefusal(Object.assign(new Error('e'), { data: { ok: false } }))).toThrow(
      /refused.code/,
    )
  })

  it('a challenge is a task id and a 32-byte nonce', () => {
    const challenge = { taskId: 'chest-xray', nonce: new Uint8Array(32).fill(1) }
    expect(parseChallenge(challenge)).toEqual(challenge)
    expect(() => parseChallenge({ ...challenge, nonce: new Uint8Array(16) })).toThrow(
      'challenge.nonce: expected 32 bytes, got',
    )
    expect(() => parseChallenge({ nonce: challenge.nonce })).toThrow(/challenge.taskId/)
  })

  it('a hello must carry a 32-byte Ed25519 identity key', () => {
    expect(() => parseHello({ ...hello, identityKey: new Uint8Array(31) })).toThrow(
      'hello.identityKey: expected 32 bytes, got',
    )
    expect(() => parseHello({ ...hello, identityKey: 'abc' })).toThrow(
      'hello.identityKey: expected 32 bytes, got "abc"',
    )
  })

  it('a client speaking another protocol version is refused with both versions named', () => {
    expect(() => parseHello({ ...hello, protocol: 'fedtune/0' })).toThrow(
      `hello.protocol: expected "${PROTOCOL_VERSION}", got "fedtune/0"`,
    )
  })

  it('participant names are restricted to a safe alphabet', () => {
    expect(() => parseHello({ ...hello, participant: '../etc' })).toThrow(
      /hello.participant: expected a string matching/,
    )
    expect(() => parseHello('hello')).toThrow('hello: expected an object, got "hello"')
  })

  /** Counts of 12 validation examples of class 0, 9 predicted right with confidence 0.8, 3 wrong with 0.7. */
  const twelve: EvaluationCounts = (() => {
    const c = emptyEvaluationCounts(2)
    const confusion = [9, 3, 0, 0]
    const positives = [...c.positives]
    const negatives = [...c.negatives]
    positives[scoreBin(0.8)] = 9 // class 0's score on its own examples
    positives[scoreBin(0.3)] = 3
    negatives[SCORE_BINS + scoreBin(0.2)] = 9 // class 1's score on class-0 examples
    negatives[SCORE_BINS + scoreBin(0.7)] = 3
    const confidence = [...c.confidence]
    const correct = [...c.correct]
    confidence[confidenceBin(0.8)] = 9
    confidence[confidenceBin(0.7)] = 3
    correct[confidenceBin(0.8)] = 9
    return { confusion, positives, negatives, confidence, correct }
  })()
  const update = (delta: Uint8Array, extra: Record<string, unknown> = {}) => ({
    round: 3,
    delta,
    examples: 120,
    labelCounts: [100, 20],
    metrics: { trainLoss: 0.4, evaluation: flattenEvaluationCounts(twelve) },
    ...extra,
  })
  const withCounts = (evaluation: unknown) =>
    update(encodeWeights(new Float32Array(3)), { metrics: { trainLoss: 0.4, evaluation } })

  it('an update is decoded into its delta, example count and metrics', () => {
    const parsed = parseUpdate(update(encodeWeights(new Float32Array([1, 2, 3]))), 3, 2)
    expect(parsed.delta).toEqual(new Float32Array([1, 2, 3]))
    expect(parsed.examples).toBe(120)
    expect(parsed.metrics).toEqual({ trainLoss: 0.4, evaluation: twelve })
  })

  it("an update's evaluation counts are one list of the secure vector's layout; no counts (an empty validation split) are zeros", () => {
    const none = flattenEvaluationCounts(emptyEvaluationCounts(2))
    expect(parseUpdate(withCounts(none), 3, 2).metrics.evaluation).toEqual(emptyEvaluationCounts(2))
    expect(() => parseUpdate(withCounts(twelve), 3, 2)).toThrow(
      'update.metrics.evaluation: expected a list of counts, got an object with keys confusion, positives, negatives, confidence, correct',
    )
    expect(() => parseUpdate(withCounts(undefined), 3, 2)).toThrow(
      'update.metrics.evaluation: expected a list of counts, got undefined',
    )
  })

  it('an update whose counts are of the wrong length, not counts, or disagree among themselves is refused', () => {
    const words = flattenEvaluationCounts(twelve)
    expect(() => parseUpdate(withCounts(words.slice(1)), 3, 2)).toThrow(
      `update.metrics.evaluation: expected ${words.length} counts for 2 classes, got ${words.length - 1}`,
    )
    expect(() =>
      parseUpdate({ ...withCounts(words), examples: 120, labelCounts: [100, 20, 0] }, 3, 3),
    ).toThrow(`update.metrics.evaluation: expected 513 counts for 3 classes, got ${words.length}`)
    expect(() => parseUpdate(withCounts(words.map((w, i) => (i === 1 ? -3 : w))), 3, 2)).toThrow(
      'update.metrics.evaluation: expected non-negative integer counts, got number -3 at 1',
    )
    expect(() => parseUpdate(withCounts(words.map((w, i) => (i === 1 ? 2.5 : w))), 3, 2)).toThrow(
      'update.metrics.evaluation: expected non-negative integer counts, got number 2.5 at 1',
    )
    expect(() => parseUpdate(withCounts(words.map((w, i) => (i === 1 ? '3' : w))), 3, 2)).toThrow(
      'update.metrics.evaluation: expected non-negative integer counts, got "3" at 1',
    )
    // 100 correct examples in the confusion matrix that no histogram counts
    expect(() => parseUpdate(withCounts(words.map((w, i) => (i === 0 ? 109 : w))), 3, 2)).toThrow(
      'update.metrics.evaluation: the confusion matrix counts 112 examples, the confidence histogram 12',
    )
  })

  it('an update of the wrong size, with NaN or without examples is refused', () => {
    expect(() => parseUpdate(update(encodeWeights(new Float32Array(2))), 3, 2)).toThrow(
      /expected 3 float32 values/,
    )
    expect(() => parseUpdate(update(encodeWeights(new Float32Array([0, Number.NaN, 0]))), 3, 2)).toThrow(
      /NaN/,
    )
    expect(() => parseUpdate(update(encodeWeights(new Float32Array(3)), { examples: 0 }), 3, 2)).toThrow(
      'update.examples: expected an integer from 1 to 100000000, got number 0',
    )
    expect(() =>
      parseUpdate(update(encodeWeights(new Float32Array(3)), { metrics: { trainLoss: 'low' } }), 3, 2),
    ).toThrow(/update.metrics.trainLoss/)
  })

  it('an update’s label counts must name every class and add up to its example count', () => {
    const delta = encodeWeights(new Float32Array(3))
    expect(parseUpdate(update(delta), 3, 2).labelCounts).toEqual([100, 20])
    expect(() => parseUpdate(update(delta, { labelCounts: [100, 19] }), 3, 2)).toThrow(
      'update.labelCounts: expected counts that sum to update.examples (120), got a sum of 119',
    )
    expect(() => parseUpdate(update(delta, { labelCounts: [120] }), 3, 2)).toThrow(
      'update.labelCounts: expected a list of 2 integers, got an array of 1 item',
    )
    expect(() => parseUpdate(update(delta, { labelCounts: [130, -10] }), 3, 2)).toThrow(
      /update.labelCounts.1: expected an integer from 0/,
    )
  })

  it('a round start carries training settings that are checked too', () => {
    const round = {
      round: 1,
      weights: encodeWeights(new Float32Array(4)),
      training: {
        epochs: 1,
        batchSize: 32,
        optimizer: 'adam',
        learningRate: 0.001,
        classWeights: 'balanced',
        loss: 'logit-adjusted',
        prior: null,
        seed: 7,
      },
      deadlineMs: 1000,
      secagg: null,
      predictionPrior: null,
    }
    expect(parseRoundStart(round, 4, 2).training.optimizer).toBe('adam')
    expect(parseRoundStart(round, 4, 2).training.loss).toBe('logit-adjusted')
    expect(
      parseRoundStart({ ...round, training: { ...round.training, loss: 'cross-entropy' } }, 4, 2).training
        .loss,
    ).toBe('cross-entropy')
    const { loss: _, ...noLoss } = round.training
    expect(() => parseRoundStart({ ...round, training: noLoss }, 4, 2)).toThrow(
      'round.training.loss: expected one of "cross-entropy", "logit-adjusted", got undefined',
    )
    expect(() =>
      parseRoundStart({ ...round, training: { ...round.training, optimizer: 'lbfgs' } }, 4, 2),
    ).toThrow('round.training.optimizer: expected one of "adam", "sgd", got "lbfgs"')
    const withPrior = (prior: unknown) => ({ ...round, training: { ...round.training, prior } })
    expect(parseRoundStart(withPrior([0.25, 0.75]), 4, 2).training.prior).toEqual([0.25, 0.75])
    expect(() => parseRoundStart(withPrior([0.5, 0.6]), 4, 2)).toThrow(
      'round.training.prior: expected probabilities that sum to 1, got a sum of 1.1',
    )
    expect(() => parseRoundStart(withPrior([1, 0]), 4, 2)).toThrow(
      /round.training.prior.1: expected a number/,
    )
    expect(() => parseRoundStart(withPrior(undefined), 4, 2)).toThrow(
      'round.training.prior: expected null or 2 class probabilities, got undefined',
    )
  })

  it('a round start says the prior its head predicts with: null, or one share in (0, 1] per class', () => {
    const round = (predictionPrior: unknown) => ({
      round: 1,
      weights: encodeWeights(new Float32Array(4)),
      training: {
        epochs: 1,
        batchSize: 32,
        optimizer: 'adam',
        learningRate: 0.001,
        classWeights: 'balanced',
        loss: 'logit-adjusted',
        prior: null,
        seed: 7,
      },
      deadlineMs: 1000,
      secagg: null,
      predictionPrior,
    })
    expect(parseRoundStart(round(null), 4, 2).predictionPrior).toBeNull()
    expect(parseRoundStart(round([0.25, 0.75]), 4, 2).predictionPrior).toEqual([0.25, 0.75])
    // log π shifts every logit alike when the shares do not sum to 1: the softmax is the same
    expect(parseRoundStart(round([1, 1]), 4, 2).predictionPrior).toEqual([1, 1])
    expect(() => parseRoundStart(round(undefined), 4, 2)).toThrow(
      'round.predictionPrior: expected null or 2 class shares, got undefined',
    )
    expect(() => parseRoundStart(round([0.2, 0.3, 0.5]), 4, 2)).toThrow(
      'round.predictionPrior: expected null or 2 class shares, got an array of 3 items',
    )
    expect(() => parseRoundStart(round({ 0: 0.5, 1: 0.5 }), 4, 2)).toThrow(
      'round.predictionPrior: expected null or 2 class shares, got an object with keys 0, 1',
    )
    expect(() => parseRoundStart(round([0.5, 0]), 4, 2)).toThrow(
      'round.predictionPrior[1]: expected a share in (0, 1], got number 0',
    )
    expect(() => parseRoundStart(round([-0.5, 0.5]), 4, 2)).toThrow(
      'round.predictionPrior[0]: expected a share in (0, 1], got number -0.5',
    )
    expect(() => parseRoundStart(round([0.5, 1.5]), 4, 2)).toThrow(
      'round.predictionPrior[1]: expected a share in (0, 1], got number 1.5',
    )
    expect(() => parseRoundStart(round([Number.NaN, 0.5]), 4, 2)).toThrow(
      'round.predictionPrior[0]: expected a share in (0, 1], got number NaN',
    )
    expect(() => parseRoundStart(round([0.5, Number.POSITIVE_INFINITY]), 4, 2)).toThrow(
      'round.predictionPrior[1]: expected a share in (0, 1], got number Infinity',
    )
    expect(() => parseRoundStart(round(['0.5', 0.5]), 4, 2)).toThrow(
      'round.predictionPrior[0]: expected a share in (0, 1], got "0.5"',
    )
  })

  const info = {
    taskId: 't',
    name: 't',
    description: 'Pneumonia on pediatric chest X-rays.',
    rounds: 3,
    backbone: {
      digest: 'a'.repeat(64),
      path: `/backbone/${'a'.repeat(64)}/`,
      files: [{ name: 'model.json', sha256: 'b'.repeat(64), bytes: 10 }],
      inputSize: 224,
      embeddingDim: 1280,
      views: ['original'],
    },
    head: spec,
    ordinal: false,
    paramCount: paramCount(spec, 1280),
    aggregation: 'secure',
    browsers: { enabled: true, maxPerRound: 2 },
    privacy: null,
    inputCentre: null,
  }

  it('task info lists the image views its embeddings average (fedtune/8): distinct, known, in order', () => {
    expect(parseTaskInfo(info).backbone.views).toEqual(['original'])
    const four = ['original', 'horizontal-flip', 'vertical-flip', 'rotate-180']
    expect(parseTaskInfo({ ...info, backbone: { ...info.backbone, views: four } }).backbone.views).toEqual(
      four,
    )
    const { views: _, ...without } = info.backbone
    const expected =
      'task.backbone.views: expected a non-empty list of distinct views from "original", "horizontal-flip", "vertical-flip", "rotate-180", "transpose", "rotate-90", "rotate-270", "transverse", in that order'
    expect(() => parseTaskInfo({ ...info, backbone: without })).toThrow(`${expected}, got undefined`)
    for (const views of [
      [],
      ['horizontal-flip', 'original'],
      ['original', 'original'],
      four.concat('original'),
    ])
      expect(() => parseTaskInfo({ ...info, backbone: { ...info.backbone, views } })).toThrow(expected)
    const eight = [...four, 'transpose', 'rotate-90', 'rotate-270', 'transverse']
    expect(parseTaskInfo({ ...info, backbone: { ...info.backbone, views: eight } }).backbone.views).toEqual(
      eight,
    )
    expect(() =>
      parseTaskInfo({
        ...info,
        backbone: { ...info.backbone, views: ['original', 'rotate-90', 'transpose'] },
      }),
    ).toThrow(expected)
    expect(() =>
      parseTaskInfo({ ...info, backbone: { ...info.backbone, views: ['original', 'rotate-45'] } }),
    ).toThrow(
      'task.backbone.views[1]: expected one of "original", "horizontal-flip", "vertical-flip", "rotate-180", "transpose", "rotate-90", "rotate-270", "transverse", got "rotate-45"',
    )
  })

  it('task info carries its input centre (fedtune/7): null, or one finite number per embedding dimension', () => {
    expect(parseTaskInfo(info).inputCentre).toBeNull()
    const centre = Array.from({ length: 1280 }, (_, i) => i / 100 - 3)
    expect(parseTaskInfo({ ...info, inputCentre: centre }).inputCentre).toEqual(centre)
    const { inputCentre: _, ...without } = info
    expect(() => parseTaskInfo(without)).toThrow('task.inputCentre: expected a value or null, got nothing')
    expect(() => parseTaskInfo({ ...info, inputCentre: centre.slice(1) })).toThrow(
      "task.inputCentre: expected null or 1280 numbers (the embedding's dimension), got 1279 values",
    )
    expect(() => parseTaskInfo({ ...info, inputCentre: 'mean' })).toThrow(
      'task.inputCentre: expected null or 1280 numbers (the embedding\'s dimension), got "mean"',
    )
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '1'])
      expect(() =>
        parseTaskInfo({ ...info, inputCentre: centre.map((v, i) => (i === 7 ? bad : v)) }),
      ).toThrow(/^task\.inputCentre\[7\]: expected a finite number, got /)
  })

  it('task info whose parameter count disagrees with its head is refused', () => {
    expect(parseTaskInfo(info).paramCount).toBe(328450)
    expect(() => parseTaskInfo({ ...info, paramCount: 5 })).toThrow(
      /the head needs 328450 parameters, the task says 5/,
    )
    expect(() =>
      parseTaskInfo({
        ...info,
        backbone: { ...info.backbone, files: [{ name: '../x', sha256: 'b'.repeat(64), bytes: 1 }] },
      }),
    ).toThrow(/relative path/)
  })

  it('task info carries the task’s description and whether, and how many per round, browsers take part', () => {
    expect(parseTaskInfo(info)).toMatchObject({
      description: 'Pneumonia on pediatric chest X-rays.',
      browsers: { enabled: true, maxPerRound: 2 },
    })
    expect(parseTaskInfo({ ...info, description: '' }).description).toBe('')
    expect(parseHelloAck({ ok: true, task: info })).toEqual({ ok: true, task: parseTaskInfo(info) })
  })

  it('task info without a proper description or browser participation is refused with the field named', () => {
    expect(() => parseTaskInfo({ ...info, description: undefined })).toThrow(
      'task.description: expected a string of at most 2000 characters, got undefined',
    )
    expect(() => parseTaskInfo({ ...info, description: 'x'.repeat(2001) })).toThrow(
      'task.description: expected a string of at most 2000 characters, got a string of 2001 characters',
    )
    expect(() => parseTaskInfo({ ...info, browsers: undefined })).toThrow(
      'task.browsers: expected an object, got undefined',
    )
    expect(() => parseTaskInfo({ ...info, browsers: { enabled: 1, maxPerRound: 1 } })).toThrow(
      'task.browsers.enabled: expected true or false, got number 1',
    )
    expect(() =>
      parseHelloAck({ ok: true, task: { ...info, browsers: { enabled: false, maxPerRound: 0 } } }),
    ).toThrow('task.browsers.maxPerRound: expected an integer from 1 to 100000, got number 0')
  })

  it('task info states its privacy, or null for none; a missing statement is refused', () => {
    expect(parseTaskInfo(info).privacy).toBeNull()
    const privacy = {
      unit: 'participant',
      epsilon: 8,
      delta: 1e-3,
      clipNorm: 1,
      noiseMultiplier: 1,
      rounds: 5,
      minParticipants: 3,
    }
    expect(parseTaskInfo({ ...info, privacy }).privacy).toEqual(privacy)
    const { privacy: _, ...silent } = info
    expect(() => parseTaskInfo(silent)).toThrow('task.privacy: expected a value or null, got nothing')
    expect(() => parseTaskInfo({ ...info, privacy: { ...privacy, minParticipants: 1 } })).toThrow(
      'task.privacy.minParticipants',
    )
  })

  it('task info says whether the labels are grades: true or false, never absent or anything else', () => {
    expect(parseTaskInfo(info).ordinal).toBe(false)
    expect(parseTaskInfo({ ...info, ordinal: true }).ordinal).toBe(true)
    expect(() => parseTaskInfo({ ...info, ordinal: undefined })).toThrow(
      'task.ordinal: expected true or false, got undefined',
    )
    expect(() => parseTaskInfo({ ...info, ordinal: 'true' })).toThrow(
      'task.ordinal: expected true or false, got "true"',
    )
    expect(() => parseTaskInfo({ ...info, ordinal: 1 })).toThrow(
      'task.ordinal: expected true or false, got number 1',
    )
  })

  it('a hello ack that refuses a browser carries its code and reason', () => {
    const refusal = {
      ok: false,
      code: 'browsers-disabled',
      reason: 'task "t" does not take browser participants',
    }
    expect(parseHelloAck(refusal)).toEqual(refusal)
  })
})
