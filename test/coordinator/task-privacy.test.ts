import { parseTaskFile } from '@fedtune/coordinator'
import { describe, expect, it } from 'vitest'

const base = {
  name: 'pneumonia',
  backbone: { source: '../backbones/mobilenet', sha256: 'ab'.repeat(32) },
  head: { labels: ['normal', 'pneumonia'] },
  training: { rounds: 20 },
  participation: { minParticipants: 3, participantsPerRound: 5 },
  evaluation: { validation: 'data/validation', test: 'data/test' },
}
const withPrivacy = (privacy: object, more: Record<string, unknown> = {}) => ({ ...base, privacy, ...more })
const read = (task: object) => parseTaskFile(task, '/srv/tasks')
const refusal = (task: object) => {
  try {
    read(task)
  } catch (error) {
    return (error as Error).message
  }
  throw new Error('expected the task file to be refused')
}

describe('task file: privacy', () => {
  it('is absent by default: the task gives no differential-privacy guarantee', () => {
    expect(read(base).privacy).toBeNull()
  })

  it('takes the unit and target, with δ 1e-5, C 1 and full-batch sampling by default, z derived later', () => {
    expect(read(withPrivacy({ unit: 'example', epsilon: 3 })).privacy).toEqual({
      unit: 'example',
      epsilon: 3,
      delta: 1e-5,
      clipNorm: 1,
      noiseMultiplier: null,
      samplingRate: 1,
    })
    expect(
      read(withPrivacy({ unit: 'participant', epsilon: 8, delta: 1e-3, clipNorm: 0.5, noiseMultiplier: 1.2 }))
        .privacy,
    ).toMatchObject({ unit: 'participant', delta: 1e-3, clipNorm: 0.5, noiseMultiplier: 1.2 })
  })

  it('centres the head’s inputs on the validation set’s mean embedding by default, and not without privacy or a validation set', () => {
    expect(read(withPrivacy({ unit: 'example', epsilon: 3 })).head.inputCentre).toBe('validation')
    expect(read(base).head.inputCentre).toBe('none')
    const noValidation = withPrivacy(
      { unit: 'participant', epsilon: 3, delta: 1e-3 },
      { evaluation: { test: 'data/test' } },
    )
    expect(read(noValidation).head.inputCentre).toBe('none')
    // asked for explicitly either way
    const head = (inputCentre: string) => ({ head: { ...base.head, inputCentre } })
    expect(read(withPrivacy({ unit: 'example', epsilon: 3 }, head('none'))).head.inputCentre).toBe('none')
    expect(read({ ...base, ...head('validation') }).head.inputCentre).toBe('validation')
  })

  it('refuses an input centre on the validation set without one, and an unknown centre, saying what it expected', () => {
    expect(
      refusal({
        ...base,
        head: { ...base.head, inputCentre: 'validation' },
        evaluation: { test: 'data/test' },
      }),
    ).toBe(
      'task file: head.inputCentre: expected "validation" only with evaluation.validation (it is that set\'s mean embedding), or "none", got "validation"',
    )
    expect(refusal({ ...base, head: { ...base.head, inputCentre: 'test' } })).toBe(
      'task file: head.inputCentre: expected one of "validation", "none", got "test"',
    )
  })

  it('switches the priors to public mixes: the validation set’s, else uniform', () => {
    const task = read(withPrivacy({ unit: 'example', epsilon: 3 }))
    expect(task.training.labelPrior).toBe('validation')
    expect(task.evaluation?.prior).toBe('validation')
    const noValidation = read(
      withPrivacy({ unit: 'participant', epsilon: 3, delta: 1e-3 }, { evaluation: { test: 'data/test' } }),
    )
    expect(noValidation.training.labelPrior).toBe('uniform')
    expect(noValidation.evaluation?.prior).toBe('uniform')
    // without privacy the defaults stay
    expect(read(base).training.labelPrior).toBe('local')
    expect(read(base).evaluation?.prior).toBe('federation')
  })

  it('refuses what would leak the counts or break per-example sensitivity, saying why', () => {
    expect(
      refusal(
        withPrivacy({ unit: 'example', epsilon: 3 }, { training: { rounds: 20, labelPrior: 'local' } }),
      ),
    ).toContain(
      'training.labelPrior: expected "validation" or "uniform" with privacy.unit "example": the federation\'s label counts stay out of a private sum, and a participant\'s own mix would make each example\'s loss depend on the others',
    )
    expect(
      refusal(
        withPrivacy(
          { unit: 'participant', epsilon: 3, delta: 1e-3 },
          { training: { rounds: 20, labelPrior: 'federation' } },
        ),
      ),
    ).toContain('training.labelPrior: expected "local", "validation" or "uniform" with privacy')
    expect(
      refusal(
        withPrivacy({ unit: 'example', epsilon: 3 }, { training: { rounds: 20, classWeights: 'balanced' } }),
      ),
    ).toContain('training.classWeights: expected "none" with privacy.unit "example"')
    expect(
      refusal(
        withPrivacy(
          { unit: 'example', epsilon: 3 },
          { evaluation: { validation: 'v', prior: 'federation' } },
        ),
      ),
    ).toContain('evaluation.prior: expected "validation" or "uniform" with privacy')
  })

  it('refuses a δ of 1/n or more, a sampling rate for whole participants, and participant noise outside the secure sum', () => {
    expect(refusal(withPrivacy({ unit: 'participant', epsilon: 3, delta: 0.2 }))).toContain(
      'privacy.delta: expected below 1 / participantsPerRound = number 0.2',
    )
    expect(refusal(withPrivacy({ unit: 'example', epsilon: 3, delta: 0.7 }))).toContain(
      'privacy.delta: expected a number in (0, 0.5], got number 0.7',
    )
    expect(
      refusal(withPrivacy({ unit: 'participant', epsilon: 3, delta: 1e-3, samplingRate: 0.1 })),
    ).toContain('privacy.samplingRate: expected no samplingRate with unit "participant"')
    expect(
      refusal(
        withPrivacy(
          { unit: 'participant', epsilon: 3, delta: 1e-3 },
          { aggregation: { mode: 'plaintext-debug' } },
        ),
      ),
    ).toContain('aggregation.mode: expected "secure" with privacy.unit "participant"')
    expect(refusal(withPrivacy({ unit: 'patient', epsilon: 3 }))).toContain(
      'privacy.unit: expected one of "example", "participant", got "patient"',
    )
    expect(refusal(withPrivacy({ unit: 'example', epsilon: 0 }))).toContain(
      'privacy.epsilon: expected a number above 0',
    )
  })

  it('refuses a "validation" prior without a validation set', () => {
    expect(
      refusal({
        ...base,
        training: { rounds: 3, labelPrior: 'validation' },
        evaluation: { test: 'data/test' },
      }),
    ).toContain('training.labelPrior: expected "validation" only with evaluation.validation')
  })
})
