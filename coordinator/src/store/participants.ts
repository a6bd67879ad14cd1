import type { StoreClock } from './clock.ts'
import { bytes, iso, isoOrNull, one } from './row-values.ts'
import type { Sql } from './sql.ts'
import { StoreError, storeErrorFrom } from './store-error.ts'

export type ParticipantKindStored = 'hospital' | 'browser'
export const PARTICIPANT_STATES = ['pending', 'approved', 'revoked', 'excluded'] as const
export type ParticipantState = (typeof PARTICIPANT_STATES)[number]
export type EnrolledVia = 'approval' | 'invite' | 'open'

/** A participant of one task: its name and identity key are reserved in that task, whatever its state. */
export type Participant = {
  readonly task: string
  readonly name: string
  readonly kind: ParticipantKindStored
  readonly identityKey: Uint8Array
  readonly state: ParticipantState
  readonly enrolledVia: EnrolledVia
  readonly createdAt: string
  /** The operator who decided last (approval, revocation, exclusion, re-admission), or who issued the invite. */
  readonly decidedBy: string | null
  readonly decidedAt: string | null
  readonly reason: string | null
}

export type ParticipantRow = {
  task: string
  name: string
  kind: ParticipantKindStored
  identity_key: Uint8Array
  state: ParticipantState
  enrolled_via: EnrolledVia
  created_at: Date
  decided_by: string | null
  decided_at: Date | null
  reason: string | null
}

export function participantFrom(row: ParticipantRow): Participant {
  return {
    task: row.task,
    name: row.name,
    kind: row.kind,
    identityKey: bytes(row.identity_key),
    state: row.state,
    enrolledVia: row.enrolled_via,
    createdAt: iso(row.created_at),
    decidedBy: row.decided_by,
    decidedAt: isoOrNull(row.decided_at),
    reason: row.reason,
  }
}

export type NewParticipant = {
  readonly task: string
  readonly name: string
  readonly kind: ParticipantKindStored
  readonly identityKey: Uint8Array
}

export type Participants = {
  /**
   * A first hello in a task enrolled by approval: the participant waits, `pending`, for an operator. A
   * name or an identity key already in the task is a `conflict`; an unknown task `not-found`.
   */
  request(participant: NewParticipant): Promise<Participant>
  /** Open enrolment (volunteers): `approved` at once, with the same uniqueness as `request`. */
  enrolOpen(participant: NewParticipant): Promise<Participant>
  /** pending → approved. */
  approve(task: string, name: string, by: string): Promise<Participant>
  /** pending, approved or excluded → revoked: out of every later round. */
  revoke(task: string, name: string, by: string, reason?: string | null): Promise<Participant>
  /** approved → excluded (named the culprit of a secure round); `by` is 'system' or an operator. */
  exclude(task: string, name: string, by: string, reason: string): Promise<Participant>
  /** excluded or revoked → approved, by an operator only. */
  readmit(task: string, name: string, by: string): Promise<Participant>
  byTask(task: string, filter?: { readonly state?: ParticipantState }): Promise<readonly Participant[]>
  byName(task: string, name: string): Promise<Participant | null>
  byKey(task: string, identityKey: Uint8Array): Promise<Participant | null>
  /** How many participants of a kind a task has (for the cap on open enrolment), in any state. */
  count(task: string, kind: ParticipantKindStored): Promise<number>
}

/** Inserts a participant; shared by request, open enrolment and an invite's redemption. */
export async function insertParticipant(
  sql: Sql,
  p: NewParticipant & {
    readonly state: ParticipantState
    readonly via: EnrolledVia
    readonly at: string
    readonly decidedBy: string | null
  },
): Promise<Participant> {
  try {
    const rows = await sql.query<ParticipantRow>(
      `insert into participants (task, name, kind, identity_key, state, enrolled_via, created_at, decided_by, decided_at)
       values ($1, $2, $3, $4, $5, $6, $7::timestamptz, $8, case when $5 = 'pending' then null else $7::timestamptz end)
       returning *`,
      [p.task, p.name, p.kind, p.identityKey, p.state, p.via, p.at, p.decidedBy],
    )
    return participantFrom(one(rows, `enrolling "${p.name}" in task "${p.task}"`))
  } catch (error) {
    throw storeErrorFrom(error, `enrolling "${p.name}" in task "${p.task}"`)
  }
}

export function participantsOver(sql: Sql, now: StoreClock): Participants {
  const decide = async (
    task: string,
    name: string,
    to: ParticipantState,
    from: readonly ParticipantState[],
    by: string,
    reason: string | null,
  ): Promise<Participant> => {
    const rows = await sql.query<ParticipantRow>(
      `update participants set state = $3, decided_by = $4, decided_at = $5::timestamptz, reason = $6
       where task = $1 and name = $2 and state = any($7::text[]) returning *`,
      [task, name, to, by, now().toISOString(), reason, [...from]],
    )
    if (rows[0] !== undefined) return participantFrom(rows[0])
    const found = await sql.query<ParticipantRow>(
      'select * from participants where task = $1 and name = $2',
      [task, name],
    )
    const current = one(found, `participant "${name}" in task "${task}"`)
    throw new StoreError(
      'wrong-state',
      `participant "${name}" in task "${task}" is ${current.state}; to become ${to} it must be ${from.join(' or ')}`,
    )
  }
  return {
    request: (p) =>
      insertParticipant(sql, {
        ...p,
        state: 'pending',
        via: 'approval',
        at: now().toISOString(),
        decidedBy: null,
      }),
    enrolOpen: (p) =>
      insertParticipant(sql, {
        ...p,
        state: 'approved',
        via: 'open',
        at: now().toISOString(),
        decidedBy: null,
      }),
    approve: (task, name, by) => decide(task, name, 'approved', ['pending'], by, null),
    revoke: (task, name, by, reason = null) =>
      decide(task, name, 'revoked', ['pending', 'approved', 'excluded'], by, reason),
    exclude: (task, name, by, reason) => decide(task, name, 'excluded', ['approved'], by, reason),
    readmit: (task, name, by) => decide(task, name, 'approved', ['excluded', 'revoked'], by, null),
    async byTask(task, filter = {}) {
      const rows =
        filter.state === undefined
          ? await sql.query<ParticipantRow>(
              'select * from participants where task = $1 order by created_at, name',
              [task],
            )
          : await sql.query<ParticipantRow>(
              'select * from participants where task = $1 and state = $2 order by created_at, name',
              [task, filter.state],
            )
      return rows.map(participantFrom)
    },
    async byName(task, name) {
      const rows = await sql.query<ParticipantRow>(
        'select * from participants where task = $1 and name = $2',
        [task, name],
      )
      return rows[0] === undefined ? null : participantFrom(rows[0])
    },
    async byKey(task, identityKey) {
      const rows = await sql.query<ParticipantRow>(
        'select * from participants where task = $1 and identity_key = $2',
        [task, identityKey],
      )
      return rows[0] === undefined ? null : participantFrom(rows[0])
    },
    async count(task, kind) {
      const rows = await sql.query<{ n: number | string }>(
        'select count(*) as n from participants where task = $1 and kind = $2',
        [task, kind],
      )
      return Number(one(rows, 'count').n)
    },
  }
}
