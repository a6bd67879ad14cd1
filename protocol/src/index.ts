export { backboneListing } from './backbone-listing.ts'
export type { ClassMetrics, ClinicalMetrics } from './clinical-metrics.ts'
export * from './console-feed.ts'
export { describe } from './describe.ts'
export { ProtocolError, type ProtocolErrorCode, REFUSAL_CODES, type RefusalCode } from './errors.ts'
export {
  addEvaluationCounts,
  CONFIDENCE_BINS,
  confidenceBin,
  confidenceBinCentre,
  type EvaluationCounts,
  emptyEvaluationCounts,
  evaluationCountsLength,
  flattenEvaluationCounts,
  type PooledEvaluation,
  parseEvaluationCounts,
  readPooledEvaluation,
  SCORE_BINS,
  scoreBin,
} from './evaluation-counts.ts'
export { applyWeightedSum, type Contribution, fedAvg, weightedSum } from './fedavg.ts'
export {
  type HeadLayer,
  type HeadSpec,
  type ParamShape,
  paramCount,
  paramShapes,
  parseHeadSpec,
} from './head-spec.ts'
export {
  formatWait,
  HELLO_ACK_WAIT_MS,
  type HelloIdentity,
  type HelloOptions,
  type HelloOutcome,
  type HelloSend,
  type HelloStop,
  helloFor,
  helloHandshake,
  joinDecision,
  refusalOutcome,
} from './hello-handshake.ts'
export {
  CHALLENGE_WAIT_MS,
  checkHelloProof,
  checkIdentityKey,
  helloTranscript,
  NO_CHALLENGE_NOTICE,
  signHello,
} from './hello-proof.ts'
export { IMAGE_VIEWS, type ImageView, ORIGINAL_ONLY, parseImageViews, sameViews } from './image-views.ts'
export { RETRY_FIRST_MS, RETRY_MAX_MS, refusalIsFinal, retryDelayMs } from './join-retry.ts'
export { keyFingerprint } from './key-fingerprint.ts'
export { escapeText } from './log-text.ts'
export * from './messages.ts'
export {
  packFrame,
  type UnpackedFrame,
  unpackFrame,
  type WriteAscii,
  writeAsciiByChar,
} from './packed-frame.ts'
export * from './privacy/index.ts'
export * from './secagg/index.ts'
export {
  type MaskedInputSource,
  type SecaggAnswer,
  SecureRoundDriver,
  type SecureRoundDriverOptions,
  type SecureRoundReport,
} from './secure-round-driver.ts'
export { secureRoundContext } from './secure-round-setup.ts'
export {
  decodeSecureSum,
  encodeExamplePrivateContribution,
  encodeParticipantPrivateContribution,
  encodeRoundContribution,
  encodeSecureContribution,
  PRIVATE_NO_EVALUATION,
  type SecureContribution,
  type SecureSum,
  secureVectorLength,
} from './secure-update.ts'
export { sha256 } from './sha256.ts'
export { asBytes, decodeWeights, encodeWeights } from './weights.ts'
export { PackedDecoder, PackedEncoder, packedParser, sharedPayload } from './wire-parser.ts'
