import {
  addEvaluationCounts,
  type Contribution,
  type ParticipantKind,
  type PooledEvaluation,
  PRIVATE_NO_EVALUATION,
  type RefusalCode,
  type SecureSum,
  type Update,
  weightedSum,
} from '@fedtune/protocol'
import {
  budgetExceeded,
  type PrivacyRecord,
  privacyRecord,
  type RoundPrivacy,
} from '../privacy/round-privacy.ts'
import { Roster } from './roster.ts'
import { selectable, selectParticipants } from './selection.ts'
import { type ServerOptimizer, type ServerState, serverStep } from './server-optimizer.ts'

/**
 * The coordinator's round logic as a pure function: `step(state, event) -> [state, effects]`.
 * Sockets, timers and the clock live in the shell (federation.ts), which turns a deadline into an
 * event; nothing here reads a clock or does I/O, so every path is testable without waiting.
 */
export type RoundConfig = {
  readonly rounds: number
  readonly minParticipants: number
  readonly participantsPerRound: number
  /**
   * At most this many of a round's places go to browser participants, the rest to hospitals; 0
   * when the task takes no browsers. Browsers past it wait online for a later round.
   */
  readonly maxBrowsersPerRound: number
  readonly seed: number
  /** What is done with the round's mean update: FedAvg, or FedAdam (server-optimizer.ts). */
  readonly server: ServerOptimizer
  /**
   * Secure aggregation: the shell runs the masked stages and hands in only their sum
   * ('secure-sum'); plaintext updates are refused. False only in a plaintext-debug task.
   */
  readonly secure: boolean
  /**
   * With at least minParticipants but fewer than participantsPerRound online, how long to wait for
   * more before starting a round anyway (0: start at once). Without it the first round would go
   * to whoever connected first.
   */
  readonly gatherMs: number
  /**
   * A private task's budget (privacy/round-privacy.ts); none or null: the task gives no
   * differential-privacy guarantee. With it every participant weighs 1 (the mean of the survivors'
   * updates), no label or evaluation counts are summed, every round's record says the ε spent, and
   * a round that could take ε past the target in the worst case does not start: the run finishes.
   */
  readonly privacy?: RoundPrivacy | null
}

export type Phase = 'waiting' | 'training' | 'finished'

export type RoundState = {
  readonly config: RoundConfig
  readonly phase: Phase
  /** The round in progress, or the last one that ended (0 before the first). */
  readonly round: number
  /** Who is online, and whether each is a hospital or a browser (from its hello). */
  readonly online: Roster
  readonly selected: readonly string[]
  readonly received: ReadonlyMap<string, Update>
  readonly global: Float32Array
  /** The server optimizer's state after the last aggregated round. */
  readonly server: ServerState
  /** Training examples per class summed over the last aggregate's participants: the federation's label mix. */
  readonly labelCounts: readonly number[] | null
  readonly completed: number
  readonly failed: number
  /** The gather window before a round: not open, open, or over (start with whoever is online). */
  readonly gathering: 'idle' | 'waiting' | 'expired'
  /**
   * An operator paused the run "after the current round": a round in progress still ends as usual,
   * but no round starts (nor does the join timeout end the run) until it is resumed. Orthogonal to
   * `phase`: a paused run is 'training' until its current round ends, then 'waiting'.
   */
  readonly paused: boolean
  /**
   * A private task's accountant input: the survivors of each round that released updates (public
   * facts), in order. Empty in a task without privacy.
   */
  readonly accounted: readonly number[]
  /**
   * The open secure round asked for the unmasking of these many survivors' masked inputs: from
   * then on their sum may be revealed, so the round is accounted with them however it ends. 0
   * before the unmask stage (and in plaintext-debug).
   */
  readonly unmasking: number
}

/** Where a run stands between rounds: all that `--resume` needs besides the config. */
export type Progress = {
  readonly round: number
  readonly completed: number
  readonly failed: number
  readonly server: ServerState
  readonly labelCounts: readonly number[] | null
  /** The survivors of each round that released updates (RoundState.accounted); none before. */
  readonly accounted?: readonly number[]
}

