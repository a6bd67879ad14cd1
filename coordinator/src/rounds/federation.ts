import {
  decodeSecureSum,
  encodeWeights,
  type Finished,
  type FixedPoint,
  type ParticipantKind,
  ProtocolError,
  type RoundResult,
  type SecaggCrypto,
  type SecureRoundSetup,
  secureVectorLength,
  type TaskInfo,
  type TrainingSettings,
  type Update,
  type UpdateAck,
} from '@fedtune/protocol'
import type { ExcludedEntry, Exclusion } from '../participants/exclusion.ts'
import { type SecureParameters, SecureRound } from '../secure/secure-round.ts'
import { type Clock, realClock } from './clock.ts'
import { federationPrior } from './label-prior.ts'
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
import { buildRoundRecord, type RoundRecord, roundResult } from './round-record.ts'
import type { ServerState } from './server-optimizer.ts'

/** How the federation reaches one participant; the socket shell provides it. */
export type Link = {
  sendRound(
    round: number,
    weights: Uint8Array,
    training: TrainingSettings,
    deadlineMs: number,
    secagg: SecureRoundSetup | null,
  ): void
  sendSecagg(message: unknown): void
  sendResult(result: RoundResult): void
  sendFinished(finished: Finished): void
  /** Ends this connection, saying why: a newer connection under the same name replaced it. */
  close(reason: string): void
}

export type Evaluate = (weights: Float32Array) => { accuracy: number; auc: number | null; examples: number }

export type FederationOptions = {
  readonly task: TaskInfo
  readonly config: RoundConfig
  readonly initial: Float32Array
  /** Where a resumed run stopped; its global head replaces `initial`. */
  readonly resumed?: (Progress & { readonly global: Float32Array }) | undefined
  readonly training: Omit<TrainingSettings, 'seed' | 'prior'>
  /**
   * 'federation': the logit-adjusted loss uses the label mix of the last aggregate (uniform before
   * the first, when nothing is known yet); 'local': each participant's own.
   */
  readonly labelPrior: 'local' | 'federation'
  readonly roundDeadlineMs: number
  readonly joinTimeoutMs: number
  /** Where each round's head and record go: the store (start.ts), or a test's. */
  readonly recorder: RoundRecorder
  readonly evaluate?: Evaluate | undefined
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
}

/**
 * Where a round's head and record are kept. The head is written whole before its round commits; a
 * round is kept once `commit` resolves, and only then are participants told its result and the next
 * round started: a coordinator killed at any point loses no round it announced.
 */
export type RoundRecorder = {
  writeHead(round: number, weights: Float32Array, server?: ServerState): void
  commit(record: RoundRecord): Promise<void>
}

/** How long to wait before trying again to commit a round the store refused (it may be restarting). */
const COMMIT_RETRY_MS = [1000, 2000, 5000, 10_000, 30_000] as const

/**
 * The shell around the pure round logic: it owns the links to participants, the deadline timers and
 * the round log, and turns each `Effect` of `step` into I/O. All state changes go through `dispatch`.
 */
export class Federation {
  readonly task: TaskInfo
  readonly done: Promise<{ reason: string; completed: number; failed: number }>
  #state: RoundState
  #links = new Map<string, Link>()
  #opts: FederationOptions
  #clock: Clock
  #cancelDeadline: (() => void) | undefined
  #cancelJoin: (() => void) | undefined
  /** An earlier gather window's timer must not cut a later one short. */
  #cancelGather: (() => void) | undefined
  #roundStartedAt = 0
  #deadlineAt = 0
  /** The identity key of each participant that joined this run (admitted by the socket shell). */
  #identities = new Map<string, Uint8Array>()
  /** A round being committed: the effects after it wait in `#queue` until it is kept. */
  #held: Promise<void> | undefined
  #queue: (() => void)[] = []
  #secure: SecureRound | undefined
  readonly #excluded = new Map<string, ExcludedEntry>()
  /** What the ending secure round's complaints established, for its record. */
  #blame: { readonly excluded: readonly Exclusion[]; readonly disputed: readonly Exclusion[] } | undefined
  #resolveDone!: (f: { reason: string; completed: number; failed: number }) => void

