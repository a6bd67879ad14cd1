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
import { localSummary, type RoundLog, type RoundRecord } from './round-log.ts'
import type { RoundObserver } from './round-observer.ts'

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
  /** Where each round's record and head go (RoundLog in round-log.ts). */
  readonly log: Pick<RoundLog, 'append' | 'writeHead'>
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
  /**
   * Names already enrolled with their identity keys (a resumed run's; one key, one name), and where
   * to record new ones.
   */
  readonly enrolled?: ReadonlyMap<string, Uint8Array>
  readonly onEnrol?: (participant: string, identityKey: Uint8Array) => void
  readonly onInfo?: (message: string) => void
  /** Participants excluded earlier in the run (a resumed run's), and where to record new ones. */
  readonly excluded?: ReadonlyMap<string, ExcludedEntry>
  readonly onExclude?: (entry: ExcludedEntry) => void
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
  /** An earlier gather window's timer must not cut a later one short. */
  #cancelGather: (() => void) | undefined
  #roundStartedAt = 0
  #deadlineAt = 0
  #identities = new Map<string, Uint8Array>()
  /** Who holds each enrolled identity key (hex): one key, one name. */
  #holders = new Map<string, string>()
  #secure: SecureRound | undefined
  readonly #excluded = new Map<string, ExcludedEntry>()
  /** What the ending secure round's complaints established, for its record. */
  #blame: { readonly excluded: readonly Exclusion[]; readonly disputed: readonly Exclusion[] } | undefined
  #resolveDone!: (f: { reason: string; completed: number; failed: number }) => void

  constructor(opts: FederationOptions) {
    this.task = opts.task
    this.#opts = opts
    this.#clock = opts.clock ?? realClock
    for (const [name, key] of opts.enrolled ?? []) {
      const holder = this.#holders.get(hex(key))
      if (holder !== undefined)
        throw new Error(
          `identity key ${hex(key)} is enrolled under two names, ${holder} and ${name}; one key, one name`,
        )
      this.#identities.set(name, key)
      this.#holders.set(hex(key), name)
    }
    for (const [name, entry] of opts.excluded ?? []) this.#excluded.set(name, entry)
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
   * other key (a ProtocolError 'identity-mismatch') and that key under any other name
   * ('identity-in-use'): one key, one name, or one holder could take several places in a round.
   * Nothing is pinned when it throws.
   */
  enrol(participant: string, identityKey: Uint8Array): void {
    this.#refuseExcluded(participant, identityKey)
    const known = this.#identities.get(participant)
    if (known !== undefined) {
      if (!Buffer.from(known).equals(identityKey))
        throw new ProtocolError(
          'identity-mismatch',
          `${participant} is enrolled with identity key ${hex(known).slice(0, 16)}…, this hello has ${hex(identityKey).slice(0, 16)}…`,
        )
      return
    }
    const holder = this.#holders.get(hex(identityKey))
    if (holder !== undefined)
      throw new ProtocolError(
        'identity-in-use',
        `identity key ${hex(identityKey).slice(0, 16)}… is enrolled as ${holder}; expected a key of its own for ${participant}`,
      )
    this.#opts.onEnrol?.(participant, identityKey)
    this.#identities.set(participant, identityKey)
    this.#holders.set(hex(identityKey), participant)
  }

  /** Participants a complaint named the culprit of a secure round, out of the rest of the run. */
  get excluded(): ReadonlyMap<string, ExcludedEntry> {
    return this.#excluded
  }

  /** An excluded name, or the identity key enrolled under one, is refused with 'excluded'. */
  #refuseExcluded(participant: string, identityKey: Uint8Array): void {
    const byKey = [...this.#excluded.keys()].find((name) => {
      const key = this.#identities.get(name)
      return key !== undefined && Buffer.from(key).equals(identityKey)
    })
    const entry =
      this.#excluded.get(participant) ?? (byKey === undefined ? undefined : this.#excluded.get(byKey))
    if (entry === undefined) return
    throw new ProtocolError(
      'excluded',
      `${entry.participant} was excluded from this run in round ${entry.round} (${entry.reason}); re-admission is the operator's decision`,
    )
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
  join(participant: string, kind: ParticipantKind, link: Link): void {
    this.#contain(`${participant} joining`, () => {
      const older = this.#links.get(participant)
      this.#links.set(participant, link)
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

  stop(reason: string): void {
    this.dispatch({ type: 'stop', reason })
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
        if (aggregated) this.#opts.log.writeHead(effect.round, effect.weights, effect.server)
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
          ...(this.#blame?.excluded.length ? { excluded: this.#blame.excluded } : {}),
          ...(this.#blame?.disputed.length ? { disputed: this.#blame.disputed } : {}),
        }
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
        // Up to here an aggregated round can still fail instead (dispatch); a failed one is told
        // even when its record cannot be written.
        if (aggregated) this.#opts.log.append(record)
        else this.#warnIfFails(`recording round ${effect.round}`, () => this.#opts.log.append(record))
        this.#warnIfFails('reporting the round', () => this.#opts.onRecord?.(record))
        this.#blame = undefined
        this.#tellAll((link) => link.sendResult(result))
        this.#warnIfFails('observing the round', () => this.#opts.observer?.roundEnded?.(record))
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

function hex(key: Uint8Array): string {
  return Buffer.from(key).toString('hex')
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
