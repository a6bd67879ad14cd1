export {
  type Connection,
  connectionTo,
  type NetworkSettings,
  NetworkSettingsError,
  parsePin,
  proxyFor,
  stopsAt,
} from './connection.ts'
export { ConnectionError, type ConnectionErrorCode } from './connection-error.ts'
export { checkDataFolder, type DataCheck } from './data-check.ts'
export {
  appendHistory,
  type HistoryEntry,
  historyFile,
  type LocalMetricsOfGlobal,
  type RoundOutcome,
  readHistory,
} from './history.ts'
export { loadOrCreateIdentity } from './identity.ts'
export { createLogger, type LogFields, type LogFormat, type Logger, type LogLevel } from './log.ts'
export {
  defaultName,
  Participant,
  type ParticipantEnd,
  ParticipantError,
  type ParticipantOptions,
} from './participant.ts'
export { type PreparedData, type PrepareOptions, prepare } from './prepare.ts'
export { appendSpentRound, privacyLedgerFile, readPrivacyLedger } from './privacy-ledger.ts'
export { type RoundSizes, roundSizes } from './round-sizes.ts'
export { reportSkipped, SKIPPED_SHOWN, skippedListFile } from './skipped-files.ts'
export { SYSTEM_CA_FILES, systemCaBundle } from './system-ca.ts'
export { fetchTaskInfo } from './task-info.ts'