export type RoundEvent =
  /**
   * The run is open to participants (once, after it is prepared): a resumed run that has kept its
   * last round, or whose budget cannot take another, ends here rather than at the first join.
   */
  | { readonly type: 'opened' }
  | { readonly type: 'joined'; readonly participant: string; readonly kind: ParticipantKind }
  | { readonly type: 'left'; readonly participant: string }
  | { readonly type: 'update'; readonly participant: string; readonly update: Update }
  /** The unmasked sum of a secure round, from those who survived every stage. */
  | {
      readonly type: 'secure-sum'
      readonly round: number
      readonly survivors: readonly string[]
      readonly sum: SecureSum
    }
  /**
   * A secure round's masked-input stage closed and the unmasking of `survivors` masked inputs was
   * asked for: the sum may be revealed from here on (a privacy event, whatever follows).
   */
  | { readonly type: 'secure-unmasking'; readonly round: number; readonly survivors: number }
  /** A secure round that could not produce a sum (too few survivors at some stage), and why. */
  | { readonly type: 'secure-failed'; readonly round: number; readonly reason: string }
  | { readonly type: 'deadline'; readonly round: number }
  /** The shell hit an error running the round (federation.ts): it fails with that reason. */
  | { readonly type: 'error'; readonly round: number; readonly reason: string }
  | { readonly type: 'join-timeout' }
  | { readonly type: 'gather-timeout' }
  | { readonly type: 'stop'; readonly reason: string }
  /** Operators' run control (federation.ts checks that the round runs before it sends 'abort'). */
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  | { readonly type: 'abort'; readonly round: number; readonly by: string; readonly reason: string }

/** A plaintext-debug update as the round's record keeps it (its evaluation counts go into the pooled sum). */
export type ContributionRecord = {
  readonly participant: string
  readonly examples: number
  readonly trainLoss: number
}

export type Effect =
  | {
      readonly type: 'start-round'
      readonly round: number
      readonly participants: readonly string[]
      readonly weights: Float32Array
    }
  | {
      readonly type: 'send-round'
      readonly round: number
      readonly participant: string
      readonly weights: Float32Array
    }
  /** Wait `ms` for more participants, then send 'gather-timeout'. */
  | { readonly type: 'gather'; readonly ms: number }
  | { readonly type: 'update-ack'; readonly participant: string; readonly ok: true }
  | {
      readonly type: 'update-ack'
      readonly participant: string
      readonly ok: false
      readonly code: RefusalCode
      readonly reason: string
    }
  | {
      readonly type: 'round-aggregated'
      readonly round: number
      readonly weights: Float32Array
      readonly server: ServerState
      /** The contributors' label counts summed; null in a private task, whose sum carries none. */
      readonly labelCounts: readonly number[] | null
      readonly examples: number
      readonly contributions: readonly ContributionRecord[]
      /**
       * The received global head on the contributors' own validation data: their counts summed
       * (securely, or in the clear in plaintext-debug), or why the sum does not add up.
       */
      readonly evaluation: PooledEvaluation
      /** Secure rounds: who contributed to the sum. */
      readonly secure: { readonly survivors: readonly string[] } | null
      readonly dropped: readonly string[]
      /** A private task's ε spent up to this round; null without privacy. */
      readonly privacy: PrivacyRecord | null
    }
  | (RoundFailed & { readonly privacy: PrivacyRecord | null })
  | {
      readonly type: 'finished'
      readonly reason: string
      readonly completed: number
      readonly failed: number
    }

type RoundFailed = {
  readonly type: 'round-failed'
  readonly round: number
  readonly reason: string
  readonly contributions: readonly ContributionRecord[]
  readonly dropped: readonly string[]
}

type RoundAggregated = Omit<Extract<Effect, { type: 'round-aggregated' }>, 'privacy'>

const FRESH: Progress = { round: 0, completed: 0, failed: 0, server: null, labelCounts: null }

/** A new run, or one resumed after `progress.round` rounds with `global` as their result. */
export function initialState(config: RoundConfig, global: Float32Array, progress = FRESH): RoundState {
  return {
    config,
    phase: 'waiting',
    round: progress.round,
    online: Roster.EMPTY,
    selected: [],
    received: new Map(),
    global,
    server: progress.server,
    labelCounts: progress.labelCounts,
    completed: progress.completed,
    failed: progress.failed,
    gathering: 'idle',
    paused: false,
    accounted: progress.accounted ?? [],
    unmasking: 0,
  }
}

