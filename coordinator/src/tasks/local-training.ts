import type { TrainingSettings } from '@fedtune/protocol'
import type { TaskFile } from './task-file.ts'

/**
 * What every participant trains with, from the task file's `training`: the settings a round hands
 * out before the coordinator adds its seed and prior. The coordinator and `fedtune simulate` both
 * read them here, so a simulated federation trains exactly as a real one.
 */
export function localTraining(training: TaskFile['training']): Omit<TrainingSettings, 'seed' | 'prior'> {
  return {
    epochs: training.localEpochs,
    batchSize: training.batchSize,
    optimizer: training.optimizer,
    learningRate: training.learningRate,
    classWeights: training.classWeights,
    loss: training.loss,
  }
}
