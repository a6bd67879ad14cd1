import { type BackboneFile, ProtocolError, type TaskInfo } from '@fedtune/protocol'
import type { Admission } from '../participants/admission.ts'
import type { Federation } from '../rounds/federation.ts'
import type { RoundLog } from '../rounds/round-log.ts'

/** A backbone the coordinator serves under its digest: its folder and its files. */
export type ServedBackbone = {
  readonly dir: string
  readonly digest: string
  readonly files: readonly BackboneFile[]
}

/** A task whose run serves participants: what the sockets and the routes hand over to. */
export type OpenTask = {
  readonly info: TaskInfo
  readonly federation: Federation
  /** Who may join: decided at each hello, before its ack (participants/admission.ts). */
  readonly admission: Admission
  readonly log: RoundLog
  readonly backbone: ServedBackbone
  /** k, the secure aggregation's neighbourhood size, which bounds its messages; absent for plaintext-debug. */
  readonly neighbours?: number | undefined
}

/** What a task is doing, for its operators (GET /api/tasks). */
export type TaskPhase = 'idle' | 'preparing' | 'serving' | 'ended'

export type TaskListing = {
  readonly name: string
  readonly phase: TaskPhase
  /** The run serving (or preparing, or last ended); null before any. */
  readonly run: { readonly id: number; readonly state: string; readonly reason: string | null } | null
  /** While preparing: what, and how far. */
  readonly preparing: { readonly what: string; readonly done: number; readonly total: number } | null
}

/**
 * The tasks a coordinator hosts, as its sockets and routes see them. `open` picks the task a
 * connection or a request names; without a name, the only task whose run is open (or the only
 * task). Its refusals are the connection refusals of docs/protocol.md ("Tasks and enrolment").
 */
export interface TaskDirectory {
  /**
   * The task a connection (or, with `ended`, a request about a run that may be over) names.
   * @throws ProtocolError `unknown-task`, `task-finished` (unless `ended`) or `task-not-ready`
   */
  open(task: string | undefined, ended?: boolean): OpenTask
  /** The backbone served under `digest`, whichever task uses it. */
  backbone(digest: string): ServedBackbone | undefined
  list(): readonly TaskListing[]
  /** The most parameters a hosted head has: what bounds one socket message (sockets/socket-shell.ts). */
  readonly maxParamCount: number
}

/** A directory of one task, always open: the harness's, and a coordinator built around one federation. */
export function singleTask(task: OpenTask): TaskDirectory {
  return {
    open(name) {
      if (name !== undefined && name !== task.info.name) throw unknownTask(name, [task.info.name])
      return task
    },
    backbone: (digest) => (digest === task.backbone.digest ? task.backbone : undefined),
    list: () => [{ name: task.info.name, phase: 'serving', run: null, preparing: null }],
    maxParamCount: task.info.paramCount,
  }
}

export function unknownTask(name: string | undefined, open: readonly string[]): ProtocolError {
  const listed = open.length === 0 ? 'none is open' : `open: ${open.map((n) => JSON.stringify(n)).join(', ')}`
  return new ProtocolError(
    'unknown-task',
    name === undefined
      ? `expected the connection to name its task (auth.task) as this coordinator hosts several; ${listed}`
      : `expected a task this coordinator hosts, got ${JSON.stringify(name)}; ${listed}`,
  )
}
