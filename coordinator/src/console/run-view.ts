import type { BestRoundView, ConsolePrivacy, LiveStage } from '@fedtune/protocol'

/** The open stage of the running round: which, who it still waits for, and its deadline (epoch ms). */
export type StageView = {
  readonly stage: LiveStage
  readonly waitingFor: readonly string[]
  readonly deadlineAt: number | null
}

/** The federation of a run that serves, as plain data: what the console's pure functions read. */
export type FederationView = {
  readonly phase: 'waiting' | 'training' | 'finished'
  readonly round: number
  readonly paused: boolean
  readonly pausedBy: string | null
  readonly committing: boolean
  readonly online: number
  readonly needed: number
  readonly gathering: 'idle' | 'waiting' | 'expired'
  readonly gatherUntil: number | null
  readonly completed: number
  readonly failed: number
  /** The running round's open stage; null between rounds. */
  readonly stage: StageView | null
}

/** One task's run as the host knows it, as plain data (console-run.ts builds a ConsoleRun of it). */
export type RunView = {
  readonly task: string
  readonly run: {
    readonly id: number
    readonly state: string
    readonly reason: string | null
    readonly startedAt: string | null
    readonly endedAt: string | null
  } | null
  readonly rounds: number
  readonly secure: boolean
  /** While it prepares: what, and how far. */
  readonly preparing: { readonly what: string; readonly done: number; readonly total: number } | null
  /** null before it serves. */
  readonly federation: FederationView | null
  /** Held-out metrics of the last aggregated round (test, else validation); null before one. */
  readonly last: { readonly accuracy: number; readonly auc: number | null } | null
  /** The best round so far by the task's validation metric, as the last kept record says; null before one. */
  readonly best: BestRoundView | null
  /** How long each round that ended took (ms). */
  readonly durations: readonly number[]
  /** From the kept records: the last round and how many aggregated and failed (a run this process does not serve). */
  readonly kept: { readonly round: number; readonly completed: number; readonly failed: number }
  /** A private task's budget as it stands (ε spent of the target); null without privacy. */
  readonly privacy: ConsolePrivacy | null
  /** The privacy statement participants are shown (console-run.ts's ConsoleRun.privacyStatement). */
  readonly privacyStatement: readonly string[]
}
