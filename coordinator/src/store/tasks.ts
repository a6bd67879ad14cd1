import type { StoreClock } from './clock.ts'
import { iso, json, one } from './row-values.ts'
import type { Sql } from './sql.ts'
import { StoreError, storeErrorFrom } from './store-error.ts'

/** A submitted task: its parsed task file, kept as JSON and given back unchanged. */
export type StoredTask<File = unknown> = {
  readonly name: string
  readonly file: File
  readonly submittedBy: string
  readonly submittedAt: string
}

type TaskRow = { name: string; file: unknown; submitted_by: string; submitted_at: Date }

function taskFrom<File>(row: TaskRow): StoredTask<File> {
  return {
    name: row.name,
    file: row.file as File,
    submittedBy: row.submitted_by,
    submittedAt: iso(row.submitted_at),
  }
}

export type Tasks = {
  /** Stores a task under its name; a name already taken is a `conflict`. */
  submit<File>(task: {
    readonly name: string
    readonly file: File
    readonly submittedBy: string
  }): Promise<StoredTask<File>>
  /** A task's file replaced (its runs keep the settings they started with); no such task is `not-found`. */
  replace<File>(name: string, file: File, submittedBy: string): Promise<StoredTask<File>>
  get<File = unknown>(name: string): Promise<StoredTask<File> | null>
  list<File = unknown>(): Promise<readonly StoredTask<File>[]>
}

export function tasksOver(sql: Sql, now: StoreClock): Tasks {
  return {
    async submit(task) {
      try {
        const rows = await sql.query<TaskRow>(
          'insert into tasks (name, file, submitted_by, submitted_at) values ($1, $2::jsonb, $3, $4::timestamptz) returning *',
          [task.name, json(task.file), task.submittedBy, now().toISOString()],
        )
        return taskFrom(one(rows, `submitting task "${task.name}"`))
      } catch (error) {
        throw storeErrorFrom(error, `submitting task "${task.name}"`)
      }
    },
    async replace(name, file, submittedBy) {
      const rows = await sql.query<TaskRow>(
        'update tasks set file = $2::jsonb, submitted_by = $3, submitted_at = $4::timestamptz where name = $1 returning *',
        [name, json(file), submittedBy, now().toISOString()],
      )
      if (rows[0] === undefined) throw new StoreError('not-found', `replacing task "${name}": no such task`)
      return taskFrom(rows[0])
    },
    async get(name) {
      const rows = await sql.query<TaskRow>('select * from tasks where name = $1', [name])
      return rows[0] === undefined ? null : taskFrom(rows[0])
    },
    async list() {
      const rows = await sql.query<TaskRow>('select * from tasks order by submitted_at, name')
      return rows.map((row) => taskFrom(row))
    },
  }
}
