/** The store's public face, for the coordinator's other parts (`@fedtune/coordinator/store`). */
export type { ApiToken, ApiTokens } from './api-tokens.ts'
export type { Audit, AuditEntry, AuditFilter, AuditOutcome } from './audit.ts'
export { AUDIT_PAGE_MAX } from './audit.ts'
export type { StoreClock } from './clock.ts'
export type { Invite, Invites } from './invites.ts'
export { parseLocation, redactLocation, type StoreLocation } from './location.ts'
export { type AppliedMigration, MIGRATIONS } from './migrate.ts'
export type { Migration } from './migrations/migration.ts'
export { openStore, type Repositories, type Store, type StoreOptions } from './open-store.ts'
export { OPERATOR_ROLES, type Operator, type OperatorRole, type Operators } from './operators.ts'
export {
  type EnrolledVia,
  type NewParticipant,
  PARTICIPANT_STATES,
  type Participant,
  type ParticipantKindStored,
  type ParticipantState,
  type Participants,
} from './participants.ts'
export type { RoundRecordLike, Rounds, StoredRound } from './rounds.ts'
export { ENDED_RUN_STATES, RUN_STATES, type Run, type RunState, type Runs } from './runs.ts'
export type { Session, Sessions } from './sessions.ts'
export type { Sql } from './sql.ts'
export { StoreError, type StoreErrorCode } from './store-error.ts'
export type { StoredTask, Tasks } from './tasks.ts'
