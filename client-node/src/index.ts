export { loadOrCreateIdentity } from './identity.ts'
export { defaultName, Participant, ParticipantError, type ParticipantOptions } from './participant.ts'
export { type PreparedData, type PrepareOptions, prepare } from './prepare.ts'
export { reportSkipped, SKIPPED_SHOWN, skippedListFile } from './skipped-files.ts'
