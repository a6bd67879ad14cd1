import { type ClinicalMetrics, dominantWarning, type SelectionMetric, selectionValue } from '@fedtune/model'
import {
  decodeSecureSum,
  encodeWeights,
  escapeText,
  type FixedPoint,
  type ParticipantKind,
  ProtocolError,
  type SecaggCrypto,
  type SecureRoundSetup,
  type SecureSum,
  secureVectorLength,
  type TaskInfo,
  type TrainingSettings,
  type Update,
  type UpdateAck,
} from '@fedtune/protocol'
import type { ExcludedEntry, Exclusion } from '../participants/exclusion.ts'
import type { UnmaskingMark } from '../privacy/unmasking-mark.ts'
import { type SecureParameters, SecureRound } from '../secure/secure-round.ts'
import { type BestRound, earlyStop, nextBest, patienceRunOut } from './best-round.ts'
import { type Clock, realClock } from './clock.ts'
import { CommitQueue } from './commit-queue.ts'
import { commitUntilKept } from './commit-until-kept.ts'
import { federationPrior } from './label-prior.ts'
import type { Link, OutgoingRound } from './link.ts'
import {
  type Effect,
  initialState,
  type Progress,
  type RoundConfig,
  type RoundEvent,
  type RoundState,
  step,
} from './round.ts'
import type { RoundObserver } from './round-observer.ts'
import { type PredictionPrior, roundPrior, type TrainingPrior } from './round-prior.ts'
import { buildRoundRecord, type RoundRecord, roundResult } from './round-record.ts'
import { RoundTimers } from './round-timers.ts'
import type { ControlEvent } from './run-control.ts'
import { RunControlError } from './run-control-error.ts'
import { RunParticipants } from './run-participants.ts'
import type { ServerState } from './server-optimizer.ts'

export type { Link } from './link.ts'

/** A round's head on the coordinator's validation and test sets (null for a set the task has not). */
export type EvaluatedSets = {
  readonly validation: ClinicalMetrics | null
  readonly test: ClinicalMetrics | null
}

/** Measures a head on the coordinator's sets, predicting with `prior` folded in (null: plain softmax). */
export type Evaluate = (weights: Float32Array, prior: readonly number[] | null) => EvaluatedSets

/** How the best round is chosen, and when a run stops for want of a better one (the task's `evaluation`). */
export type Selection = {
  readonly metric: SelectionMetric
  /** Rounds without a better validation figure after which the run ends; null: never. */
  readonly patience: number | null
}

export type FederationOptions = {
  readonly task: TaskInfo
  readonly config: RoundConfig
  readonly initial: Float32Array
  /** Where a resumed run stopped; its global head replaces `initial`, its best round carries on. */
  readonly resumed?: (Progress & { readonly global: Float32Array; readonly best?: BestRound }) | undefined
  readonly training: Omit<TrainingSettings, 'seed' | 'prior'>
  /**
   * 'federation': the logit-adjusted loss uses the label mix of the last aggregate (uniform before
   * the first, when nothing is known yet); 'local': each participant's own; `{ fixed }`: that mix.
   */
  readonly labelPrior: TrainingPrior
  readonly roundDeadlineMs: number
  readonly joinTimeoutMs: number
  /** Where each round's head and record go: the store (start.ts), or a test's. */
  readonly recorder: RoundRecorder
  readonly evaluate?: Evaluate | undefined
  /** Default: the best round by validation AUC, no patience. */
  readonly selection?: Selection
  /**
   * The label mix a logit-adjusted head predicts with (round-prior.ts): 'federation' (the default),
   * 'uniform' or a fixed mix. Sent to participants with each round's head, used in the coordinator's
   * evaluation.
   */
  readonly predictionPrior?: PredictionPrior
  readonly clock?: Clock
  readonly onRecord?: (record: RoundRecord) => void
  readonly onFinished?: (finished: { reason: string; completed: number; failed: number }) => void
  readonly onWarning?: (message: string) => void
  /** Secure aggregation's parameters; null only in a plaintext-debug task. */
  readonly secure: {
    readonly parameters: SecureParameters
    readonly fixedPoint: FixedPoint
    readonly crypto: SecaggCrypto
  } | null
  readonly onInfo?: (message: string) => void
  /** Where a participant a complaint named the culprit is recorded (its hellos are refused from then on). */
  readonly onExclude?: (entry: ExcludedEntry) => void
  readonly observer?: RoundObserver | undefined
  /** Each operator action on the run (pause, resume, abort, extend, stop), once it took effect: for the audit log. */
  readonly onControl?: (event: ControlEvent) => void
}