export function step(state: RoundState, event: RoundEvent): [RoundState, Effect[]] {
  if (state.phase === 'finished') {
    if (event.type === 'update')
      return [state, [refuse(event.participant, 'finished', 'the run has finished; no round is open')]]
    return [state, []]
  }
  switch (event.type) {
    case 'opened':
      return state.phase === 'waiting' ? maybeStart(state, []) : [state, []]
    case 'joined': {
      const next = { ...state, online: state.online.with(event.participant, event.kind) }
      if (state.phase === 'waiting') return maybeStart(next, [])
      // A secure round cannot be rejoined: its keys were exchanged; the participant is a dropout.
      const resend =
        !state.config.secure &&
        state.selected.includes(event.participant) &&
        !state.received.has(event.participant)
          ? [
              {
                type: 'send-round',
                round: state.round,
                participant: event.participant,
                weights: state.global,
              } as const,
            ]
          : []
      return [next, resend]
    }
    case 'left': {
      const next = { ...state, online: state.online.without(event.participant) }
      return state.phase === 'training' && !state.config.secure ? maybeFinishEarly(next) : [next, []]
    }
    case 'update':
      if (state.config.secure)
        return [
          state,
          [
            refuse(
              event.participant,
              'secure-only',
              'this task aggregates securely: updates travel masked, as secagg messages, never in the clear',
            ),
          ],
        ]
      return acceptUpdate(state, event.participant, event.update)
    case 'secure-sum': {
      if (state.phase !== 'training' || event.round !== state.round) return [state, []]
      const dropped = state.selected.filter((p) => !event.survivors.includes(p))
      if (event.survivors.length < state.config.minParticipants)
        return closeRound(state, {
          type: 'round-failed',
          round: state.round,
          reason: `only ${event.survivors.length} of the ${state.config.minParticipants} participants needed survived secure aggregation`,
          contributions: [],
          dropped,
        })
      return aggregate(
        state,
        event.sum.weightedSum,
        event.sum.labelCounts,
        event.sum.evaluation,
        [],
        dropped,
        { survivors: event.survivors },
      )
    }
    case 'secure-unmasking':
      if (state.phase !== 'training' || event.round !== state.round) return [state, []]
      return [{ ...state, unmasking: event.survivors }, []]
    case 'secure-failed':
      if (state.phase !== 'training' || event.round !== state.round) return [state, []]
      return closeRound(state, {
        type: 'round-failed',
        round: state.round,
        reason: `secure aggregation failed: ${event.reason}`,
        contributions: [],
        dropped: state.selected,
      })
    case 'error':
      if (state.phase !== 'training' || event.round !== state.round) return [state, []]
      return closeRound(state, {
        type: 'round-failed',
        round: state.round,
        reason: event.reason,
        contributions: [],
        dropped: state.selected,
      })
    case 'deadline':
      // A secure round's stages keep their own deadlines in the shell, which reports the outcome.
      if (state.config.secure || state.phase !== 'training' || event.round !== state.round) return [state, []]
      return endRound(state, 'deadline')
    case 'gather-timeout':
      if (state.phase !== 'waiting' || state.gathering !== 'waiting') return [state, []]
      return maybeStart({ ...state, gathering: 'expired' }, [])
    case 'abort':
      if (state.phase !== 'training' || event.round !== state.round) return [state, []]
      return closeRound(state, {
        type: 'round-failed',
        round: state.round,
        reason: `aborted by ${event.by}: ${event.reason}`,
        contributions: [],
        dropped: state.selected,
      })
    case 'pause':
      return [{ ...state, paused: true }, []]
    case 'resume': {
      if (!state.paused) return [state, []]
      const next = { ...state, paused: false }
      return next.phase === 'waiting' ? maybeStart(next, []) : [next, []]
    }
    case 'join-timeout':
      // A paused run waits for its operator, however long: only 'stop' ends it.
      if (state.phase !== 'waiting' || state.paused) return [state, []]
      if (state.round >= state.config.rounds) return finish(state, [], allDone(state))
      return finish(state, [], `only ${joinedSummary(state)} joined in time`)
    case 'stop':
      return stop(state, event.reason)
  }
}

/**
 * The run ends; a round in progress ends with it, unrecorded, unless a private task's round has
 * released something by then: the unmasking of its survivors' masked inputs was asked for (secure),
 * or the coordinator holds updates in the clear (plaintext-debug). That round may have revealed what
 * it holds, so it is recorded as failed and accounted as closeRound accounts it: a stop (an
 * operator's, or the coordinator closing before a `--resume`) never forgets ε that may be spent.
 */
function stop(state: RoundState, reason: string): [RoundState, Effect[]] {
  if (state.phase !== 'training' || !isPrivate(state) || released(state) === 0)
    return finish(state, [], reason)
  const contributions = contributionsOf(state)
  const [closed, effect] = endedRound(state, {
    type: 'round-failed',
    round: state.round,
    reason:
      state.unmasking > 0
        ? `the run stopped during the round's unmask stage (${reason}); its ${state.unmasking} survivors are accounted`
        : `the run stopped with ${contributions.length} updates received (${reason}); they are accounted`,
    contributions,
    dropped: state.selected.filter((p) => !state.received.has(p)),
  })
  return finish(closed, [effect], reason)
}

