import type { ClinicalMetrics, Dataset } from '@fedtune/model'
import type { SpentRound, TaskInfo } from '@fedtune/protocol'

/** What the page tells the training worker. Socket messages are relayed raw: the worker parses them. */
export type ToWorker =
  | {
      readonly type: 'init'
      readonly task: TaskInfo
      readonly identitySeed: Uint8Array
      readonly train: Dataset
      readonly val: Dataset
      /** Under the task's privacy, the rounds this browser released before (its ledger); [] without. */
      readonly spent: readonly SpentRound[]
    }
  | { readonly type: 'round'; readonly raw: unknown }
  /** The page kept the round the worker asked it to (`spend`), or could not: then nothing is sent. */
  | { readonly type: 'kept'; readonly round: number; readonly error: string | null }
  | { readonly type: 'secagg'; readonly raw: unknown }
  /** The secure round `round` is over for this volunteer (its result came, or the connection dropped). */
  | { readonly type: 'end-round'; readonly round: number | null }

/** The secure round's steps as the page shows them. */
export type VolunteerStage =
  | 'training'
  | 'advertised'
  | 'shared-keys'
  | 'masked-input'
  | 'unmasked'
  | 'refused'

/** What the worker tells the page. */
export type FromWorker =
  | { readonly type: 'emit-secagg'; readonly round: number; readonly message: unknown }
  | {
      readonly type: 'stage'
      readonly round: number
      readonly stage: VolunteerStage
      readonly detail?: string
    }
  | {
      readonly type: 'progress'
      readonly round: number
      readonly epoch: number
      readonly epochs: number
      readonly loss: number
    }
  | {
      readonly type: 'trained'
      readonly round: number
      readonly examples: number
      readonly trainLoss: number
      /** The global head this round started from, on the volunteer's held-out images (exact; never sent). */
      readonly received: ClinicalMetrics | null
    }
  /**
   * Under privacy, before the masked input goes out: keep this round in the page's store (the
   * worker waits for `kept`), then show ε spent.
   */
  | { readonly type: 'spend'; readonly spent: SpentRound }
  /** The round would take this browser past the task's privacy budget: it leaves the run. */
  | { readonly type: 'budget-spent'; readonly round: number; readonly reason: string }
  /** A line for the volunteer that changes nothing (a round left unfinished, a stray message ignored). */
  | { readonly type: 'notice'; readonly message: string }
  | { readonly type: 'error'; readonly message: string }
