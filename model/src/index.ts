export { accuracy } from './accuracy.ts'
export { type Backbone, backboneFromArtifacts } from './backbone.ts'
export { balancedClassWeights } from './class-weights.ts'
export { classify } from './classify.ts'
export { composeModel } from './compose-model.ts'
export { type CsvRecord, parseCsv } from './csv.ts'
export { type Dataset, subset } from './dataset.ts'
export { disposeModel } from './dispose-model.ts'
export { embed, viewOf } from './embed.ts'
export {
  type DenseDelta,
  dropoutMask,
  type HeadBatch,
  headBackward,
  headGradients,
  headLogits,
} from './head-gradients.ts'
export { flattenParams, headParams } from './head-params.ts'
export { initHead } from './init-head.ts'
export { centreDataset, foldCentre, meanEmbedding } from './input-centre.ts'
export {
  type InputProjection,
  maxProjection,
  principalComponents,
  projectDataset,
} from './input-projection.ts'
export { labelCounts } from './label-counts.ts'
export {
  type LineProblem,
  MANIFEST_FORMAT,
  type ManifestEntry,
  readLabelsManifest,
} from './labels-manifest.ts'
export {
  type LocalData,
  type LocalResult,
  type LocalRoundOptions,
  localRound,
  secureContribution,
} from './local-round.ts'
export { logitAdjustment, logitOffsets } from './logit-adjustment.ts'
export * from './metrics/index.ts'
export { type ModelFiles, modelFiles, WEIGHTS_FILE } from './model-artifacts.ts'
export {
  type AnyModelCard,
  cardViews,
  type DifferentialPrivacyCard,
  headlineFigures,
  MODEL_CARD_FORMAT,
  MODEL_CARD_FORMAT_1,
  type ModelCard,
  type ModelCardV1,
  modelCardReadme,
  type Preprocessing,
  parseModelCard,
  preprocessingFor,
} from './model-card.ts'
export { isSafeRelative, parseModelJson, verifiedFilesHandler } from './model-json.ts'
export {
  type ClippedGradientSum,
  clippedGradientSum,
  type ExampleBatch,
} from './per-example-clip.ts'
export type { Pixels } from './pixels.ts'
export { poissonSample } from './poisson-sample.ts'
export { predictHead } from './predict-head.ts'
export { foldPrior, labelMix } from './prediction-prior.ts'
export { preprocess } from './preprocess.ts'
export { deriveSeed, permutation, seededRandom } from './prng.ts'
export { evaluateReceived, type ReceivedEvaluation } from './received-evaluation.ts'
export { rocAuc } from './roc-auc.ts'
export { stratifiedSplit } from './stratified-split.ts'
export { type TrainProgress, trainHead } from './train-head.ts'
export {
  checkDpSgd,
  type DpSgdSettings,
  dpSgdSteps,
  type PrivateProgress,
  type PrivateTraining,
  trainHeadPrivately,
} from './train-head-private.ts'
export { viewsNote } from './views-note.ts'
