import { centreDataset, type Dataset, meanEmbedding } from '@fedtune/model'

/**
 * The splits' embeddings minus the validation set's mean embedding, as fedtune centres a task's
 * inputs (`head.inputCentre: "validation"`; public to the coordinator, so it costs no privacy).
 */
export function centredSplits<T extends { train: Dataset; val: Dataset; test: Dataset }>(splits: T): T {
  const mean = meanEmbedding(splits.val)
  return {
    ...splits,
    train: centreDataset(splits.train, mean),
    val: centreDataset(splits.val, mean),
    test: centreDataset(splits.test, mean),
  }
}
