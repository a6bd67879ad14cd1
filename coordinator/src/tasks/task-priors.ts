import { labelMix } from '@fedtune/model'
import type { PredictionPrior, TrainingPrior } from '../rounds/round-prior.ts'
import type { TaskFile } from './task-file.ts'

/**
 * The task file's `training.labelPrior` and `evaluation.prior` as rounds use them: "validation" and
 * "uniform" become fixed, public mixes (the validation set's smoothed label shares, or every label
 * alike), so that a private task, whose label counts stay out of the sum, still has a prior. The
 * coordinator and `fedtune simulate` both read them here.
 */
export function taskPriors(
  task: Pick<TaskFile, 'training' | 'evaluation'> & { readonly head: { readonly labels: readonly string[] } },
  validationCounts: readonly number[] | null,
): { readonly labelPrior: TrainingPrior; readonly predictionPrior: PredictionPrior } {
  const classes = task.head.labels.length
  const validation = (): { fixed: number[] } => {
    // The schema refuses "validation" without a validation set; a set that embedded nothing has no mix.
    const mix = labelMix(validationCounts, classes)
    if (mix === null) throw new Error('a "validation" prior needs the validation set, and the task has none')
    return { fixed: mix }
  }
  const uniform = { fixed: new Array<number>(classes).fill(1 / classes) }
  const labelPrior = task.training.labelPrior
  const evaluationPrior = task.evaluation?.prior ?? 'federation'
  return {
    labelPrior: labelPrior === 'validation' ? validation() : labelPrior === 'uniform' ? uniform : labelPrior,
    predictionPrior: evaluationPrior === 'validation' ? validation() : evaluationPrior,
  }
}