/**
 * How many participants' updates the open round has released so far: the survivors whose
 * unmasking was asked for (secure), or the updates received (plaintext-debug).
 */
function released(state: RoundState): number {
  return Math.max(state.received.size, state.unmasking)
}

function contributionsOf(state: RoundState): ContributionRecord[] {
  return [...state.received].map(([participant, u]) => ({
    participant,
    examples: u.examples,
    trainLoss: u.metrics.trainLoss,
  }))
}

function acceptUpdate(state: RoundState, participant: string, update: Update): [RoundState, Effect[]] {
  if (state.phase !== 'training')
    return [state, [refuse(participant, 'no-round', `no round is open (the coordinator is ${state.phase})`)]]
  if (update.round !== state.round)
    return [
      state,
      [
        refuse(
          participant,
          'wrong-round',
          `this is round ${state.round}, the update is for round ${update.round}`,
        ),
      ],
    ]
  if (!state.selected.includes(participant))
    return [
      state,
      [refuse(participant, 'not-selected', `${participant} was not selected for round ${state.round}`)],
    ]
  if (state.received.has(participant))
    return [
      state,
      [refuse(participant, 'duplicate', `${participant} already sent its update for round ${state.round}`)],
    ]
  const received = new Map(state.received).set(participant, update)
  const next = { ...state, received }
  const ack: Effect = { type: 'update-ack', participant, ok: true }
  const [after, effects] = maybeFinishEarly(next)
  return [after, [ack, ...effects]]
}

/** All selected sent their update, or those missing are offline and enough arrived: no need to wait. */
function maybeFinishEarly(state: RoundState): [RoundState, Effect[]] {
  const missing = state.selected.filter((p) => !state.received.has(p))
  if (missing.length === 0) return endRound(state, 'complete')
  const allMissingOffline = missing.every((p) => !state.online.has(p))
  if (allMissingOffline && state.received.size >= state.config.minParticipants)
    return endRound(state, 'complete')
  return [state, []]
}

function endRound(state: RoundState, why: 'complete' | 'deadline'): [RoundState, Effect[]] {
  const contributions = contributionsOf(state)
  const dropped = state.selected.filter((p) => !state.received.has(p))
  if (state.received.size < state.config.minParticipants) {
    const reason =
      why === 'deadline'
        ? `deadline passed with ${state.received.size} of the ${state.config.minParticipants} updates needed (missing: ${dropped.join(', ') || 'none'})`
        : `too few updates: ${state.received.size} of ${state.config.minParticipants}`
    return closeRound(state, { type: 'round-failed', round: state.round, reason, contributions, dropped })
  }
  const received = [...state.received.values()]
  // A private task's participants weigh alike and its counts stay out: as in its secure sum.
  const private_ = isPrivate(state)
  const updates: Contribution[] = received.map((u) => ({
    delta: u.delta,
    examples: private_ ? 1 : u.examples,
  }))
  // Each update's counts were checked at the edge (parseUpdate), so their sum adds up.
  const evaluation: PooledEvaluation = private_
    ? { ok: false, reason: PRIVATE_NO_EVALUATION }
    : {
        ok: true,
        counts: received.map((u) => u.metrics.evaluation).reduce((a, b) => addEvaluationCounts(a, b)),
      }
  return aggregate(
    state,
    weightedSum(state.global.length, updates),
    private_ ? null : sumLabelCounts(received),
    evaluation,
    contributions,
    dropped,
    null,
  )
}

function isPrivate(state: RoundState): boolean {
  return (state.config.privacy ?? null) !== null
}

/**
 * Applies the server optimizer to the round's [Σ n·Δ, Σ n] and closes the round. In a private task
 * every n is 1: the sum is [Σ Δ, survivors], and the record counts no examples.
 */
function aggregate(
  state: RoundState,
  sum: Float64Array,
  labelCounts: readonly number[] | null,
  evaluation: PooledEvaluation,
  contributions: readonly ContributionRecord[],
  dropped: readonly string[],
  secure: Extract<Effect, { type: 'round-aggregated' }>['secure'],
): [RoundState, Effect[]] {
  const total = sum[state.global.length] as number
  const { weights, state: server } = serverStep(
    state.config.server,
    state.server,
    state.global,
    sum.map((x) => x / total),
  )
  const effect: RoundAggregated = {
    type: 'round-aggregated',
    round: state.round,
    weights,
    server,
    labelCounts,
    examples: isPrivate(state) ? 0 : total,
    contributions,
    evaluation,
    secure,
    dropped,
  }
  return closeRound(
    { ...state, global: weights, server, labelCounts, completed: state.completed + 1 },
    effect,
  )
}

