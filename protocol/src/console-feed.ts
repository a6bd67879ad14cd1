import type { Stage } from './secagg/messages.ts'

/**
 * The operator console's live feed: the coordinator pushes it over the socket.io namespace
 * {@link CONSOLE_NAMESPACE} to signed-in operators (the session cookie in the handshake; no session,
 * no connection). It carries only what the coordinator learns anyway: sums, survivors, timing, who
 * is online. Never a participant's own update or metrics.
 *
 * Times are epoch milliseconds (numbers) for live values and ISO strings for records, as in the
 * REST API. Names and agents are participant input: the coordinator escapes them before they are
 * put here (escapeText), and the page renders them as text, never as HTML.
 */
export const CONSOLE_NAMESPACE = '/console'

/**
 * The console's socket.io path: a server of its own beside the participants' (`/socket.io`), so
 * their hardened parser and limits stay as they are. A page connects with
 * `io(CONSOLE_NAMESPACE, { path: CONSOLE_SOCKET_PATH })` from the coordinator's own origin.
 */
export const CONSOLE_SOCKET_PATH = '/console/socket.io'

/** Why a console's connection was refused: the `connect_error`'s `data` (its message says the same). */
export type ConsoleRefusal = {
  readonly code:
    | 'unauthenticated'
    | 'bad-credentials'
    | 'session-expired'
    | 'session-revoked'
    | 'token-revoked'
    | 'foreign-origin'
    | 'no-accounts'
  readonly message: string
}

/** A round's stages as the console shows them: secure rounds, or a plaintext-debug round's `update`. */
export type LiveStage = Stage | 'update'

/** What a run is waiting for when it is not computing; null when it is not waiting. */
export type RunWaiting =
  /** Preparing: the backbone, the held-out set's embeddings. */
  | { readonly kind: 'preparing'; readonly detail: string }
  /** Fewer participants online than a round needs. */
  | { readonly kind: 'participants'; readonly online: number; readonly needed: number }
  /** Enough are online; the gather window lets more join before the round starts. */
  | { readonly kind: 'gather'; readonly until: number }
  /** A stage of the running round waits for these participants (the first 50; `more` others). */
  | {
      readonly kind: 'stage'
      readonly stage: LiveStage
      readonly waitingFor: readonly string[]
      readonly more: number
      readonly deadlineAt: number | null
    }
  /** Paused by an operator: no round starts until one resumes. */
  | { readonly kind: 'resume'; readonly pausedBy: string | null }
  /** The round's record is being written before the next round may start. */
  | { readonly kind: 'commit' }

export type ConsoleRunState =
  /** A submitted task with no run yet. */
  'idle' | 'preparing' | 'waiting' | 'running' | 'paused' | 'finished' | 'failed' | 'stopped'

/** One run as the runs list shows it. */
export type ConsoleRun = {
  readonly task: string
  /** The run's id in the store (GET /api/runs/:id); null before it has one. */
  readonly run: number | null
  readonly state: ConsoleRunState
  /** The round running or last run (0 before the first). */
  readonly round: number
  readonly rounds: number
  readonly completed: number
  readonly failed: number
  readonly startedAt: string | null
  readonly endedAt: string | null
  /** Held-out metrics of the last aggregated round (its test set's, else its validation set's); null before one. */
  readonly accuracy: number | null
  readonly auc: number | null
  /** The best round so far by the task's validation metric; null before a round has a validation figure. */
  readonly best: BestRoundView | null
  readonly secure: boolean
  readonly waiting: RunWaiting | null
  /** What is left of the run at the mean round duration so far (ms); null before a round ended or once over. */
  readonly etaMs: number | null
  /** Why the run ended, failed or paused, as the run store says; null otherwise. */
  readonly reason: string | null
  /** A private task's budget: ε spent so far of the target; null without privacy. */
  readonly privacy: ConsolePrivacy | null
  /**
   * The privacy statement every participant is shown before it joins (privacyStatement), the plain
   * "no differential-privacy guarantee" for a task without privacy; empty for a private run this
   * coordinator does not serve (its noise, derived when it started, is not known).
   */
  readonly privacyStatement: readonly string[]
}

