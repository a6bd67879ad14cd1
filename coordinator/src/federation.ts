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
import { localSummary, type RoundLog, type RoundRecord } from './round-log.ts'
import type { RoundObserver } from './round-observer.ts'
import { type SecureParameters, SecureRound } from './secure-round.ts'

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
}

export type Evaluate = (weights: Float32Array) => { accuracy: number; auc: number | null; examples: number }

export type Clock = {
  now(): number
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  after(ms: number, fn: () => void): () => void
}

export const realClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms)
    return () => clearTimeout(timer)
  },
}

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
  readonly log: RoundLog
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
  /** Names already enrolled with their identity keys (a resumed run's), and where to record new ones. */
  readonly enrolled?: ReadonlyMap<string, Uint8Array>
  readonly onEnrol?: (participant: string, identityKey: Uint8Array) => void
  readonly onInfo?: (message: string) => void
  readonly observer?: RoundObserver | undefined
}

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
  #roundStartedAt = 0
  #deadlineAt = 0
  #identities = new Map<string, Uint8Array>()
  #secure: SecureRound | undefined
  #resolveDone!: (f: { reason: string; completed: number; failed: number }) => void

  constructor(opts: FederationOptions) {
    this.task = opts.task
    this.#opts = opts
    this.#clock = opts.clock ?? realClock
    for (const [name, key] of opts.enrolled ?? []) this.#identities.set(name, key)
    this.#state = opts.resumed
      ? initialState(opts.config, opts.resumed.global, opts.resumed)
      : initialState(opts.config, opts.initial)
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve
    })
    if (!opts.resumed) opts.log.writeHead(0, opts.initial)
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

  /**
   * Enrols a name with its identity key on first sight, and from then on refuses that name with any
   * other key (a ProtocolError 'identity-mismatch').
   */
  enrol(participant: string, identityKey: Uint8Array): void {
    const known = this.#identities.get(participant)
    if (known === undefined) {
      this.#identities.set(participant, identityKey)
      this.#opts.onEnrol?.(participant, identityKey)
      return
    }
    const hex = (key: Uint8Array) => Buffer.from(key).toString('hex').slice(0, 16)
    if (!Buffer.from(known).equals(identityKey))
      throw new ProtocolError(
        'identity-mismatch',
        `${participant} is enrolled with identity key ${hex(known)}…, this hello has ${hex(identityKey)}…`,
      )
  }

  /**
   * A participant said hello; a second hello under the same name replaces its link (a reconnect).
   * Its kind decides which places of a round it may take (RoundConfig.maxBrowsersPerRound).
   */
  join(participant: string, kind: ParticipantKind, link: Link): void {
    this.#links.set(participant, link)
    if (this.#state.phase === 'finished') {
      link.sendFinished({ rounds: this.#state.round, completed: this.#state.completed })
      return
    }
    this.dispatch({ type: 'joined', participant, kind })
  }

  leave(participant: string, link: Link): void {
    if (this.#links.get(participant) !== link) return
    this.#links.delete(participant)
    this.dispatch({ type: 'left', participant })
    this.#secure?.left(participant)
  }

  /** A secure-aggregation stage message, answered at once: accepted, or refused with the reason. */
  secagg(participant: string, message: unknown, reply: (ack: UpdateAck) => void): void {
    const round = this.#secure
    if (!round) {
      reply({ ok: false, code: 'no-round', reason: 'no secure round is open' })
      return
    }
    try {
      round.receive(participant, message)
      reply({ ok: true })
    } catch (error) {
      const code = error instanceof ProtocolError ? error.code : 'internal'
      this.#opts.onWarning?.(`refused a secagg message from ${participant}: ${(error as Error).message}`)
      reply({ ok: false, code, reason: (error as Error).message })
    }
  }

  /**
   * Answers an update before acting on it: the acknowledgement must reach the participant before
   * the round result or the end of the run that this update may trigger.
   */
  update(participant: string, update: Update, reply: (ack: UpdateAck) => void): void {
    this.dispatch({ type: 'update', participant, update }, (effect) => {
      if (effect.type !== 'update-ack' || effect.participant !== participant) return false
      if (!effect.ok) this.#opts.onWarning?.(`refused an update from ${participant}: ${effect.reason}`)
      reply(effect.ok ? { ok: true } : { ok: false, code: effect.code, reason: effect.reason })
      return true
    })
  }

  stop(reason: string): void {
    this.dispatch({ type: 'stop', reason })
  }

  /** Runs one event through the round logic; `first` may claim effects to run before the rest. */
  dispatch(event: RoundEvent, first?: (effect: Effect) => boolean): Effect[] {
    const before = this.#state
    const [state, effects] = step(this.#state, event)
    this.#state = state
    const rest = first ? effects.filter((e) => !first(e)) : effects
    for (const effect of rest) this.#run(effect, before)
    if (this.#state.phase === 'waiting') this.#armJoinTimer()
    return effects
  }

  /** Waiting for participants (at the start, or after all left) is bounded too: nothing hangs. */
  #armJoinTimer(): void {
    if (this.#cancelJoin) return
    this.#cancelJoin = this.#clock.after(this.#opts.joinTimeoutMs, () => {
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
        this.#roundStartedAt = this.#clock.now()
        this.#deadlineAt = this.#roundStartedAt + this.#opts.roundDeadlineMs
        const round = effect.round
        this.#cancelDeadline = this.#clock.after(this.#opts.roundDeadlineMs, () =>
          this.dispatch({ type: 'deadline', round }),
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
        this.#clock.after(effect.ms, () => this.dispatch({ type: 'gather-timeout' }))
        return
      case 'round-aggregated':
      case 'round-failed': {
        this.#cancelDeadline?.()
        this.#secure?.cancel()
        this.#secure = undefined
        const aggregated = effect.type === 'round-aggregated'
        if (aggregated) this.#opts.log.writeHead(effect.round, effect.weights, effect.server)
        const global = aggregated && this.#opts.evaluate ? this.#opts.evaluate(effect.weights) : null
        const record: RoundRecord = {
          round: effect.round,
          status: aggregated ? 'aggregated' : 'failed',
          reason: aggregated ? null : effect.reason,
          startedAt: new Date(this.#roundStartedAt).toISOString(),
          durationMs: this.#clock.now() - this.#roundStartedAt,
          selected: before.selected,
          contributions: effect.contributions,
          dropped: effect.dropped,
          examples: aggregated ? effect.examples : 0,
          labelCounts: aggregated ? effect.labelCounts : null,
          global,
          local:
            aggregated && effect.secure
              ? {
                  valAccuracy:
                    effect.secure.valExamples > 0
                      ? effect.secure.valCorrect / effect.secure.valExamples
                      : null,
                  valAuc: null,
                  trainLoss: null,
                }
              : localSummary(effect.contributions),
          ...(aggregated && effect.secure ? { survivors: effect.secure.survivors } : {}),
        }
        this.#opts.log.append(record)
        this.#opts.onRecord?.(record)
        const result: RoundResult = {
          round: effect.round,
          status: record.status,
          reason: record.reason,
          participants:
            effect.type === 'round-aggregated' && effect.secure
              ? effect.secure.survivors.length
              : effect.contributions.length,
          accuracy: global?.accuracy ?? null,
          auc: global?.auc ?? null,
        }
        for (const link of this.#links.values()) link.sendResult(result)
        this.#opts.observer?.roundEnded?.(record)
        return
      }
      case 'finished': {
        this.#cancelDeadline?.()
        this.#secure?.cancel()
        this.#secure = undefined
        this.#disarmJoinTimer()
        const finished = { rounds: this.#state.round, completed: effect.completed }
        for (const link of this.#links.values()) link.sendFinished(finished)
        const summary = { reason: effect.reason, completed: effect.completed, failed: effect.failed }
        this.#opts.onFinished?.(summary)
        this.#resolveDone(summary)
        return
      }
    }
  }

  #sendRound(participant: string, round: number, bytes: Uint8Array, secagg: SecureRoundSetup | null): void {
    const link = this.#links.get(participant)
    if (!link) return
    const seed = (this.#opts.config.seed + round * 7919) >>> 0
    const deadlineMs = Math.max(1, this.#deadlineAt - this.#clock.now())
    link.sendRound(round, bytes, { ...this.#opts.training, prior: this.#prior(), seed }, deadlineMs, secagg)
  }

  /** Opens the round's secure aggregation over the selected participants; null in plaintext-debug. */
  #startSecure(round: number, participants: readonly string[]): SecureRoundSetup | null {
    const secure = this.#opts.secure
    if (!secure) return null
    this.#secure?.cancel()
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
      clock: this.#clock,
      isOnline: (p) => this.#links.has(p),
      send: (p, message) => this.#links.get(p)?.sendSecagg(message),
      onStage: (timing) => {
        this.#opts.onInfo?.(
          `round ${round}: secure aggregation stage ${timing.stage} closed with ${timing.heard} of ${timing.of}`,
        )
        this.#opts.observer?.stageRelayed?.(timing)
      },
      onOutcome: (outcome) => {
        if (this.#secure !== secureRound) return
        this.#secure = undefined
        if (!outcome.ok) return void this.dispatch({ type: 'secure-failed', round, reason: outcome.reason })
        const sum = decodeSecureSum(outcome.sum, this.task.paramCount, classes, secure.fixedPoint)
        this.dispatch({ type: 'secure-sum', round, survivors: outcome.survivors, sum })
      },
    })
    this.#secure = secureRound
    return { setup: secureRound.setup, fixedPoint: secure.fixedPoint }
  }

  #prior(): number[] | null {
    if (this.#opts.labelPrior === 'local') return null
    return federationPrior(this.#state.labelCounts, this.task.head.labels.length)
  }
}