/** The round state, and what only the shell knows of the round in progress, for the operator's view. */
export type FederationState = RoundState & {
  /** When the running round's deadline passes (epoch ms, as the clock tells it); null with no round running. */
  readonly deadlineAt: number | null
}

/** What the shell knows of the round in progress that the pure state does not. */
type OpenRound = {
  readonly round: number
  readonly startedAt: number
  /** Its secure aggregation, until it reports its outcome; none in plaintext-debug. */
  secure: SecureRound | undefined
  /** What its complaints established, for its record. */
  blame: { readonly excluded: readonly Exclusion[]; readonly disputed: readonly Exclusion[] } | undefined
  /** What the shell noticed of its sum that the operator should know (its record's warnings). */
  readonly warnings: string[]
}

type Summary = { reason: string; completed: number; failed: number }

/**
 * Where a round's head and record are kept. The head is written whole before its round commits; a
 * round is kept once `commit` resolves, and only then are participants told its result and the next
 * round started: a coordinator killed at any point loses no round it announced.
 */
export type RoundRecorder = {
  writeHead(round: number, weights: Float32Array, server?: ServerState): void
  commit(record: RoundRecord): Promise<void>
  /**
   * Keeps, durably, that a private secure round's unmasking is about to be asked for, so that a
   * coordinator that crashes before the round's record is kept still accounts it when it carries
   * the run on (privacy/unmasking-mark.ts). Throwing fails the round before any share is asked.
   * A recorder without it (tests) cannot account such a round after a crash.
   */
  markUnmasking?(mark: UnmaskingMark): void
}

/** At most this far ahead may an operator push a deadline: what a round announcement can carry (protocol's `deadlineMs`). */
const MAX_DEADLINE_MS = 7 * 24 * 3600 * 1000

/**
 * The shell around the pure round logic: it owns the links to participants (RunParticipants), the
 * timers (RoundTimers), the commit-before-announce queue (CommitQueue) and the round in progress,
 * and turns each `Effect` of `step` into I/O. All state changes go through `dispatch`; round records
 * are built by pure functions (round-record.ts).
 */
export class Federation {
  readonly task: TaskInfo
  readonly done: Promise<Summary>
  #state: RoundState
  readonly #opts: FederationOptions
  readonly #participants: RunParticipants
  readonly #timers: RoundTimers
  readonly #commits = new CommitQueue()
  #open: OpenRound | undefined
  /** Who paused the run (while it is paused), for the operators' console. */
  #pausedBy: string | null = null
  /** The best round so far by the validation metric (a resumed run's from its last record). */
  #best: BestRound
  #resolveDone!: (summary: Summary) => void

