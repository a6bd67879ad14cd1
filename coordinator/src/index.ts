export { AddressCap, addressOf } from './address-cap.ts'
export { type AppOptions, backbonePath, buildApp, type ServedBackbone } from './app.ts'
export { type BoundedDecoder, boundedParser, decodeHeader, handOver } from './bounded-parser.ts'
export { ConnectionGuard, type GuardedConnection } from './connection-guard.ts'
export { type ConnectionLimits, connectionLimits, DEFAULT_CONNECTION_LIMITS } from './connection-limits.ts'
export { type ExcludedEntry, type Exclusion, readExclusions, writeExclusion } from './exclusion.ts'
export {
  type Clock,
  type Evaluate,
  Federation,
  type FederationOptions,
  type Link,
  realClock,
} from './federation.ts'
export { federationPrior } from './label-prior.ts'
export {
  type Bound,
  boundOf,
  largestBound,
  type MessageBounds,
  type MessageShape,
  messageBounds,
  type SentStage,
} from './message-bounds.ts'
export {
  type Effect,
  initialState,
  type RoundConfig,
  type RoundEvent,
  type RoundState,
  step,
} from './round.ts'
export { roundChart } from './round-chart.ts'
export { formatRecord, RoundLog, type RoundRecord } from './round-log.ts'
export type { RoundObserver, StageTiming } from './round-observer.ts'
export {
  headFile,
  openRunFolder,
  type Resumed,
  RunFolderError,
  type RunMeta,
  serverStateFile,
} from './run-folder.ts'
export { type Places, selectable, selectParticipants } from './selection.ts'
export {
  FEDAVG,
  type ServerOptimizer,
  type ServerState,
  serverStep,
} from './server-optimizer.ts'
export { attachSockets, type InboundTap, maxMessageBytes, type SocketShellOptions } from './socket-shell.ts'
export {
  type Aggregation,
  type Enrolment,
  parseTaskFile,
  readTaskFile,
  type TaskFile,
  TaskFileError,
  type TaskFileProblem,
} from './task-file.ts'
export { fieldRows, taskFileJsonSchema, taskFileJsonSchemaText, withFieldTables } from './tasks/task-docs.ts'
export { type TaskFileFields, taskFileSchema } from './tasks/task-schema.ts'
export { type Bucket, fullBucket, spend } from './token-bucket.ts'
export { DEFAULT_WEB_DIR, JOIN_PATH, serveWebPage, webPageProblem } from './web-page.ts'
