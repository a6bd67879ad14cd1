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
export { loadOrCreateIdentity } from './identity.ts'
export { defaultName, Participant, ParticipantError, type ParticipantOptions } from './participant.ts'
export { type PreparedData, type PrepareOptions, prepare } from './prepare.ts'