  constructor(opts: FederationOptions) {
    this.task = opts.task
    this.#opts = opts
    this.#participants = new RunParticipants((what, fn) => this.#warnIfFails(what, fn))
    this.#timers = new RoundTimers(opts.clock ?? realClock, (what, fn, round) =>
      this.#contain(what, fn, round),
    )
    // The participants enforce what TaskInfo.privacy says; the rounds account what config.privacy says.
    if ((opts.task.privacy === null) !== ((opts.config.privacy ?? null) === null))
      throw new Error(
        `a federation's task and rounds must agree on privacy: the task says ${opts.task.privacy === null ? 'none' : opts.task.privacy.unit}, the rounds' budget ${opts.config.privacy ? opts.config.privacy.unit : 'none'}`,
      )
    this.#state = opts.resumed
      ? initialState(opts.config, opts.resumed.global, opts.resumed)
      : initialState(opts.config, opts.initial)
    this.#best = opts.resumed?.best ?? null
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve
    })
    if (!opts.resumed) opts.recorder.writeHead(0, opts.initial)
    this.#armJoinTimer()
  }

  /** The round state (`paused` among it), with the running round's deadline. */
  get state(): FederationState {
    const running = this.#running()
    return { ...this.#state, deadlineAt: running === null ? null : this.#timers.deadlineOf(running) }
  }

  get global(): Float32Array {
    return this.#state.global
  }

  /** The validation figure that picks the best round. */
  get metric(): SelectionMetric {
    return this.#opts.selection?.metric ?? 'auc'
  }

  /** The best round so far by the task's validation metric; null before any validation figure. */
  get best(): BestRound {
    return this.#best
  }

  /**
   * A private task's budget as it stands: ε spent so far (over the rounds accounted) of the target,
   * at δ; null without privacy.
   */
  get privacy(): {
    readonly unit: 'example' | 'participant'
    readonly epsilon: number
    readonly delta: number
    readonly target: number
    readonly rounds: number
  } | null {
    const privacy = this.#state.config.privacy ?? null
    if (privacy === null) return null
    const { accounted } = this.#state
    return {
      unit: privacy.unit,
      epsilon: privacy.epsilonAfter(accounted),
      delta: privacy.delta,
      target: privacy.target,
      rounds: accounted.length,
    }
  }

  /** The label mix the global head predicts with (its round's), or null for plain softmax. */
  get globalPrior(): number[] | null {
    return this.#headPrior(this.#state.labelCounts)
  }

  /** The open secure round's stage and who it waits for; null between rounds or in plaintext-debug. */
  get secureStage(): { readonly stage: string; readonly waitingFor: readonly string[] } | null {
    const secure = this.#open?.secure
    return secure ? { stage: secure.stage, waitingFor: secure.waitingFor } : null
  }

  /** Participants a complaint named the culprit of a secure round, out of the rest of the run. */
  get excluded(): ReadonlyMap<string, ExcludedEntry> {
    return this.#participants.excluded
  }

  /** Who paused the run, while it is paused; null otherwise. */
  get pausedBy(): string | null {
    return this.#state.paused ? this.#pausedBy : null
  }

  /** When the open gather window before a round ends (epoch ms); null when none is open. */
  get gatherUntil(): number | null {
    return this.#timers.gatherUntil
  }

  /** Whether a round's record is being committed (the run waits for it). */
  get committing(): boolean {
    return this.#commits.busy
  }

  /**
   * The run is open to participants, once its host has wired it: a resumed run with nothing left
   * to do (its last round kept, or a privacy budget that cannot take the next) ends now, said as
   * any end is, instead of at the first join or the join timeout.
   */
  open(): void {
    this.dispatch({ type: 'opened' })
  }

  /**
   * A participant said hello. A second hello under the same name (and so the same key) replaces
   * the older connection, which is closed: never two links for one name. Its kind decides which
   * places of a round it may take (RoundConfig.maxBrowsersPerRound).
   */
  join(participant: string, kind: ParticipantKind, identityKey: Uint8Array, link: Link): void {
    this.#contain(`${participant} joining`, () => {
      const older = this.#participants.connect(participant, identityKey, link)
      if (older !== undefined) {
        this.#opts.onWarning?.(`${participant}: a newer connection replaced the older one`)
        this.#participants.tell(participant, older, (l) =>
          l.close('a newer connection under the same name replaced this one'),
        )
        // Relays sent to the older connection are lost: in an open secure round it is a dropout.
        this.#open?.secure?.left(participant)
      }
      if (this.#state.phase === 'finished') {
        const finished = { rounds: this.#state.round, completed: this.#state.completed }
        this.#participants.tell(participant, link, (l) => l.sendFinished(finished))
        return
      }
      this.dispatch({ type: 'joined', participant, kind })
    })
  }

  leave(participant: string, link: Link): void {
    this.#contain(`${participant} leaving`, () => {
      if (this.#participants.disconnect(participant, link) === undefined) return
      this.dispatch({ type: 'left', participant })
      this.#open?.secure?.left(participant)
    })
  }

  /**
   * A secure-aggregation stage message, answered at once: accepted, or refused with the reason. A
   * ProtocolError is the sender's fault and costs it only this message; any other error is the
   * coordinator's and fails the round.
   */
  secagg(participant: string, message: unknown, reply: (ack: UpdateAck) => void): void {
    const round = this.#open?.secure
    if (!round) {
      reply({ ok: false, code: 'no-round', reason: 'no secure round is open' })
      return
    }
    let refusal: ProtocolError | undefined
    const failure = this.#attempt(`${participant}'s secagg message`, () => {
      try {
        round.receive(participant, message)
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error
        refusal = error
      }
    })
    if (refusal) {
      this.#opts.onWarning?.(`refused a secagg message from ${participant}: ${refusal.message}`)
      reply({ ok: false, code: refusal.code, reason: refusal.message })
    } else if (failure !== undefined) {
      // The failure is the coordinator's own; what it was goes to the round record and the log.
      reply({
        ok: false,
        code: 'internal',
        reason: 'the coordinator failed on this message; the round fails',
      })
      this.#fault(failure)
    } else reply({ ok: true })
  }

  /**
   * Answers an update before acting on it: the acknowledgement must reach the participant before
   * the round result or the end of the run that this update may trigger.
   */
  update(participant: string, update: Update, reply: (ack: UpdateAck) => void): void {
    this.#contain(`${participant}'s update`, () =>
      this.dispatch({ type: 'update', participant, update }, (effect) => {
        if (effect.type !== 'update-ack' || effect.participant !== participant) return false
        if (!effect.ok) this.#opts.onWarning?.(`refused an update from ${participant}: ${effect.reason}`)
        reply(effect.ok ? { ok: true } : { ok: false, code: effect.code, reason: effect.reason })
        return true
      }),
    )
  }

  /**
   * Takes `participant` out of the run at once (an operator revoked it): disconnected, saying why,
   * and out of an open round as a dropout. Its hellos are refused from then on (by the shell's admission).
   */
  expel(participant: string, reason: string): void {
    this.#contain(`expelling ${participant}`, () => this.#disconnect(participant, reason))
  }

  /**
   * Ends the run. A round in progress ends with it unrecorded (its secure aggregation torn down,
   * nothing unmasked), unless a private task's round released something by then (its unmasking was
   * asked for, or the coordinator holds plaintext updates): that one is recorded as failed, with ε
   * accounted for it, and announced before the end (round.ts, `stop`). A round being committed is
   * kept and announced first, and a round that was to start after it does not. `by`, an operator,
   * is reported to `onControl`.
   */
  stop(reason: string, by?: string): void {
    const { phase, round } = this.#state
    this.dispatch({ type: 'stop', reason })
    if (by !== undefined && phase !== 'finished') this.#control('stopped', by, round, reason)
  }

  /**
   * Pauses the run after the current round: a round in progress ends as usual, then no round starts
   * (not by a gather window, nor by participants joining) and the join timeout does not end the run,
   * until `resume`. Participants stay connected. With no round in progress it takes effect at once.
   * A round whose start waits only for the previous round's record to be kept is already under way.
   */
  pause(by: string): void {
    const { phase, round, paused } = this.#state
    if (phase === 'finished')
      throw new RunControlError(
        'conflict',
        'pausing the run: expected a run in progress, got one that has finished',
      )
    if (paused)
      throw new RunControlError(
        'conflict',
        'pausing the run: expected a run not paused, got one already paused',
      )
    this.dispatch({ type: 'pause' })
    this.#pausedBy = by
    this.#control(
      'paused',
      by,
      round,
      phase === 'training' ? `after round ${round}, which goes on` : 'at once: no round was running',
    )
  }

  /** Undoes `pause`: a round starts when the usual conditions hold (enough participants, the gather window). */
  resume(by: string): void {
    const { phase, paused } = this.#state
    if (phase === 'finished')
      throw new RunControlError(
        'conflict',
        'resuming the run: expected a paused run, got one that has finished',
      )
    if (!paused)
      throw new RunControlError('conflict', 'resuming the run: expected a paused run, got one not paused')
    this.dispatch({ type: 'resume' })
    const now = this.#state
    this.#control(
      'resumed',
      by,
      now.round,
      now.phase === 'training' ? `round ${now.round} started` : 'waiting for participants to start a round',
    )
  }

  /**
   * Fails the running round at once, "aborted by <by>: <reason>", recorded (committed before it is
   * announced) like any failed round. A secure round is torn down as at a deadline that left too few:
   * its stage timer cancelled and its aggregation ended before anything is unmasked, so nothing of
   * any participant's input is revealed. The run goes on with the next round (unless paused).
   */
  abortRound(by: string, reason: string): void {
    const round = this.#requireRunning('aborting the round')
    const open = this.#open as OpenRound
    // Before the round logic sees the abort: no stage may close (and unmask) from here on.
    open.secure?.cancel()
    open.secure = undefined
    this.dispatch({ type: 'abort', round, by: escapeText(by, 100), reason: escapeText(reason, 300) })
    this.#control('aborted', by, round, reason)
  }

  /**
   * Pushes the running round's deadline `seconds` later: the round's own deadline timer (what a
   * plaintext-debug round ends at, and what a participant joining late is told) and, in a secure
   * round, the open stage's deadline and the masked inputs' (SecureRound.extend says which).
   */
  extendDeadline(by: string, seconds: number): void {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0)
      throw new RunControlError(
        'invalid',
        `extending the deadline: expected a positive, finite number of seconds, got ${String(seconds)}`,
      )
    const round = this.#requireRunning('extending the deadline')
    const ms = Math.ceil(seconds * 1000)
    const at = (this.#timers.deadlineOf(round) as number) + ms
    if (at - this.#timers.now() > MAX_DEADLINE_MS)
      throw new RunControlError(
        'invalid',
        `extending the deadline: expected a deadline at most ${MAX_DEADLINE_MS / 1000} s from now, got one ${Math.round((at - this.#timers.now()) / 1000)} s from now`,
      )
    this.#timers.extendDeadline(ms)
    this.#open?.secure?.extend(ms)
    this.#control('extended', by, round, `by ${seconds} s, to ${new Date(at).toISOString()}`)
  }

  /**
   * Runs one event through the round logic; `first` may claim effects to run before the rest.
   * Never throws: an effect that fails fails its round instead, which the round's record says (the
   * one place it is logged) — an aggregated round whose head or record cannot be kept is rolled
   * back and fails, a round that cannot start fails — and the run goes on to the next round.
   */
  dispatch(event: RoundEvent, first?: (effect: Effect) => boolean): Effect[] {
    const before = this.#state
    let effects: Effect[] = []
    const failure = this.#attempt(`the round logic on "${event.type}"`, () => {
      ;[this.#state, effects] = step(before, event)
    })
    if (failure !== undefined) {
      if (event.type === 'error') this.#opts.onWarning?.(failure)
      else this.#fault(failure)
      return []
    }
    const claimed = new Set(
      first
        ? effects.filter((effect) => {
            let claims = false
            this.#warnIfFails(effectName(effect), () => {
              claims = first(effect)
            })
            return claims
          })
        : [],
    )
    for (const effect of effects) {
      if (claimed.has(effect)) continue
      if (this.#commits.busy) {
        // Behind a round being committed: run in order once it is kept.
        this.#commits.enqueue(() => this.#warnIfFails(effectName(effect), () => this.#run(effect, before)))
        continue
      }
      const failed = this.#attempt(effectName(effect), () => this.#run(effect, before))
      if (failed === undefined) continue
      if (effect.type === 'round-aggregated') {
        // Nothing of it was told or recorded (#run): the round fails instead, from where it stood.
        this.#state = before
        this.dispatch({ type: 'error', round: effect.round, reason: failed })
        return effects
      }
      if (effect.type === 'start-round') this.dispatch({ type: 'error', round: effect.round, reason: failed })
      else this.#opts.onWarning?.(failed)
      if (effect.type === 'gather') this.dispatch({ type: 'gather-timeout' })
    }
    if (this.#state.phase === 'waiting')
      this.#warnIfFails('arming the join timeout', () => this.#armJoinTimer())
    return effects
  }

  /** The round that has started and not ended (its start not still queued behind a commit), or null. */
  #running(): number | null {
    const { phase, round } = this.#state
    return phase === 'training' && this.#open?.round === round ? round : null
  }

  #requireRunning(what: string): number {
    const round = this.#running()
    if (round !== null) return round
    const { phase, round: last } = this.#state
    const found =
      phase === 'finished'
        ? 'the run has finished'
        : phase === 'training'
          ? `round ${last} is waiting for round ${last - 1}'s record to be kept`
          : `no round is running (round ${last} was the last; the run is waiting${this.#state.paused ? ', paused' : ''})`
    throw new RunControlError('conflict', `${what}: expected a round running, got none: ${found}`)
  }

  /** Reports an operator's action to the host; a host that throws costs only a warning. */
  #control(action: ControlEvent['action'], by: string, round: number, detail: string): void {
    this.#opts.onInfo?.(
      `run ${action} by ${escapeText(by, 100)} (round ${round}): ${escapeText(detail, 300)}`,
    )
    this.#warnIfFails('reporting the operator’s action', () =>
      this.#opts.onControl?.({ action, by, round, detail }),
    )
  }

  /**
   * A complaint named `entry.participant` the culprit of a secure round: recorded in the run
   * folder, logged, and disconnected before the next round is selected (it is no longer online,
   * and its hellos are refused).
   */
  #exclude(round: number, exclusion: Exclusion): void {
    const entry = { ...exclusion, round }
    if (!this.#participants.exclude(entry)) return
    this.#opts.onExclude?.(entry)
    this.#opts.onWarning?.(
      `round ${round}: excluded ${entry.participant} from the run (complaint by ${exclusion.by}): ${exclusion.reason}`,
    )
    // Its round is over (blame comes as it ends): out of the run, not a dropout of a secure round.
    this.#disconnect(entry.participant, 'excluded from the run', false)
  }

  /** Closes `participant`'s connection saying why; out of an open secure round as a dropout, if `dropout`. */
  #disconnect(participant: string, reason: string, dropout = true): void {
    const link = this.#participants.disconnect(participant)
    if (link === undefined) return
    this.dispatch({ type: 'left', participant })
    if (dropout) this.#open?.secure?.left(participant)
    this.#participants.tell(participant, link, (l) => l.close(reason))
  }

  /**
   * Runs `fn` and, when it throws, returns why; the one place that catches what the federation's
   * own code, its dependencies (clock, log, evaluate, crypto, links) or an input made throw, so none
   * of it ends the process. The caller logs it once: as the reason of the round it fails (in that
   * round's record), or as a warning.
   */
  #attempt(what: string, fn: () => void): string | undefined {
    try {
      fn()
      return undefined
    } catch (error) {
      return `${what} failed: ${error instanceof Error ? error.message : String(error)}`
    }
  }

  /** An entry point or a timer's callback: what it throws fails the open round (`round`, if given). */
  #contain(what: string, fn: () => void, round?: number): void {
    const failure = this.#attempt(what, fn)
    if (failure !== undefined) this.#fault(failure, round)
  }

  /** Fails the open round with `reason`, which its record then says; with none open, a warning. */
  #fault(reason: string, round = this.#state.round): void {
    if (this.#state.phase === 'training' && this.#state.round === round)
      this.dispatch({ type: 'error', round, reason })
    else this.#opts.onWarning?.(reason)
  }

  /** For what fails no round: a warning says why. */
  #warnIfFails(what: string, fn: () => void): void {
    const failed = this.#attempt(what, fn)
    if (failed !== undefined) this.#opts.onWarning?.(failed)
  }

  /** Waiting for participants (at the start, or after all left) is bounded too: nothing hangs. */
  #armJoinTimer(): void {
    this.#timers.armJoin(this.#opts.joinTimeoutMs, () => this.dispatch({ type: 'join-timeout' }))
  }

  #run(effect: Effect, before: RoundState): void {
    switch (effect.type) {
      case 'start-round': {
        // Stopped while this start waited for the previous round's record: it never starts.
        if (this.#state.phase === 'finished') return
        const round = effect.round
        this.#opts.observer?.roundStarted?.(round, effect.participants.length)
        this.#timers.disarmJoin()
        this.#timers.cancelGather()
        const startedAt = this.#timers.now()
        this.#open = { round, startedAt, secure: undefined, blame: undefined, warnings: [] }
        this.#timers.armDeadline(round, startedAt, this.#opts.roundDeadlineMs, () =>
          this.dispatch({ type: 'deadline', round }),
        )
        const bytes = encodeWeights(effect.weights)
        const secagg = this.#startSecure(round, effect.participants)
        if (!this.#opts.secure)
          this.#opts.onWarning?.(
            `round ${round} runs in plaintext-debug mode: the coordinator sees every participant's update in the clear`,
          )
        const start = this.#outgoingRound(round, bytes, secagg)
        for (const p of effect.participants) this.#participants.send(p, (l) => l.sendRound(start))
        return
      }
      case 'send-round':
        this.#participants.send(effect.participant, (l) =>
          l.sendRound(this.#outgoingRound(effect.round, encodeWeights(effect.weights), null)),
        )
        return
      case 'update-ack':
        return
      case 'gather':
        this.#timers.armGather(effect.ms, () => this.dispatch({ type: 'gather-timeout' }))
        return
      case 'round-aggregated':
      case 'round-failed': {
        this.#timers.cancelDeadline()
        const open = this.#open
        open?.secure?.cancel()
        if (open) open.secure = undefined
        const aggregated = effect.type === 'round-aggregated'
        const prior = aggregated ? this.#headPrior(effect.labelCounts) : null
        const sets =
          aggregated && this.#opts.evaluate
            ? this.#opts.evaluate(effect.weights, prior)
            : { validation: null, test: null }
        const metric = this.metric
        const best = nextBest(
          this.#best,
          effect.round,
          sets.validation ? selectionValue(sets.validation, metric) : null,
        )
        const labels = this.task.head.labels
        const warnings = [
          sets.validation && dominantWarning(sets.validation, labels, 'validation'),
          sets.test && dominantWarning(sets.test, labels, 'test'),
        ].filter((w): w is string => w !== null)
        // Up to here an aggregated round can still fail instead (dispatch).
        if (aggregated) this.#opts.recorder.writeHead(effect.round, effect.weights, effect.server)
        const record = buildRoundRecord(effect, {
          selected: before.selected,
          labels: this.task.head.labels,
          ordinal: this.task.ordinal,
          startedAt: open?.startedAt ?? this.#timers.now(),
          endedAt: this.#timers.now(),
          validation: sets.validation,
          test: sets.test,
          prior,
          best,
          warnings: [...(open?.warnings ?? []), ...warnings],
          blame: open?.blame,
        })
        this.#best = best
        this.#open = undefined
        const warn = (message: string) => this.#opts.onWarning?.(message)
        this.#commits.hold(
          commitUntilKept((r) => this.#opts.recorder.commit(r), record, this.#timers.clock, warn).then(() =>
            this.#announce(record),
          ),
        )
        this.#stopIfPatienceRanOut(effect.round)
        return
      }
      case 'finished': {
        this.#timers.cancelAll()
        this.#open?.secure?.cancel()
        this.#open = undefined
        const finished = { rounds: this.#state.round, completed: effect.completed }
        this.#participants.tellAll((link) => link.sendFinished(finished))
        const summary = { reason: effect.reason, completed: effect.completed, failed: effect.failed }
        this.#resolveDone(summary)
        this.#opts.onFinished?.(summary)
        return
      }
    }
  }

  /**
   * With `patience`, a run whose best round is that many rounds behind ends after this round (kept
   * and announced first: the end waits behind its commit, and the next round's start after it never
   * starts). The last planned round ends the run anyway.
   */
  #stopIfPatienceRanOut(round: number): void {
    const selection = this.#opts.selection
    if (!selection || this.#state.phase === 'finished') return
    if (!patienceRunOut(this.#best, round, selection.patience)) return
    this.dispatch({ type: 'stop', reason: earlyStop(this.#best, round, selection) })
  }

  /** A kept round, told: the operator's line and its warnings, every participant's result, the observer. */
  #announce(record: RoundRecord): void {
    this.#warnIfFails('reporting the round', () => this.#opts.onRecord?.(record))
    for (const warning of record.warnings) this.#opts.onWarning?.(`round ${record.round}: ${warning}`)
    const result = roundResult(record)
    this.#participants.tellAll((link) => link.sendResult(result))
    this.#warnIfFails('observing the round', () => this.#opts.observer?.roundEnded?.(record))
  }

  /** What a participant starting `round` now is sent: the same object for all who start it together. */
  #outgoingRound(round: number, weights: Uint8Array, secagg: SecureRoundSetup | null): OutgoingRound {
    const seed = (this.#opts.config.seed + round * 7919) >>> 0
    const deadlineAt = this.#timers.deadlineOf(round) ?? this.#timers.now()
    const deadlineMs = Math.max(1, deadlineAt - this.#timers.now())
    const training = { ...this.#opts.training, prior: this.#prior(), seed }
    // The head sent is the last aggregate's: it predicts with that round's label mix.
    const predictionPrior = this.#headPrior(this.#state.labelCounts)
    return { round, weights, training, predictionPrior, deadlineMs, secagg }
  }

  /** The prior a head aggregated from `labelCounts` predicts with (round-prior.ts). */
  #headPrior(labelCounts: readonly number[] | null): number[] | null {
    const { loss } = this.#opts.training
    return roundPrior(
      loss,
      this.#opts.predictionPrior ?? 'federation',
      labelCounts,
      this.task.head.labels.length,
    )
  }

  /** Opens the round's secure aggregation over the selected participants; null in plaintext-debug. */
  #startSecure(round: number, participants: readonly string[]): SecureRoundSetup | null {
    const secure = this.#opts.secure
    if (!secure) return null
    const open = this.#open
    if (open?.round !== round)
      throw new Error(`opening round ${round}'s secure aggregation: expected it started, got none`)
    const roster = new Map(participants.map((p) => [p, this.#participants.identityOf(p)]))
    const classes = this.task.head.labels.length
    // A private task's vector is [Δ…, 1]: no counts (secure-update.ts).
    const private_ = this.task.privacy !== null
    const secureRound = new SecureRound({
      taskId: this.task.taskId,
      round,
      roster,
      dim: secureVectorLength(this.task.paramCount, classes, private_),
      parameters: secure.parameters,
      maskedInputDeadlineMs: this.#timers.deadlineOf(round) as number,
      crypto: secure.crypto,
      clock: {
        now: () => this.#timers.now(),
        after: (ms, fn) => this.#timers.after(`round ${round}'s secure stage deadline`, ms, fn, round),
      },
      isOnline: (p) => this.#participants.isOnline(p),
      send: (p, message) => this.#participants.send(p, (l) => l.sendSecagg(message)),
      onStage: (timing) => {
        this.#opts.onInfo?.(
          `round ${round}: secure aggregation stage ${timing.stage} closed with ${timing.heard} of ${timing.of}`,
        )
        this.#opts.observer?.stageRelayed?.(timing)
      },
      onUnmasking: (survivors) =>
        this.#contain(
          `round ${round}'s unmasking`,
          () => {
            if (open.secure !== secureRound) return
            // on disk before any share is asked for: a crash from here on still accounts the round
            if (private_)
              this.#opts.recorder.markUnmasking?.({
                round,
                survivors: survivors.length,
                selected: this.#state.selected,
                startedAt: open.startedAt,
              })
            this.dispatch({ type: 'secure-unmasking', round, survivors: survivors.length })
          },
          round,
        ),
      onBlame: (blame) =>
        this.#contain(
          `round ${round}'s blame`,
          () => {
            open.blame = blame
            for (const exclusion of blame.excluded) this.#exclude(round, exclusion)
            for (const d of blame.disputed)
              this.#opts.onWarning?.(
                `round ${round}: ${d.participant} out of the round, not excluded: ${d.reason}`,
              )
          },
          round,
        ),
      // Called from a stage's close or from the unmasking's promise: contained like a timer.
      onOutcome: (outcome) =>
        this.#contain(
          `round ${round}'s secure aggregation outcome`,
          () => {
            if (open.secure !== secureRound) return
            open.secure = undefined
            if (!outcome.ok)
              return void this.dispatch({ type: 'secure-failed', round, reason: outcome.reason })
            const decoded = decodeSecureSum(
              outcome.sum,
              this.task.paramCount,
              classes,
              secure.fixedPoint,
              private_,
            )
            const sum = private_ ? this.#survivorsMean(decoded, outcome.survivors.length, open) : decoded
            this.dispatch({ type: 'secure-sum', round, survivors: outcome.survivors, sum })
          },
          round,
        ),
    })
    open.secure = secureRound
    return { setup: secureRound.setup, fixedPoint: secure.fixedPoint }
  }

  /**
   * A private sum weighs every survivor 1: its mean divides by the survivors' count, which the
   * secure aggregation established (public), never by the count word inside the sum, which any
   * survivor could have changed. A count word that disagrees is a warning in the round's record.
   */
  #survivorsMean(sum: SecureSum, survivors: number, open: OpenRound): SecureSum {
    if (sum.examples !== survivors)
      open.warnings.push(
        `the sum's count word says ${sum.examples} contributors, secure aggregation ${survivors} survivors: a survivor sent a count other than 1; the mean divides by ${survivors}`,
      )
    const weightedSum = new Float64Array(sum.weightedSum)
    weightedSum[this.task.paramCount] = survivors
    return { ...sum, weightedSum, examples: survivors }
  }

  #prior(): number[] | null {
    const prior = this.#opts.labelPrior
    if (prior === 'local') return null
    if (prior === 'federation') return federationPrior(this.#state.labelCounts, this.task.head.labels.length)
    return [...prior.fixed]
  }
}

/** What an effect does, for the report of its failure. */
function effectName(effect: Effect): string {
  switch (effect.type) {
    case 'start-round':
      return `starting round ${effect.round}`
    case 'send-round':
      return `sending round ${effect.round} to ${effect.participant}`
    case 'round-aggregated':
      return `closing round ${effect.round}`
    case 'round-failed':
      return `closing failed round ${effect.round}`
    case 'gather':
      return 'arming the gather window'
    case 'update-ack':
      return `answering ${effect.participant}'s update`
    case 'finished':
      return 'finishing the run'
  }
}
