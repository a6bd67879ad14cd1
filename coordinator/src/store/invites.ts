import type { StoreClock } from './clock.ts'
import { insertParticipant, type NewParticipant, type Participant } from './participants.ts'
import { iso, isoOrNull, one, time } from './row-values.ts'
import type { Sql } from './sql.ts'
import { StoreError, storeErrorFrom } from './store-error.ts'

/** A one-time enrolment code for one participant name in one task; only its hash is kept. */
export type Invite = {
  readonly codeHash: string
  readonly task: string
  readonly participant: string
  readonly createdBy: string
  readonly createdAt: string
  readonly expiresAt: string
  readonly usedAt: string | null
}

type InviteRow = {
  code_hash: string
  task: string
  participant: string
  created_by: string
  created_at: Date
  expires_at: Date
  used_at: Date | null
}

function inviteFrom(row: InviteRow): Invite {
  return {
    codeHash: row.code_hash,
    task: row.task,
    participant: row.participant,
    createdBy: row.created_by,
    createdAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
    usedAt: isoOrNull(row.used_at),
  }
}

export type Invites = {
  /** A new invite for `participant` in a stored task (else `not-found`); a code hash already stored is a `conflict`. */
  issue(invite: {
    readonly task: string
    readonly participant: string
    readonly codeHash: string
    readonly createdBy: string
    readonly expiresAt: Date | string
  }): Promise<Invite>
  /**
   * Presents a code, in one transaction: the invite with this hash for this task and name (else
   * `not-found`), unused (else `used`), unexpired (else `expired`), is marked used and the participant
   * enrolled `approved` via `invite`. A name or key already in the task is a `conflict`, and then the
   * invite stays unused.
   */
  redeem(
    presented: NewParticipant & { readonly codeHash: string },
  ): Promise<{ readonly invite: Invite; readonly participant: Participant }>
  list(task: string): Promise<readonly Invite[]>
}

export function invitesOver(sql: Sql, now: StoreClock): Invites {
  return {
    async issue(i) {
      try {
        const rows = await sql.query<InviteRow>(
          `insert into invites (code_hash, task, participant, created_by, created_at, expires_at)
           values ($1, $2, $3, $4, $5::timestamptz, $6::timestamptz) returning *`,
          [i.codeHash, i.task, i.participant, i.createdBy, now().toISOString(), time(i.expiresAt)],
        )
        return inviteFrom(one(rows, `inviting "${i.participant}" to task "${i.task}"`))
      } catch (error) {
        throw storeErrorFrom(error, `inviting "${i.participant}" to task "${i.task}"`)
      }
    },
    async redeem(p) {
      const at = now()
      const what = `the invite of "${p.name}" to task "${p.task}"`
      try {
        return await sql.transaction(async (tx) => {
          // FOR UPDATE: two presentations of one code queue here, and the second finds it used.
          const rows = await tx.query<InviteRow>(
            'select * from invites where code_hash = $1 and task = $2 and participant = $3 for update',
            [p.codeHash, p.task, p.name],
          )
          const row = rows[0]
          if (row === undefined)
            throw new StoreError('not-found', `${what}: no invite with this code for this name`)
          if (row.used_at !== null)
            throw new StoreError('used', `${what}: the code was already used at ${iso(row.used_at)}`)
          if (new Date(row.expires_at).getTime() <= at.getTime())
            throw new StoreError('expired', `${what}: the code expired at ${iso(row.expires_at)}`)
          const used = await tx.query<InviteRow>(
            'update invites set used_at = $2::timestamptz where code_hash = $1 returning *',
            [p.codeHash, at.toISOString()],
          )
          const participant = await insertParticipant(tx, {
            task: p.task,
            name: p.name,
            kind: p.kind,
            identityKey: p.identityKey,
            state: 'approved',
            via: 'invite',
            at: at.toISOString(),
            decidedBy: row.created_by,
          })
          return { invite: inviteFrom(one(used, what)), participant }
        })
      } catch (error) {
        throw storeErrorFrom(error, `redeeming ${what}`)
      }
    },
    async list(task) {
      const rows = await sql.query<InviteRow>('select * from invites where task = $1 order by created_at', [
        task,
      ])
      return rows.map(inviteFrom)
    },
  }
}
