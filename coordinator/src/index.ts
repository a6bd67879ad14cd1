export { bestRoundMetric, bestRoundView } from './console/best-round-view.ts'
export { ConsoleFeed, type FeedHost, type FeedOut } from './console/console-feed.ts'
export { originProblem } from './console/console-origin.ts'
export { consoleParticipant, participantCounts } from './console/console-participant.ts'
export { consoleRun, etaMs } from './console/console-run.ts'
export { attachConsole, type ConsoleSocketOptions, type ConsoleSockets } from './console/console-sockets.ts'
export { liveRound } from './console/live-round.ts'
export { dropoutsOf, goneFrom, roundEntry, stageSpans } from './console/round-entry.ts'
export { heldOutFigures, roundEvaluation, setFigures } from './console/round-evaluation.ts'
export { RoundTraffic } from './console/round-traffic.ts'
export { runPrivacy } from './console/run-privacy.ts'
export type { FederationView, RunView, StageView } from './console/run-view.ts'
export { runWaiting } from './console/run-waiting.ts'
export { Throttle } from './console/throttle.ts'
export { majorityAccuracy } from './host/live-run.ts'
export {
  type OpenTask,
  singleTask,
  type TaskDirectory,
  type TaskListing,
  type TaskPhase,
  unknownTask,
} from './host/task-directory.ts'
export { HostError, type RunAction, TaskHost, type TaskHostOptions } from './host/task-host.ts'
export { type AppOptions, backbonePath, buildApp, type ServedBackbone } from './http/app.ts'
export {
  CONSOLE_PATH,
  consolePageProblem,
  DEFAULT_CONSOLE_DIR,
  serveConsolePage,
} from './http/console-page.ts'
export { runRoutes, runView, TASK_FILE_BODY_LIMIT } from './http/run-routes.ts'
export { certificateNames, readTlsPair, type TlsPair, TlsPairError } from './http/tls-pair.ts'
export { DEFAULT_WEB_DIR, JOIN_PATH, serveWebPage, webPageProblem } from './http/web-page.ts'
export {
  type Admission,
  type AdmissionOptions,
  type HelloClaim,
  inviteHash,
  storeAdmission,
} from './participants/admission.ts'
export type { ExcludedEntry, Exclusion } from './participants/exclusion.ts'
export { INVITE_TTL_MS, issueInvite } from './participants/invite.ts'
export { accountedRounds } from './privacy/accounted-rounds.ts'
export { privacyChange } from './privacy/privacy-change.ts'
export {
  examplePrivacyFor,
  type PrivateRun,
  privacyAtSubmit,
  privacySettingsFor,
  RING_WRAP_BOUND,
} from './privacy/privacy-settings-for.ts'
export {
  budgetExceeded,
  PRIVACY_BUDGET,
  type PrivacyRecord,
  privacyRecord,
  type RoundPrivacy,
} from './privacy/round-privacy.ts'
export {
  exampleNoise,
  type NoiseFound,
  participantVariance,
  type RoundMechanism,
  runAccountant,
} from './privacy/run-accountant.ts'
export {
  lostRoundRecord,
  readUnmaskingMark,
  type UnmaskingMark,
  unmaskingMarkFile,
  writeUnmaskingMark,
} from './privacy/unmasking-mark.ts'
export {
  type BestRound,
  EARLY_STOP,
  earlyStop,
  metricName,
  nextBest,
  patienceRunOut,
} from './rounds/best-round.ts'
export { type BestSummary, bestSummary, type Headline } from './rounds/best-summary.ts'
export { type Clock, realClock } from './rounds/clock.ts'
export {
  type Evaluate,
  type EvaluatedSets,
  Federation,
  type FederationOptions,
  type FederationState,
  type Link,
  type RoundRecorder,
  type Selection,
} from './rounds/federation.ts'
export { federationPrior } from './rounds/label-prior.ts'
export { Roster, rosterSlot } from './rounds/roster.ts'
export {
  type Effect,
  initialState,
  type Progress,
  type RoundConfig,
  type RoundEvent,
  type RoundState,
  step,
} from './rounds/round.ts'
export { roundChart } from './rounds/round-chart.ts'
export { formatRecord, RoundLog, type RoundRecord } from './rounds/round-log.ts'
export { afterQueuedSends, type RoundObserver, type StageTiming } from './rounds/round-observer.ts'
export { type PredictionPrior, roundPrior, type TrainingPrior } from './rounds/round-prior.ts'
export { reportedSet, roundResult } from './rounds/round-record.ts'
export type { ControlEvent } from './rounds/run-control.ts'
export { RunControlError } from './rounds/run-control-error.ts'
export { type Places, selectable, selectParticipants } from './rounds/selection.ts'
export {
  FEDAVG,
  type ServerOptimizer,
  type ServerState,
  serverStep,
} from './rounds/server-optimizer.ts'
export { AddressCap, addressOf } from './sockets/address-cap.ts'
export { type BoundedDecoder, boundedParser, decodeHeader, handOver } from './sockets/bounded-parser.ts'
export { ConnectionGuard, type GuardedConnection } from './sockets/connection-guard.ts'
export {
  type ConnectionLimits,
  connectionLimits,
  DEFAULT_CONNECTION_LIMITS,
} from './sockets/connection-limits.ts'
export {
  type Bound,
  boundOf,
  largestBound,
  type MessageBounds,
  type MessageShape,
  messageBounds,
  type SentStage,
} from './sockets/message-bounds.ts'
export {
  DEFAULT_READ_PACING,
  MAX_TURN_MS,
  type PacerHost,
  ReadPacer,
  type ReadPacing,
  readPacing,
} from './sockets/read-pacer.ts'
export {
  attachSockets,
  type InboundTap,
  maxMessageBytes,
  raiseMessageBytes,
  type SocketShellOptions,
} from './sockets/socket-shell.ts'
export { type Bucket, fullBucket, spend } from './sockets/token-bucket.ts'
export { DEFAULT_SLICE_MS, MAX_INBOUND, TurnQueue, type TurnQueueHost } from './sockets/turn-queue.ts'
export { headFile, RunFolderError, serverStateFile } from './store/run-folder.ts'
export { localTraining } from './tasks/local-training.ts'
export { fieldRows, taskFileJsonSchema, taskFileJsonSchemaText, withFieldTables } from './tasks/task-docs.ts'
export {
  type Aggregation,
  type Enrolment,
  parseTaskFile,
  readTaskFile,
  type TaskFile,
  TaskFileError,
  type TaskFileProblem,
  type TaskPrivacy,
} from './tasks/task-file.ts'
export { taskPriors } from './tasks/task-priors.ts'
export { type TaskFileFields, taskFileSchema } from './tasks/task-schema.ts'
