import { parseTaskFile, TaskFileError } from '@fedtune/coordinator'
import { escapeText } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

const valid = {
  name: 'pneumonia',
  backbone: { source: '../backbones/mobilenet', sha256: 'ab'.repeat(32) },
  head: {
    layers: [
      { type: 'dense', units: 256, activation: 'relu' },
      { type: 'dropout', rate: 0.2 },
    ],
    labels: ['normal', 'pneumonia'],
    seed: 3,
  },
  training: { rounds: 5, localEpochs: 2, batchSize: 32, optimizer: 'adam', learningRate: 0.001 },
  participation: { minParticipants: 3, participantsPerRound: 3, roundDeadlineSeconds: 60 },
  evaluation: { validation: 'data/validation', test: 'data/test' },
}

describe('task file', () => {
  it('resolves relative paths against the task file’s folder and fills in defaults', () => {
    const task = parseTaskFile(valid, '/srv/tasks')
    expect(task.backbone.source).toBe('/srv/backbones/mobilenet')
    expect(task.evaluation).toEqual({
      validation: '/srv/tasks/data/validation',
      test: '/srv/tasks/data/test',
      metric: 'auc',
      patience: null,
      prior: 'federation',
    })
    expect(task.head.ordinal).toBe(false)
    expect(task.training.loss).toBe('logit-adjusted')
    expect(task.training.classWeights).toBe('none')
    expect(task.participation.joinTimeoutSeconds).toBe(3600)
    expect(task.head.seed).toBe(3)
  })

  it('defaults to the logit-adjusted loss, and to balanced class weights only with plain cross-entropy', () => {
    const withLoss = (training: object) =>
      parseTaskFile({ ...valid, training: { ...valid.training, ...training } }, '/x').training
    expect(withLoss({ loss: 'cross-entropy' })).toMatchObject({
      loss: 'cross-entropy',
      classWeights: 'balanced',
    })
    expect(withLoss({ loss: 'logit-adjusted', classWeights: 'balanced' })).toMatchObject({
      loss: 'logit-adjusted',
      classWeights: 'balanced',
    })
    expect(() => withLoss({ loss: 'focal' })).toThrow(
      'task file: training.loss: expected one of "logit-adjusted", "cross-entropy", got "focal"',
    )
  })

  it('keeps an http(s) backbone URL as it is', () => {
    const task = parseTaskFile(
      { ...valid, backbone: { ...valid.backbone, source: 'https://models.example/m/model.json' } },
      '/x',
    )
    expect(task.backbone.source).toBe('https://models.example/m/model.json')
  })

  it('a missing field says which one and what it expected', () => {
    const { training: _, ...noTraining } = valid
    expect(() => parseTaskFile(noTraining, '/x')).toThrow(
      'task file: training: expected an object, got undefined',
    )
    expect(() => parseTaskFile({ ...valid, training: { ...valid.training, rounds: 0 } }, '/x')).toThrow(
      'task file: training.rounds: expected an integer from 1 to 100000, got number 0',
    )
  })

  it('a misspelt field is refused rather than silently ignored', () => {
    expect(() =>
      parseTaskFile({ ...valid, training: { ...valid.training, learningrate: 0.1 } }, '/x'),
    ).toThrow(
      'task file: training: expected only known fields (rounds, localEpochs, batchSize, optimizer, learningRate, loss, labelPrior, server, classWeights), got unknown field "learningrate"',
    )
  })

  it('a backbone without a proper SHA-256 is refused', () => {
    expect(() => parseTaskFile({ ...valid, backbone: { source: '/m', sha256: 'abc' } }, '/x')).toThrow(
      /backbone.sha256: expected the 64 hex digits/,
    )
  })

  it('a head with a bad layer is refused with the layer named', () => {
    expect(() =>
      parseTaskFile({ ...valid, head: { ...valid.head, layers: [{ type: 'dense', units: -1 }] } }, '/x'),
    ).toThrow('task file: head.layers[0].units: expected an integer from 1 to 65536, got number -1')
  })

  it('selecting fewer participants per round than the minimum is refused', () => {
    expect(() =>
      parseTaskFile({ ...valid, participation: { minParticipants: 3, participantsPerRound: 2 } }, '/x'),
    ).toThrow(
      'task file: participation.participantsPerRound: expected at least minParticipants (3), got number 2',
    )
  })

  it('defaults to FedAvg with each participant’s own label mix; FedAdam takes the paper’s defaults', () => {
    const training = (t: object) =>
      parseTaskFile({ ...valid, training: { ...valid.training, ...t } }, '/x').training
    expect(training({})).toMatchObject({ labelPrior: 'local', server: { optimizer: 'sgd', learningRate: 1 } })
    expect(training({ labelPrior: 'federation', server: { optimizer: 'adam' } })).toMatchObject({
      labelPrior: 'federation',
      server: {
        optimizer: 'adam',
        learningRate: 0.01,
        beta1: 0.9,
        beta2: 0.99,
        epsilon: 1e-3,
        weightDecay: 0,
      },
    })
    expect(training({ server: { optimizer: 'adam', weightDecay: 0.5 } }).server).toMatchObject({
      weightDecay: 0.5,
    })
  })

  it('refuses a weight decay that would flip or zero the weights each round, with η·λ', () => {
    const training = (t: object) => () =>
      parseTaskFile({ ...valid, training: { ...valid.training, ...t } }, '/x')
    expect(training({ server: { optimizer: 'adam', learningRate: 0.1, weightDecay: 10 } })).toThrow(
      'task file: training.server.weightDecay: expected a weight decay λ with η·λ below 1, so below 10 at η = 0.1 (else each round would flip or zero the weights), got number 10',
    )
    expect(training({ server: { optimizer: 'adam', weightDecay: -1 } })).toThrow(
      'task file: training.server.weightDecay: expected a number from 0 to 1000, got number -1',
    )
    expect(training({ server: { optimizer: 'sgd', weightDecay: 0.1 } })).toThrow(
      /unknown field "weightDecay"/,
    )
  })

  it('refuses Adam’s settings on an sgd server, and a federation prior without the loss that uses it', () => {
    const training = (t: object) => () =>
      parseTaskFile({ ...valid, training: { ...valid.training, ...t } }, '/x')
    expect(training({ server: { optimizer: 'sgd', beta1: 0.9 } })).toThrow(
      'task file: training.server: expected only optimizer and learningRate with optimizer "sgd", got unknown field "beta1"',
    )
    expect(training({ server: { optimizer: 'adagrad' } })).toThrow(
      'task file: training.server.optimizer: expected one of "sgd", "adam", got "adagrad"',
    )
    expect(training({ loss: 'cross-entropy', labelPrior: 'federation' })).toThrow(
      'task file: training.labelPrior: expected "local" or none with training.loss "cross-entropy" (the prior is the logit-adjusted loss\'s), got "federation"',
    )
  })

  it('aggregates securely by default, with k and t derived from the expected dropout and the fixed point checked', () => {
    const task = parseTaskFile(valid, '/x')
    expect(task.aggregation).toMatchObject({
      mode: 'secure',
      clipNorm: 10,
      maxExamples: 100_000,
      neighbours: 3,
      threshold: 2,
    })
    if (task.aggregation.mode !== 'secure') throw new Error('expected secure')
    expect(3 * 100_000 * 10 * task.aggregation.fixedPoint.scale).toBeLessThan(2 ** 31)
    const many = parseTaskFile(
      {
        ...valid,
        participation: { minParticipants: 100, participantsPerRound: 1000 },
        aggregation: { maxExamples: 1000 },
      },
      '/x',
    )
    expect(many.aggregation).toMatchObject({ neighbours: 21, threshold: 11 })
  })

  it('refuses an aggregation whose sum could overflow 32 bits, or a threshold of half a neighbourhood', () => {
    const withAggregation = (aggregation: object) => () => parseTaskFile({ ...valid, aggregation }, '/x')
    expect(withAggregation({ maxExamples: 10_000_000, clipNorm: 1000 })).toThrow(
      /^task file: aggregation: expected participantsPerRound × maxExamples × clipNorm small enough for a 32-bit sum, got fixedPointFor: 3 participants × 10000000 examples × clipNorm 1000/,
    )
    const wide = { ...valid, participation: { minParticipants: 3, participantsPerRound: 10 } }
    expect(() => parseTaskFile({ ...wide, aggregation: { neighbours: 4 } }, '/x')).toThrow(
      /aggregation.neighbours: expected an odd number/,
    )
    expect(() => parseTaskFile({ ...wide, aggregation: { expectedDropout: 0.6 } }, '/x')).not.toThrow()
    expect(withAggregation({ neighbours: 3, threshold: 1 })).toThrow(
      /aggregation.threshold: expected an integer from 2/,
    )
    expect(withAggregation({ mode: 'plaintext-debug', clipNorm: 1 })).toThrow(
      'task file: aggregation: expected only mode with mode "plaintext-debug", got unknown field "clipNorm"',
    )
    expect(() => parseTaskFile({ ...valid, participation: { minParticipants: 1 } }, '/x')).toThrow(
      'task file: participation.minParticipants: expected at least 2 with secure aggregation (a sum of one update is that update), got number 1',
    )
  })

  it('evaluation: validation chooses, test reports; the metric, patience and prior as given', () => {
    const task = parseTaskFile(
      {
        ...valid,
        head: { ...valid.head, ordinal: true },
        evaluation: { validation: '/v', metric: 'qwk', patience: 20, prior: 'uniform' },
      },
      '/x',
    )
    expect(task.head.ordinal).toBe(true)
    expect(task.evaluation).toEqual({
      validation: '/v',
      test: null,
      metric: 'qwk',
      patience: 20,
      prior: 'uniform',
    })
    expect(parseTaskFile({ ...valid, evaluation: { test: 't' } }, '/x').evaluation).toMatchObject({
      validation: null,
      test: '/x/t',
    })
    const { evaluation: _, ...none } = valid
    expect(parseTaskFile(none, '/x').evaluation).toBeNull()
  })

  it('refuses evaluation.data, saying it became test and validation', () => {
    expect(() => parseTaskFile({ ...valid, evaluation: { data: 'data/test' } }, '/x')).toThrow(
      'task file: evaluation: expected only validation, test, metric, patience and prior: "data" became "test" (the held-out images, reported) and "validation" (the images the best round is chosen on), got unknown field "data"',
    )
    expect(() => parseTaskFile({ ...valid, evaluation: { test: 't', colour: 1 } }, '/x')).toThrow(
      'task file: evaluation: expected only known fields (validation, test, metric, patience, prior), got unknown field "colour"',
    )
  })

  it('refuses an evaluation with neither set, patience without validation, and qwk for labels that are not grades', () => {
    const evaluation =
      (e: object, head: object = {}) =>
      () =>
        parseTaskFile({ ...valid, head: { ...valid.head, ...head }, evaluation: e }, '/x')
    expect(evaluation({})).toThrow(
      'task file: evaluation: expected a validation folder, a test folder or both, got neither',
    )
    expect(evaluation({ metric: 'accuracy' })).toThrow(
      'task file: evaluation: expected a validation folder, a test folder or both, got neither',
    )
    expect(evaluation({ test: 't', patience: 20 })).toThrow(
      'task file: evaluation.patience: expected no patience without evaluation.validation (patience counts rounds without a better validation figure), got number 20',
    )
    expect(evaluation({ validation: 'v', metric: 'qwk' })).toThrow(
      'task file: evaluation.metric: expected "auc", "accuracy" or "balancedAccuracy": "qwk" is for ordinal labels (head.ordinal: true), got "qwk"',
    )
    expect(evaluation({ validation: 'v', metric: 'qwk' }, { ordinal: true })).not.toThrow()
    expect(evaluation({ validation: 'v', metric: 'f1' })).toThrow(
      'task file: evaluation.metric: expected one of "auc", "accuracy", "balancedAccuracy", "qwk", got "f1"',
    )
    expect(evaluation({ validation: 'v', patience: 0 })).toThrow(
      'task file: evaluation.patience: expected an integer from 1 to 100000, got number 0',
    )
    expect(evaluation({ validation: 'v', prior: 'local' })).toThrow(
      'task file: evaluation.prior: expected one of "federation", "validation", "uniform", got "local"',
    )
    expect(evaluation({ validation: '' })).toThrow(
      'task file: evaluation.validation: expected a folder of validation images, one subfolder per label, got ""',
    )
    expect(evaluation({ test: 't' }, { ordinal: 'yes' })).toThrow(
      'task file: head.ordinal: expected true or false, got "yes"',
    )
  })

  it('takes no browser participants unless the file turns them on, and then one per round by default', () => {
    const task = parseTaskFile(valid, '/x')
    expect(task.participation.browsers).toEqual({ enabled: false, maxPerRound: 1 })
    const browsers = (b: object) =>
      parseTaskFile({ ...valid, participation: { ...valid.participation, browsers: b } }, '/x').participation
        .browsers
    expect(browsers({ enabled: true })).toEqual({ enabled: true, maxPerRound: 1 })
    expect(browsers({ enabled: true, maxPerRound: 3 })).toEqual({ enabled: true, maxPerRound: 3 })
  })

  it('refuses browser settings that say something else than they mean, with the field named', () => {
    const browsers = (b: unknown) => () =>
      parseTaskFile({ ...valid, participation: { ...valid.participation, browsers: b } }, '/x')
    expect(browsers({ enabled: 'yes' })).toThrow(
      'task file: participation.browsers.enabled: expected true or false, got "yes"',
    )
    expect(browsers({ enabled: true, maxPerRound: 0 })).toThrow(
      'task file: participation.browsers.maxPerRound: expected an integer from 1 to 100000, got number 0',
    )
    expect(browsers({ enabled: true, maxPerRound: 4 })).toThrow(
      'task file: participation.browsers.maxPerRound: expected at most participantsPerRound (3), got number 4',
    )
    expect(browsers({ enable: true })).toThrow(
      'task file: participation.browsers: expected only known fields (enabled, maxPerRound), got unknown field "enable"',
    )
    expect(browsers(true)).toThrow('task file: participation.browsers: expected an object, got boolean true')
  })

  it('carries a description of at most 2000 characters for the volunteers’ page, empty by default', () => {
    expect(parseTaskFile(valid, '/x').description).toBe('')
    const text = 'Pneumonia on pediatric chest X-rays.'
    expect(parseTaskFile({ ...valid, description: text }, '/x').description).toBe(text)
    expect(() => parseTaskFile({ ...valid, description: 'x'.repeat(2001) }, '/x')).toThrow(
      'task file: description: expected a string of at most 2000 characters, got a string of 2001 characters',
    )
    expect(() => parseTaskFile({ ...valid, description: 42 }, '/x')).toThrow(
      'task file: description: expected a string of at most 2000 characters, got number 42',
    )
  })

  it('lists every problem of a file at once, each with its path, what was expected and what was found', () => {
    const wrong = {
      ...valid,
      name: 'no spaces please',
      head: { ...valid.head, labels: ['normal', 7] },
      training: { ...valid.training, rounds: 0, learningrate: 0.1 },
      participation: { minParticipants: 3, participantsPerRound: 2 },
    }
    let error: unknown
    try {
      parseTaskFile(wrong, '/x', 'task.json')
    } catch (e) {
      error = e
    }
    if (!(error instanceof TaskFileError)) throw new Error(`expected a TaskFileError, got ${error}`)
    expect(error.problems).toEqual([
      {
        path: 'name',
        expected: 'a name of letters, digits, ".", "_" or "-" (at most 64)',
        found: '"no spaces please"',
      },
      { path: 'head.labels[1]', expected: 'a non-empty class name', found: 'number 7' },
      { path: 'training.rounds', expected: 'an integer from 1 to 100000', found: 'number 0' },
      {
        path: 'training',
        expected:
          'only known fields (rounds, localEpochs, batchSize, optimizer, learningRate, loss, labelPrior, server, classWeights)',
        found: 'unknown field "learningrate"',
      },
      {
        path: 'participation.participantsPerRound',
        expected: 'at least minParticipants (3)',
        found: 'number 2',
      },
    ])
    expect(error.message).toBe(
      [
        'task.json: 5 problems',
        '  name: expected a name of letters, digits, ".", "_" or "-" (at most 64), got "no spaces please"',
        '  head.labels[1]: expected a non-empty class name, got number 7',
        '  training.rounds: expected an integer from 1 to 100000, got number 0',
        '  training: expected only known fields (rounds, localEpochs, batchSize, optimizer, learningRate, loss, labelPrior, server, classWeights), got unknown field "learningrate"',
        '  participation.participantsPerRound: expected at least minParticipants (3), got number 2',
      ].join('\n'),
    )
  })

  it('checks between fields still run beside a field that failed, and a failed field is reported once', () => {
    const problems = (task: object) => {
      try {
        parseTaskFile(task, '/x')
      } catch (e) {
        if (e instanceof TaskFileError) return e.problems.map((p) => p.path)
        throw e
      }
      return []
    }
    // The label prior needs the logit-adjusted loss, whatever else is wrong in training.
    expect(
      problems({
        ...valid,
        training: { ...valid.training, batchSize: 0, loss: 'cross-entropy', labelPrior: 'federation' },
      }),
    ).toEqual(['training.batchSize', 'training.labelPrior'])
    // A participantsPerRound out of range is not also compared with minParticipants.
    expect(problems({ ...valid, participation: { minParticipants: 3, participantsPerRound: 0 } })).toEqual([
      'participation.participantsPerRound',
    ])
    expect(problems({ ...valid, aggregation: { neighbours: 3, threshold: 1 } })).toEqual([
      'aggregation.threshold',
    ])
  })

  it('shows what was found described, shortened and escaped, never raw', () => {
    const shown = (task: object) => {
      try {
        parseTaskFile(task, '/x')
      } catch (e) {
        if (e instanceof TaskFileError) return e.message
        throw e
      }
      return ''
    }
    expect(shown({ ...valid, name: 'x'.repeat(10_000) })).toBe(
      'task file: name: expected a name of letters, digits, ".", "_" or "-" (at most 64), got a string of 10000 characters',
    )
    const escaped = shown({ ...valid, training: { ...valid.training, '\u001b[2J\u202e': 1 } })
    expect(escaped).toContain('got unknown field "\\u001b[2J\\u{202e}"')
    // escapeText changes nothing in text that has no control or reordering character left.
    expect(escapeText(escaped, 10_000)).toBe(escaped)
    const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`field${i}`, i]))
    let error: unknown
    try {
      parseTaskFile({ ...valid, ...many }, '/x')
    } catch (e) {
      error = e
    }
    if (!(error instanceof TaskFileError)) throw new Error(`expected a TaskFileError, got ${error}`)
    expect(error.problems).toHaveLength(100)
    expect(error.message.split('\n')).toHaveLength(22)
    expect(error.message).toMatch(/^task file: 100 problems\n/)
    expect(error.message).toMatch(/\n {2}… and 80 more$/)
  })

  it('enrols hospitals on approval and volunteers openly by default, within a cap and a rate per address', () => {
    expect(parseTaskFile(valid, '/x').enrolment).toEqual({
      hospitals: 'approval',
      volunteers: { mode: 'open', maxParticipants: 1000, perAddressPerHour: 10 },
    })
    const enrolment = (e: unknown) => parseTaskFile({ ...valid, enrolment: e }, '/x').enrolment
    expect(enrolment({ hospitals: 'invite', volunteers: { mode: 'invite' } })).toEqual({
      hospitals: 'invite',
      volunteers: { mode: 'invite', maxParticipants: 1000, perAddressPerHour: 10 },
    })
    expect(enrolment({ volunteers: { maxParticipants: 50, perAddressPerHour: 2 } })).toEqual({
      hospitals: 'approval',
      volunteers: { mode: 'open', maxParticipants: 50, perAddressPerHour: 2 },
    })
    expect(() => enrolment({ hospitals: 'first-come' })).toThrow(
      'task file: enrolment.hospitals: expected one of "approval", "invite", got "first-come"',
    )
    expect(() => enrolment({ volunteers: { maxParticipants: 0, perAddressPerHour: 1.5 } })).toThrow(
      [
        'task file: 2 problems',
        '  enrolment.volunteers.maxParticipants: expected an integer from 1 to 1000000, got number 0',
        '  enrolment.volunteers.perAddressPerHour: expected an integer from 1 to 100000, got number 1.5',
      ].join('\n'),
    )
    expect(() => enrolment({ volunteer: {} })).toThrow(
      'task file: enrolment: expected only known fields (hospitals, volunteers), got unknown field "volunteer"',
    )
  })

  it('refuses a field a layer does not have, like every other unknown field', () => {
    expect(() =>
      parseTaskFile(
        { ...valid, head: { ...valid.head, layers: [{ type: 'dense', units: 8, activaton: 'linear' }] } },
        '/x',
      ),
    ).toThrow(
      'task file: head.layers[0]: expected only known fields (type, units, activation), got unknown field "activaton"',
    )
    expect(() =>
      parseTaskFile({ ...valid, head: { ...valid.head, layers: [{ type: 'conv' }] } }, '/x'),
    ).toThrow('task file: head.layers[0].type: expected "dense" or "dropout", got "conv"')
  })
})
