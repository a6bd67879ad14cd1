import { parseTaskFile, roundPrior, taskPriors } from '@fedtune/coordinator'
import { describe, expect, it } from 'vitest'

const task = (training: object, evaluation: object) =>
  parseTaskFile(
    {
      name: 't',
      backbone: { source: 'b', sha256: 'ab'.repeat(32) },
      head: { labels: ['a', 'b', 'c'] },
      training: { rounds: 2, ...training },
      evaluation,
    },
    '/x',
  )

describe('the task’s priors as rounds use them', () => {
  it('turns "validation" into the validation set’s smoothed mix and "uniform" into equal shares', () => {
    const priors = taskPriors(
      task({ labelPrior: 'validation' }, { validation: 'v', prior: 'validation' }),
      [7, 2, 0],
    )
    // (n + 1) / (N + C): 8/12, 3/12, 1/12
    expect(priors.labelPrior).toEqual({ fixed: [8 / 12, 3 / 12, 1 / 12] })
    expect(priors.predictionPrior).toEqual({ fixed: [8 / 12, 3 / 12, 1 / 12] })
    expect(taskPriors(task({ labelPrior: 'uniform' }, { test: 't', prior: 'uniform' }), null)).toEqual({
      labelPrior: { fixed: [1 / 3, 1 / 3, 1 / 3] },
      predictionPrior: 'uniform',
    })
    expect(taskPriors(task({}, { test: 't' }), null)).toEqual({
      labelPrior: 'local',
      predictionPrior: 'federation',
    })
  })

  it('predicts with a fixed mix whatever the round’s counts, and with none under cross-entropy', () => {
    const fixed = { fixed: [0.5, 0.25, 0.25] }
    expect(roundPrior('logit-adjusted', fixed, [1, 1, 1], 3)).toEqual([0.5, 0.25, 0.25])
    expect(roundPrior('logit-adjusted', fixed, null, 3)).toEqual([0.5, 0.25, 0.25])
    expect(roundPrior('cross-entropy', fixed, [1, 1, 1], 3)).toBeNull()
    expect(roundPrior('logit-adjusted', 'uniform', [1, 1, 1], 3)).toBeNull()
    expect(roundPrior('logit-adjusted', 'federation', [3, 1, 0], 3)).toEqual([4 / 7, 2 / 7, 1 / 7])
  })
})
