import type { StoreClock } from './clock.ts'
import { iso, json, one } from './row-values.ts'
import type { Sql } from './sql.ts'
import { storeErrorFrom } from './store-error.ts'

/** What the store needs to know of a round record; the rest is the coordinator's, kept as it is given. */
export type RoundRecordLike = { readonly round: number; readonly status: 'aggregated' | 'failed' }

export type StoredRound<Record extends RoundRecordLike = RoundRecordLike> = {
  readonly run: number
  readonly round: number
  readonly status: Record['status']
  readonly record: Record
  /** The head's file beside the database, written before the round's row commits (null for a failed round). */
  readonly headFile: string | null
  readonly committedAt: string
}

type RoundRow = {
  run: number
  round: number
  status: 'aggregated' | 'failed'
  record: unknown
  head_file: string | null
  committed_at: Date
}

function roundFrom<Record extends RoundRecordLike>(row: RoundRow): StoredRound<Record> {
  return {
    run: row.run,
    round: row.round,
    status: row.status,
    record: row.record as Record,
    headFile: row.head_file,
    committedAt: iso(row.committed_at),
  }
}

export type Rounds = {
  /**
   * Commits a round's record in one transaction: the round is in the database whole, or not at all. A
   * round already committed is a `conflict`; one that is not the run's next (last + 1) is `invalid`; an
   * unknown run is `not-found`.
   */
  commit<Record extends RoundRecordLike>(
    runId: number,
    record: Record,
    headFile: string | null,
  ): Promise<StoredRound<Record>>
  /** The run's rounds in order. */
  list<Record extends RoundRecordLike = RoundRecordLike>(
    runId: number,
  ): Promise<readonly StoredRound<Record>[]>
  /** The run's last committed round, or null before its first. */
  last<Record extends RoundRecordLike = RoundRecordLike>(runId: number): Promise<StoredRound<Record> | null>
  get<Record extends RoundRecordLike = RoundRecordLike>(
    runId: number,
    round: number,
  ): Promise<StoredRound<Record> | null>
}

export function roundsOver(sql: Sql, now: StoreClock): Rounds {
  return {
    async commit(runId, record, headFile) {
      try {
        // One statement is one transaction; the sequence trigger runs inside it.
        const rows = await sql.query<RoundRow>(
          `insert into rounds (run, round, status, record, head_file, committed_at)
           values ($1, $2, $3, $4::jsonb, $5, $6::timestamptz) returning *`,
          [runId, record.round, record.status, json(record), headFile, now().toISOString()],
        )
        return roundFrom(one(rows, `committing round ${record.round} of run ${runId}`))
      } catch (error) {
        throw storeErrorFrom(error, `committing round ${record.round} of run ${runId}`)
      }
    },
    async list(runId) {
      const rows = await sql.query<RoundRow>('select * from rounds where run = $1 order by round', [runId])
      return rows.map((row) => roundFrom(row))
    },
    async last(runId) {
      const rows = await sql.query<RoundRow>(
        'select * from rounds where run = $1 order by round desc limit 1',
        [runId],
      )
      return rows[0] === undefined ? null : roundFrom(rows[0])
    },
    async get(runId, round) {
      const rows = await sql.query<RoundRow>('select * from rounds where run = $1 and round = $2', [
        runId,
        round,
      ])
      return rows[0] === undefined ? null : roundFrom(rows[0])
    },
  }
}