/**
 * Records the round's end (a failure counts as a round) and starts the next or finishes. A private
 * task accounts what the round released: an aggregated round's survivors; a failed round's
 * survivors whose unmasking was asked for (their sum may have been revealed: a failure in or after
 * the unmask stage, or in aggregating the sum, or in keeping the head) or the updates a
 * plaintext-debug round received (the coordinator saw them); a secure round that failed before
 * its unmask stage released nothing.
 */
function closeRound(state: RoundState, ended: RoundAggregated | RoundFailed): [RoundState, Effect[]] {
  const [next, effect] = endedRound(state, ended)
  return maybeStart(next, [effect])
}

/** The round's end as closeRound records and accounts it, before anything starts or finishes. */
function endedRound(state: RoundState, ended: RoundAggregated | RoundFailed): [RoundState, Effect] {
  const failed = ended.type === 'round-failed' ? state.failed + 1 : state.failed
  const privacy = state.config.privacy ?? null
  const releasing =
    ended.type === 'round-aggregated'
      ? (ended.secure?.survivors.length ?? ended.contributions.length)
      : Math.max(ended.contributions.length, state.unmasking)
  const effect: Effect = {
    ...ended,
    privacy: privacy && privacyRecord(privacy, state.accounted, releasing),
  }
  const accounted = privacy && releasing > 0 ? [...state.accounted, releasing] : state.accounted
  const next: RoundState = {
    ...state,
    failed,
    accounted,
    unmasking: 0,
    phase: 'waiting',
    selected: [],
    received: new Map(),
  }
  return [next, effect]
}

function maybeStart(state: RoundState, effects: Effect[]): [RoundState, Effect[]] {
  // A resumed run can have kept its last round already (a coordinator killed before it closed the
  // run, or during the last private round's unmask stage): it is over, never a round past its rounds.
  if (state.round >= state.config.rounds) return finish(state, effects, allDone(state))
  // Before anything else: a run whose next round could pass its budget is over, paused or not.
  const privacy = state.config.privacy ?? null
  const spent = privacy && budgetExceeded(privacy, state.accounted, state.round + 1)
  if (spent) return finish(state, effects, spent)
  if (state.paused) return [state, effects]
  const { minParticipants, participantsPerRound, maxBrowsersPerRound, gatherMs } = state.config
  // Browsers past the per-round cap cannot fill a place, so they do not count towards starting.
  const available = selectable(state.online, maxBrowsersPerRound)
  if (available < minParticipants) return [state, effects]
  const full = available >= participantsPerRound
  if (!full && gatherMs > 0 && state.gathering !== 'expired') {
    if (state.gathering === 'waiting') return [state, effects]
    return [{ ...state, gathering: 'waiting' }, [...effects, { type: 'gather', ms: gatherMs }]]
  }
  const round = state.round + 1
  const participants = selectParticipants(
    state.online,
    { count: participantsPerRound, maxBrowsers: maxBrowsersPerRound },
    state.config.seed,
    round,
  )
  const next: RoundState = {
    ...state,
    phase: 'training',
    round,
    selected: participants,
    received: new Map(),
    gathering: 'idle',
  }
  return [next, [...effects, { type: 'start-round', round, participants, weights: state.global }]]
}

const allDone = (state: RoundState) => `all ${state.config.rounds} rounds done`

function finish(state: RoundState, effects: Effect[], reason: string): [RoundState, Effect[]] {
  const next: RoundState = { ...state, phase: 'finished', selected: [], received: new Map() }
  return [next, [...effects, { type: 'finished', reason, completed: state.completed, failed: state.failed }]]
}

function sumLabelCounts(updates: readonly Update[]): number[] {
  const counts = new Array<number>(updates[0]?.labelCounts.length ?? 0).fill(0)
  for (const u of updates) for (const [c, n] of u.labelCounts.entries()) counts[c] = (counts[c] as number) + n
  return counts
}

/** "1 of the 2 participants needed", naming the browsers a round could not have taken. */
function joinedSummary(state: RoundState): string {
  const { minParticipants, maxBrowsersPerRound } = state.config
  const available = selectable(state.online, maxBrowsersPerRound)
  const summary = `${available} of the ${minParticipants} participants needed`
  if (available === state.online.size) return summary
  return `${summary} (${state.online.browsers} browsers online, at most ${maxBrowsersPerRound} per round)`
}

function refuse(participant: string, code: RefusalCode, reason: string): Effect {
  return { type: 'update-ack', participant, ok: false, code, reason }
}
