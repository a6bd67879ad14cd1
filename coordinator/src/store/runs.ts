import type { StoreClock } from './clock.ts'
import { iso, isoOrNull, json, one } from './row-values.ts'
import type { Sql } from './sql.ts'
import { StoreError, storeErrorFrom } from './store-error.ts'

export const RUN_STATES = [
  'preparing',
  'waiting',
  'running',
  'paused',
  'stopped',
  'finished',
  'failed',
] as const
export type RunState = (typeof RUN_STATES)[number]
/** A run in one of these states is over: it never changes state again. */
export const ENDED_RUN_STATES: readonly RunState[] = ['stopped', 'finished', 'failed']

/** One run of a task, with the full settings it was started with. */
export type Run<Settings = unknown> = {
  readonly id: number
  readonly task: string
  readonly settings: Settings
  readonly state: RunState
  readonly reason: string | null
  readonly createdAt: string
  readonly startedAt: string | null
  readonly endedAt: string | null
  readonly pauseRequested: boolean
  /** Its files beside the database (heads, FedAdam's moments, a readable copy of its rounds); null before it prepared. */
  readonly folder: string | null
}

type RunRow = {
  id: number
  task: string
  settings: unknown
  state: RunState
  reason: string | null
  created_at: Date
  started_at: Date | null
  ended_at: Date | null
  pause_requested: boolean
  folder: string | null
}

function runFrom<Settings>(row: RunRow): Run<Settings> {
  return {
    id: row.id,
    task: row.task,
    settings: row.settings as Settings,
    state: row.state,
    reason: row.reason,
    createdAt: iso(row.created_at),
    startedAt: isoOrNull(row.started_at),
    endedAt: isoOrNull(row.ended_at),
    pauseRequested: row.pause_requested,
    folder: row.folder,
  }
}

export type Runs = {
  /** A new run of a stored task (else `not-found`), in state `preparing`. */
  create<Settings>(run: { readonly task: string; readonly settings: Settings }): Promise<Run<Settings>>
  get<Settings = unknown>(id: number): Promise<Run<Settings> | null>
  /** Every run, or one task's, oldest first. */
  list<Settings = unknown>(filter?: { readonly task?: string }): Promise<readonly Run<Settings>[]>
  /** The runs not yet over (what a restarted coordinator carries on with), oldest first. */
  unfinished<Settings = unknown>(): Promise<readonly Run<Settings>[]>
  /**
   * Moves a run to `state` with its reason. The first `running` sets started_at; an ending state sets
   * ended_at and clears a pause request. A run already over is `wrong-state`; no such run is `not-found`.
   */
  setState(id: number, state: RunState, reason?: string | null): Promise<Run>
  /** Records where the run keeps its files; no such run is `not-found`. */
  setFolder(id: number, folder: string): Promise<Run>
  /** Asks the run to pause after its current round (or withdraws the request); `wrong-state` once it is over. */
  requestPause(id: number, requested: boolean): Promise<Run>
}

export function runsOver(sql: Sql, now: StoreClock): Runs {
  const whenOver = async (id: number, what: string): Promise<never> => {
    const rows = await sql.query<RunRow>('select * from runs where id = $1', [id])
    const run = one(rows, `${what} of run ${id}`)
    throw new StoreError('wrong-state', `${what} of run ${id}: the run is already ${run.state}`)
  }
  return {
    async create(run) {
      try {
        const rows = await sql.query<RunRow>(
          "insert into runs (task, settings, state, created_at) values ($1, $2::jsonb, 'preparing', $3::timestamptz) returning *",
          [run.task, json(run.settings), now().toISOString()],
        )
        return runFrom(one(rows, `creating a run of task "${run.task}"`))
      } catch (error) {
        throw storeErrorFrom(error, `creating a run of task "${run.task}"`)
      }
    },
    async get(id) {
      const rows = await sql.query<RunRow>('select * from runs where id = $1', [id])
      return rows[0] === undefined ? null : runFrom(rows[0])
    },
    async list(filter = {}) {
      const rows =
        filter.task === undefined
          ? await sql.query<RunRow>('select * from runs order by id')
          : await sql.query<RunRow>('select * from runs where task = $1 order by id', [filter.task])
      return rows.map((row) => runFrom(row))
    },
    async unfinished() {
      const rows = await sql.query<RunRow>(
        "select * from runs where state not in ('stopped', 'finished', 'failed') order by id",
      )
      return rows.map((row) => runFrom(row))
    },
    async setState(id, state, reason = null) {
      const at = now().toISOString()
      try {
        const rows = await sql.query<RunRow>(
          `update runs set
             state = $2,
             reason = $3,
             started_at = case when $2 = 'running' then coalesce(started_at, $4::timestamptz) else started_at end,
             ended_at = case when $2 in ('stopped', 'finished', 'failed') then $4::timestamptz else null end,
             pause_requested = case when $2 in ('stopped', 'finished', 'failed', 'paused') then false else pause_requested end
           where id = $1 and state not in ('stopped', 'finished', 'failed')
           returning *`,
          [id, state, reason, at],
        )
        if (rows[0] !== undefined) return runFrom(rows[0])
      } catch (error) {
        throw storeErrorFrom(error, `setting run ${id} to ${state}`)
      }
      return whenOver(id, `setting the state to ${state}`)
    },
    async setFolder(id, folder) {
      try {
        const rows = await sql.query<RunRow>('update runs set folder = $2 where id = $1 returning *', [
          id,
          folder,
        ])
        if (rows[0] !== undefined) return runFrom(rows[0])
      } catch (error) {
        throw storeErrorFrom(error, `recording the folder of run ${id}`)
      }
      throw new StoreError('not-found', `recording the folder of run ${id}: no such run`)
    },
    async requestPause(id, requested) {
      const rows = await sql.query<RunRow>(
        `update runs set pause_requested = $2
         where id = $1 and state not in ('stopped', 'finished', 'failed') returning *`,
        [id, requested],
      )
      if (rows[0] !== undefined) return runFrom(rows[0])
      return whenOver(id, 'requesting a pause')
    },
  }
}
