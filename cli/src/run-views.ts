import type { BestSummary, TaskListing } from '@fedtune/coordinator'

/*
 * What the coordinator's run API answers (coordinator/src/http/run-routes.ts and app.ts), as the
 * operators' commands read it.
 */

/** A run: its state and why, never anything of a participant's data. */
export type RunView = {
  readonly id: number
  readonly task: string
  readonly state: string
  readonly reason: string | null
  readonly pauseRequested: boolean
  readonly createdAt: string
  readonly startedAt: string | null
  readonly endedAt: string | null
}

/** GET /api/tasks */
export type TaskList = { readonly tasks: readonly TaskListing[] }

/** GET /api/status?task=: the task's live run. */
export type LiveStatus = {
  readonly task: string
  readonly phase: 'waiting' | 'training' | 'finished'
  readonly paused: boolean
  readonly round: number
  /** The running round's deadline, epoch ms; null between rounds. */
  readonly deadlineAt: number | null
  readonly rounds: number
  readonly online: readonly string[]
  readonly browsers: readonly string[]
  readonly selected: readonly string[]
  readonly received: readonly string[]
  readonly aggregation: string
  readonly secure: { readonly stage: string; readonly waitingFor: readonly string[] } | null
  readonly completed: number
  readonly failed: number
  /** The best round by the task's validation metric, with its test figures; null before any (or from an older coordinator). */
  readonly best?: BestSummary | null
  /**
   * A private task's budget: ε spent over the rounds accounted, of the target, at δ; null without
   * privacy (absent from an older coordinator).
   */
  readonly privacy?: {
    readonly unit: 'example' | 'participant'
    readonly epsilon: number
    readonly delta: number
    readonly target: number
    readonly rounds: number
  } | null
}

/** GET /api/runs/:id/rounds: each kept round's record, when it was kept, and whether it has a head. */
export type KeptRounds = {
  readonly run: number
  readonly rounds: readonly (Record<string, unknown> & {
    readonly round: number
    readonly committedAt: string
    readonly head: boolean
  })[]
}

/** A time the coordinator sent (epoch ms) in this machine's time zone: `2026-12-02 13:04:05 +01:00`. */
export function localTime(ms: number): string {
  const at = new Date(ms)
  const two = (n: number) => String(n).padStart(2, '0')
  const offset = -at.getTimezoneOffset()
  const sign = offset < 0 ? '-' : '+'
  const zone = `${sign}${two(Math.floor(Math.abs(offset) / 60))}:${two(Math.abs(offset) % 60)}`
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())} ${zone}`
}