/** A private task's budget as the console shows it. */
export type ConsolePrivacy = {
  readonly unit: 'example' | 'participant'
  /** ε spent by the run so far (the rounds the coordinator accounted), at `delta`. */
  readonly epsilon: number
  readonly target: number
  readonly delta: number
}

/** The running round of one task, pushed on every stage change and at most every 250 ms while messages arrive. */
export type LiveRound = {
  readonly task: string
  readonly round: number
  readonly startedAt: number
  readonly stage: LiveStage
  readonly heard: number
  readonly of: number
  /** The first 50 of those the stage still waits for; `more` others. */
  readonly waitingFor: readonly string[]
  readonly more: number
  readonly deadlineAt: number | null
}

/** One closed stage of a round, for the round timeline. */
export type StageSpan = {
  readonly stage: LiveStage
  readonly startedAt: number
  readonly durationMs: number
  readonly heard: number
  readonly of: number
}

/** A round that ended, as the timeline and the accuracy chart show it. */
export type RoundEntry = {
  readonly task: string
  readonly round: number
  readonly status: 'aggregated' | 'failed'
  readonly reason: string | null
  readonly startedAt: string
  readonly durationMs: number
  readonly selected: number
  /** Whose inputs are in the sum (secure), or who contributed (plaintext-debug). */
  readonly survivors: number
  /** Who dropped, and in which stage they were last expected. */
  readonly dropouts: readonly { readonly participant: string; readonly stage: LiveStage }[]
  readonly stages: readonly StageSpan[]
  /** Socket bytes of the round's participant messages, in to and out of the coordinator. */
  readonly bytesIn: number
  readonly bytesOut: number
  /** The round's head on the test set, else on the validation set (what `accuracy` always meant: held-out). */
  readonly accuracy: number | null
  readonly auc: number | null
  /** The round's head on the coordinator's validation set; null without one (or for a failed round). */
  readonly validation: SetFigures | null
  /** The round's head on the coordinator's test set; null without one. */
  readonly test: SetFigures | null
  /**
   * The participants' pooled figures (their own validation data, through the secure sum) for the head
   * they received at the round's start: the previous round's head, not this one's.
   */
  readonly participants: SetFigures | null
  /** The held-out accuracy of always answering the majority class: the line a head must beat. */
  readonly majority: number | null
  /** Participants a complaint named the culprit in this round, excluded from the rest of the run. */
  readonly excluded: readonly string[]
  /** A private task's ε spent by the run up to and including this round; null without privacy. */
  readonly epsilon: number | null
  /**
   * The round's evaluation in full (confusion matrix, per-class figures, warnings): only on the
   * entry of the latest aggregated round a message carries (its `round-ended` push, the newest in a
   * `watch` timeline), null on every other, so the feed stays bounded however long the run.
   */
  readonly evaluation: RoundEvaluation | null
}

/** The metrics a task may choose its best round by, on its validation set (higher is better). */
export type BestRoundMetric = 'auc' | 'accuracy' | 'balancedAccuracy' | 'qwk'

/** The best round so far: its number and its figure by the task's validation metric. */
export type BestRoundView = {
  readonly round: number
  readonly metric: BestRoundMetric
  readonly value: number
}

/**
 * Where a round's figures come from: the coordinator's validation or test images, or the
 * participants' pooled counts on their own validation data.
 */
export type EvaluationSet = 'validation' | 'test' | 'participants'

/** A round's headline figures on one set, as the accuracy chart draws them. */
export type SetFigures = { readonly accuracy: number; readonly auc: number | null }

/** One class's figures, one-vs-rest; null where a figure's denominator is zero. */
export type ClassFigures = {
  /** Images of this class. */
  readonly support: number
  /** Images predicted as this class. */
  readonly predicted: number
  readonly precision: number | null
  /** Sensitivity: of this class's images, the share predicted as it. */
  readonly recall: number | null
  readonly f1: number | null
  readonly specificity: number | null
}