  constructor(opts: FederationOptions) {
    this.task = opts.task
    this.#opts = opts
    this.#clock = opts.clock ?? realClock
    this.#state = opts.resumed
      ? initialState(opts.config, opts.resumed.global, opts.resumed)
      : initialState(opts.config, opts.initial)
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve
    })
    if (!opts.resumed) opts.recorder.writeHead(0, opts.initial)
    this.#armJoinTimer()
  }

  get state(): RoundState {
    return this.#state
  }

  get global(): Float32Array {
    return this.#state.global
  }

  /** The open secure round's stage and who it waits for; null between rounds or in plaintext-debug. */
  get secureStage(): { readonly stage: string; readonly waitingFor: readonly string[] } | null {
    return this.#secure ? { stage: this.#secure.stage, waitingFor: this.#secure.waitingFor } : null
  }

  /** Participants a complaint named the culprit of a secure round, out of the rest of the run. */
  get excluded(): ReadonlyMap<string, ExcludedEntry> {
    return this.#excluded
  }

  /**
   * A complaint named `entry.participant` the culprit of a secure round: recorded in the run
   * folder, logged, and disconnected before the next round is selected (it is no longer online,
   * and its hellos are refused).
   */
  #exclude(round: number, exclusion: Exclusion): void {
    const { participant } = exclusion
    if (this.#excluded.has(participant)) return
    const entry = { ...exclusion, round }
    this.#excluded.set(participant, entry)
    this.#opts.onExclude?.(entry)
    this.#opts.onWarning?.(
      `round ${round}: excluded ${participant} from the run (complaint by ${exclusion.by}): ${exclusion.reason}`,
    )
    const link = this.#links.get(participant)
    if (link === undefined) return
    this.#links.delete(participant)
    this.dispatch({ type: 'left', participant })
    this.#tell(participant, link, (l) => l.close('excluded from the run'))
  }

  /**
   * A participant said hello. A second hello under the same name (and so the same key) replaces
   * the older connection, which is closed: never two links for one name. Its kind decides which
   * places of a round it may take (RoundConfig.maxBrowsersPerRound).
   */
  join(participant: string, kind: ParticipantKind, identityKey: Uint8Array, link: Link): void {
    this.#contain(`${participant} joining`, () => {
      const older = this.#links.get(participant)
      this.#links.set(participant, link)
      this.#identities.set(participant, identityKey)
      if (older !== undefined && older !== link) {
        this.#opts.onWarning?.(`${participant}: a newer connection replaced the older one`)
        this.#tell(participant, older, (l) =>
          l.close('a newer connection under the same name replaced this one'),
        )
        // Relays sent to the older connection are lost: in an open secure round it is a dropout.
        this.#secure?.left(participant)
      }
      if (this.#state.phase === 'finished') {
        const finished = { rounds: this.#state.round, completed: this.#state.completed }
        this.#tell(participant, link, (l) => l.sendFinished(finished))
        return
      }
      this.dispatch({ type: 'joined', participant, kind })
    })
  }

  leave(participant: string, link: Link): void {
    this.#contain(`${participant} leaving`, () => {
      if (this.#links.get(participant) !== link) return
      this.#links.delete(participant)
      this.dispatch({ type: 'left', participant })
      this.#secure?.left(participant)
    })
  }

  /**
   * A secure-aggregation stage message, answered at once: accepted, or refused with the reason. A
   * ProtocolError is the sender's fault and costs it only this message; any other error is the
   * coordinator's and fails the round.
   */
  secagg(participant: string, message: unknown, reply: (ack: UpdateAck) => void): void {
    const round = this.#secure
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
    this.#contain(`expelling ${participant}`, () => {
      const link = this.#links.get(participant)
      if (link === undefined) return
      this.#links.delete(participant)
      this.dispatch({ type: 'left', participant })
      this.#secure?.left(participant)
      this.#tell(participant, link, (l) => l.close(reason))
    })
  }

  stop(reason: string): void {
    this.dispatch({ type: 'stop', reason })
  }

  /** Whether a round's record is being committed (the run waits for it). */
  get committing(): boolean {
    return this.#held !== undefined
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
      if (this.#held !== undefined) {
        // Behind a round being committed: run in order once it is kept.
        this.#queue.push(() => {
          const failed = this.#attempt(effectName(effect), () => this.#run(effect, before))
          if (failed !== undefined) this.#opts.onWarning?.(failed)
        })
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

  /** Calls one link; a link that throws costs only its own participant the message. */
  #tell(participant: string, link: Link, send: (link: Link) => void): void {
    this.#warnIfFails(`sending to ${participant}`, () => send(link))
  }

  #tellAll(send: (link: Link) => void): void {
    for (const [participant, link] of this.#links) this.#tell(participant, link, send)
  }

  /** The clock's timers, each callback contained (a throw fails `round`, or the open round). */
  #after(what: string, ms: number, fn: () => void, round?: number): () => void {
    return this.#clock.after(ms, () => this.#contain(what, fn, round))
  }

  /** Waiting for participants (at the start, or after all left) is bounded too: nothing hangs. */
  #armJoinTimer(): void {
    if (this.#cancelJoin) return
    this.#cancelJoin = this.#after('the join timeout', this.#opts.joinTimeoutMs, () => {
      this.#cancelJoin = undefined
      this.dispatch({ type: 'join-timeout' })
    })
  }

  #disarmJoinTimer(): void {
    this.#cancelJoin?.()
    this.#cancelJoin = undefined
  }

  #run(effect: Effect, before: RoundState): void {
    switch (effect.type) {
      case 'start-round': {
        this.#opts.observer?.roundStarted?.(effect.round, effect.participants.length)
        this.#disarmJoinTimer()
        this.#cancelGather?.()
        this.#cancelGather = undefined
        this.#roundStartedAt = this.#clock.now()
        this.#blame = undefined
        this.#deadlineAt = this.#roundStartedAt + this.#opts.roundDeadlineMs
        const round = effect.round
        this.#cancelDeadline = this.#after(
          `round ${round}'s deadline`,
          this.#opts.roundDeadlineMs,
          () => this.dispatch({ type: 'deadline', round }),
          round,
        )
        const bytes = encodeWeights(effect.weights)
        const secagg = this.#startSecure(round, effect.participants)
        if (!this.#opts.secure)
          this.#opts.onWarning?.(
            `round ${round} runs in plaintext-debug mode: the coordinator sees every participant's update in the clear`,
          )
        for (const p of effect.participants) this.#sendRound(p, round, bytes, secagg)
        return
      }
      case 'send-round':
        this.#sendRound(effect.participant, effect.round, encodeWeights(effect.weights), null)
        return
      case 'update-ack':
        return
      case 'gather':
        this.#cancelGather?.()
        this.#cancelGather = this.#after('the gather window', effect.ms, () => {
          this.#cancelGather = undefined
          this.dispatch({ type: 'gather-timeout' })
        })
        return
      case 'round-aggregated':
      case 'round-failed': {
        this.#cancelDeadline?.()
        this.#secure?.cancel()
        this.#secure = undefined
        const aggregated = effect.type === 'round-aggregated'
        const global = aggregated && this.#opts.evaluate ? this.#opts.evaluate(effect.weights) : null
        // Up to here an aggregated round can still fail instead (dispatch).
        if (aggregated) this.#opts.recorder.writeHead(effect.round, effect.weights, effect.server)
        const record = buildRoundRecord(effect, {
          selected: before.selected,
          startedAt: this.#roundStartedAt,
          endedAt: this.#clock.now(),
          global,
          blame: this.#blame,
        })
        this.#blame = undefined
        this.#hold(this.#commit(record).then(() => this.#announce(record)))
        return
      }
      case 'finished': {
        this.#cancelDeadline?.()
        this.#cancelGather?.()
        this.#cancelGather = undefined
        this.#secure?.cancel()
        this.#secure = undefined
        this.#disarmJoinTimer()
        const finished = { rounds: this.#state.round, completed: effect.completed }
        this.#tellAll((link) => link.sendFinished(finished))
        const summary = { reason: effect.reason, completed: effect.completed, failed: effect.failed }
        this.#resolveDone(summary)
        this.#opts.onFinished?.(summary)
        return
      }
    }
  }

  /** The effects after `commit` wait for it; it never rejects (`#commit` retries until the round is kept). */
  #hold(commit: Promise<void>): void {
    const held = commit.finally(() => {
      if (this.#held !== held) return
      this.#held = undefined
      while (this.#held === undefined && this.#queue.length > 0) this.#queue.shift()?.()
    })
    this.#held = held
  }

  /**
   * Keeps the round's record, trying again while the store refuses (a restarting database, a full
   * disk): no later round starts until this one is kept, and the operator sees why it waits.
   */
  async #commit(record: RoundRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#opts.recorder.commit(record)
        return
      } catch (error) {
        const ms = COMMIT_RETRY_MS[Math.min(attempt, COMMIT_RETRY_MS.length - 1)] as number
        this.#opts.onWarning?.(
          `round ${record.round}: could not be recorded (${(error as Error).message}); trying again in ${ms / 1000} s, and no round starts until it is`,
        )
        await new Promise<void>((resolve) => this.#clock.after(ms, resolve))
      }
    }
  }

  /** A kept round, told: the operator's line, every participant's result, the observer. */
  #announce(record: RoundRecord): void {
    this.#warnIfFails('reporting the round', () => this.#opts.onRecord?.(record))
    const result = roundResult(record)
    this.#tellAll((link) => link.sendResult(result))
    this.#warnIfFails('observing the round', () => this.#opts.observer?.roundEnded?.(record))
  }

  #sendRound(participant: string, round: number, bytes: Uint8Array, secagg: SecureRoundSetup | null): void {
    const link = this.#links.get(participant)
    if (!link) return
    const seed = (this.#opts.config.seed + round * 7919) >>> 0
    const deadlineMs = Math.max(1, this.#deadlineAt - this.#clock.now())
    const training = { ...this.#opts.training, prior: this.#prior(), seed }
    this.#tell(participant, link, (l) => l.sendRound(round, bytes, training, deadlineMs, secagg))
  }

  /** Opens the round's secure aggregation over the selected participants; null in plaintext-debug. */
  #startSecure(round: number, participants: readonly string[]): SecureRoundSetup | null {
    const secure = this.#opts.secure
    if (!secure) return null
    this.#secure?.cancel()
    this.#secure = undefined
    const roster = new Map(participants.map((p) => [p, this.#identities.get(p) as Uint8Array]))
    const classes = this.task.head.labels.length
    const secureRound = new SecureRound({
      taskId: this.task.taskId,
      round,
      roster,
      dim: secureVectorLength(this.task.paramCount, classes),
      parameters: secure.parameters,
      maskedInputDeadlineMs: this.#deadlineAt,
      crypto: secure.crypto,
      clock: {
        now: () => this.#clock.now(),
        after: (ms, fn) => this.#after(`round ${round}'s secure stage deadline`, ms, fn, round),
      },
      isOnline: (p) => this.#links.has(p),
      send: (p, message) => {
        const link = this.#links.get(p)
        if (link) this.#tell(p, link, (l) => l.sendSecagg(message))
      },
      onStage: (timing) => {
        this.#opts.onInfo?.(
          `round ${round}: secure aggregation stage ${timing.stage} closed with ${timing.heard} of ${timing.of}`,
        )
        this.#opts.observer?.stageRelayed?.(timing)
      },
      onBlame: (blame) =>
        this.#contain(
          `round ${round}'s blame`,
          () => {
            this.#blame = blame
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
            if (this.#secure !== secureRound) return
            this.#secure = undefined
            if (!outcome.ok)
              return void this.dispatch({ type: 'secure-failed', round, reason: outcome.reason })
            const sum = decodeSecureSum(outcome.sum, this.task.paramCount, classes, secure.fixedPoint)
            this.dispatch({ type: 'secure-sum', round, survivors: outcome.survivors, sum })
          },
          round,
        ),
    })
    this.#secure = secureRound
    return { setup: secureRound.setup, fixedPoint: secure.fixedPoint }
  }

  #prior(): number[] | null {
    if (this.#opts.labelPrior === 'local') return null
    return federationPrior(this.#state.labelCounts, this.task.head.labels.length)
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