/** A head's figures on one set, as the evaluation panel lists them side by side. */
export type SetSummary = {
  readonly set: EvaluationSet
  readonly examples: number
  readonly accuracy: number
  readonly balancedAccuracy: number
  readonly auc: number | null
  /** Expected calibration error over 15 bins of the top probability. */
  readonly ece: number
  /** AUC and ECE from histograms (the participants' pooled counts) rather than the scores themselves. */
  readonly binned: boolean
  /** Ordinal labels (grades): quadratic weighted kappa (null when undefined) and the mean absolute grade error. */
  readonly ordinal: { readonly qwk: number | null; readonly mae: number } | null
}

/** A round's head on one set, class by class. */
export type ConfusionView = {
  readonly set: EvaluationSet
  /** confusion[true][predicted]: C × C counts, C the task's label count. */
  readonly confusion: readonly (readonly number[])[]
  /** Per class, in label order. */
  readonly perClass: readonly ClassFigures[]
}

/** The latest aggregated round's evaluation, as the run page's evaluation panel draws it. */
export type RoundEvaluation = {
  readonly round: number
  /** The task's label names, in class order: the matrix's rows and columns. */
  readonly labels: readonly string[]
  /**
   * The confusion matrix and per-class figures of one set: validation when the round was measured on
   * it, else test, else the participants'; null when it was measured on none (a warning may say why).
   */
  readonly matrix: ConfusionView | null
  /** Every set the round was measured on, in the order validation, test, participants. */
  readonly sets: readonly SetSummary[]
  /** What an operator should know about the round's head (e.g. it predicts one class for > 95 % of a set). */
  readonly warnings: readonly string[]
}

/** One participant of a task, as the participants table shows it. */
export type ConsoleParticipant = {
  readonly task: string
  readonly name: string
  readonly kind: 'hospital' | 'browser'
  /** keyFingerprint of its identity key. */
  readonly fingerprint: string
  readonly state: 'pending' | 'approved' | 'revoked' | 'excluded'
  readonly online: boolean
  readonly lastSeen: string | null
  readonly rounds: number
  readonly dropouts: number
  readonly exclusions: number
  readonly agent: string | null
}

/** An audit row, as GET /api/audit returns them. */
export type ConsoleAuditEntry = {
  readonly id: number
  readonly at: string
  readonly actor: string
  readonly address: string | null
  readonly action: string
  readonly target: string | null
  readonly task: string | null
  readonly run: number | null
  readonly outcome: 'ok' | 'refused' | 'failed'
  readonly detail: Readonly<Record<string, unknown>>
}

/** What the coordinator sends when a console connects, and again after it reconnects. */
export type ConsoleWelcome = {
  readonly operator: { readonly name: string; readonly role: 'admin' | 'operator' | 'viewer' }
  readonly runs: readonly ConsoleRun[]
}

/** What `watch` answers: everything the run page needs to draw, then live events keep it current. */
export type ConsoleWatch = {
  readonly run: ConsoleRun
  readonly live: LiveRound | null
  readonly timeline: readonly RoundEntry[]
  readonly participants: readonly ConsoleParticipant[]
}

export type ConsoleWatchReply =
  | ({ readonly ok: true } & ConsoleWatch)
  | { readonly ok: false; readonly error: string; readonly message: string }

/** coordinator → console. Every event but `welcome` concerns one task; runs concern every console. */
export type ServerToConsoleEvents = {
  welcome: (welcome: ConsoleWelcome) => void
  run: (run: ConsoleRun) => void
  /** Only to consoles watching that task. */
  'round-live': (live: LiveRound) => void
  'round-ended': (entry: RoundEntry) => void
  participant: (participant: ConsoleParticipant) => void
  /** Every new audit row, to every console. */
  audit: (entry: ConsoleAuditEntry) => void
  /** The console's session or token is no longer usable (signed out, expired, revoked); it is disconnected next. */
  'signed-out': (refusal: ConsoleRefusal) => void
}

/** console → coordinator: which task's details to push (one at a time); the reply is its state now. */
export type ConsoleToServerEvents = {
  watch: (task: string, reply: (r: ConsoleWatchReply) => void) => void
}
