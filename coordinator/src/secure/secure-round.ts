import {
  type Blame,
  ProtocolError,
  participantId,
  roundContext,
  type SecaggCrypto,
  SecaggServer,
  type SecaggSetup,
  type StageOutcome,
  sharedPayload,
} from '@fedtune/protocol'
import type { Exclusion } from '../participants/exclusion.ts'
import type { Clock } from '../rounds/clock.ts'
import type { StageTiming } from '../rounds/round-observer.ts'
import { StageDeadline } from './stage-deadline.ts'

/** The parameters of every secure round of a task (task-file.ts, `aggregation`). */
export type SecureParameters = {
  readonly neighbours: number
  readonly threshold: number
  readonly stageDeadlineMs: number
  /** Fewer masked inputs than this and the round fails before anything is unmasked. */
  readonly minSurvivors: number
}

/**
 * t for a round of `n` participants: the configured one when neighbourhoods are the configured k;
 * with fewer participants than k everyone is everyone's neighbour, and t is then a majority of n
 * (never all of them, which would make one dropout fatal), and at least 2.
 */
export function effectiveThreshold(parameters: SecureParameters, n: number): number {
  if (n >= parameters.neighbours) return parameters.threshold
  return Math.max(2, Math.min(parameters.threshold, Math.floor(n / 2) + 1))
}

export type SecureRoundOptions = {
  readonly taskId: string
  readonly round: number
  /** The selected participants by name, with their enrolled identity keys. */
  readonly roster: ReadonlyMap<string, Uint8Array>
  readonly dim: number
  readonly parameters: SecureParameters
  /** When the masked inputs are due: the round's deadline, since they follow local training. */
  readonly maskedInputDeadlineMs: number
  readonly crypto: SecaggCrypto
  readonly clock: Clock
  readonly isOnline: (participant: string) => boolean
  /** Relays the next stage's message to one participant. */
  readonly send: (participant: string, message: unknown) => void
  readonly onOutcome: (
    outcome:
      | { readonly ok: true; readonly sum: Uint32Array; readonly survivors: readonly string[] }
      | { readonly ok: false; readonly reason: string },
  ) => void
  /**
   * The masked-input stage closed and the unmasking of these survivors' inputs is about to be asked
   * for: from here the coordinator may learn their sum, whatever happens next (privacy accounting).
   */
  readonly onUnmasking?: (survivors: readonly string[]) => void
  /** A stage relayed its messages (unmask: unmasked the sum, or failed): for the log and metrics. */
  readonly onStage?: (timing: StageTiming) => void
  /**
   * The culprits and disputes the round's complaints established, by name: called once as the
   * round ends (before `onOutcome`, or on `cancel`), never while a counter-complaint could still
   * turn a culprit into a disputant. Not called when no one complained.
   */
  readonly onBlame?: (blame: {
    readonly excluded: readonly Exclusion[]
    readonly disputed: readonly Exclusion[]
  }) => void
}

const STAGES = ['advertise', 'share-keys', 'masked-input', 'unmask'] as const

/**
 * The shell of one secure round: it owns the round's `SecaggServer` (protocol/src/secagg), maps
 * participant names to their secagg ids, and drives the four stages — each closes when everyone it
 * waits for has answered or gone offline, or at its deadline — then reports the unmasked sum or
 * why there is none. Nothing here sees an update: only masked vectors and shares pass through.
 */
export class SecureRound {
  readonly setup: SecaggSetup
  readonly #opts: SecureRoundOptions
  readonly #server: SecaggServer
  readonly #nameOf = new Map<string, string>()
  readonly #idOf = new Map<string, string>()
  readonly #deadline: StageDeadline
  #over = false
  #blamed = false
  readonly #gone = new Set<string>()
  #openedAt: number
  #lastMessageAt: number | null = null

  constructor(opts: SecureRoundOptions) {
    this.#opts = opts
    const names = [...opts.roster.keys()]
    this.setup = {
      taskId: opts.taskId,
      round: opts.round,
      identityKeys: names.map((n) => opts.roster.get(n) as Uint8Array),
      neighbourCount: opts.parameters.neighbours,
      neighbourSeed: opts.crypto.randomBytes(32),
      threshold: effectiveThreshold(opts.parameters, names.length),
      dim: opts.dim,
    }
    for (const name of names) {
      const id = participantId(opts.roster.get(name) as Uint8Array)
      this.#nameOf.set(id, name)
      this.#idOf.set(name, id)
    }
    this.#server = new SecaggServer({ crypto: opts.crypto, context: roundContext(this.setup) })
    this.#openedAt = opts.clock.now()
    this.#deadline = new StageDeadline(opts.clock, opts.maskedInputDeadlineMs)
    this.#arm('advertise')
  }

  get stage(): string {
    return this.#server.stage
  }

  /** Who the open stage still waits for, by name: for the operator's status page. */
  get waitingFor(): string[] {
    return this.#server.waitingFor.map((id) => this.#nameOf.get(id) ?? id).sort()
  }

  /** One participant's stage message; a ProtocolError says why it was refused. */
  receive(participant: string, message: unknown): void {
    const id = this.#idOf.get(participant)
    if (id === undefined)
      throw new ProtocolError(
        'not-selected',
        `secagg: expected a message from one of round ${this.#opts.round}'s participants, got one from ${participant}, who was not selected`,
      )
    this.#server.receive(id, message)
    this.#lastMessageAt = this.#opts.clock.now()
    this.#maybeClose()
  }

  /**
   * A participant's connection dropped. Relays sent while it was away are lost, so even if it
   * reconnects it is not waited for again in this round: it is a dropout, and the stage closes as
   * soon as no one else it waits for is left.
   */
  left(participant: string): void {
    this.#gone.add(participant)
    this.#maybeClose()
  }

  /** Closes the stage once no one it waits for can still answer: all answered, or the rest are gone. */
  #maybeClose(): void {
    // Asked after every message, so the O(n) count and list only when they can matter: with more
    // still waited for than have left, one of them can still answer (n = 1000: ~2 s of CPU a round).
    if (this.#server.waitingAtLeast > this.#gone.size) return
    if (this.#server.waitingCount > this.#gone.size) return
    const waiting = this.#server.waitingFor
    const canAnswer = (id: string) => {
      const name = this.#nameOf.get(id) ?? ''
      return !this.#gone.has(name) && this.#opts.isOnline(name)
    }
    if (!waiting.some(canAnswer)) this.#closeStage()
  }

  cancel(): void {
    this.#over = true
    this.#deadline.cancel()
    this.#reportBlame()
  }

  /** The round ends: its blame first (so the next round cannot select a culprit), then its outcome. */
  #end(outcome: Parameters<SecureRoundOptions['onOutcome']>[0]): void {
    this.#reportBlame()
    this.#opts.onOutcome(outcome)
  }

  #reportBlame(): void {
    if (this.#blamed) return
    this.#blamed = true
    const { culprits, disputed } = this.#server.blame
    if (culprits.length + disputed.length === 0) return
    const name = (id: string) => this.#nameOf.get(id) ?? id
    const named = (b: Blame): Exclusion => ({
      participant: name(b.participant),
      by: name(b.by),
      reason: b.reason.replace(/\b[0-9a-f]{32}\b/g, name),
    })
    this.#opts.onBlame?.({ excluded: culprits.map(named), disputed: disputed.map(named) })
  }

  /**
   * An operator extended the round's deadline by `ms`: what the participants are waiting against
   * moves with it — the open stage's deadline, and the masked inputs' (stage-deadline.ts). The
   * stages still to come after masked-input keep their full stageDeadlineMs each.
   */
  extend(ms: number): void {
    if (!this.#over) this.#deadline.extend(ms)
  }

  /** Arms `stage`'s deadline as it opens (`#openedAt`). */
  #arm(stage: (typeof STAGES)[number]): void {
    this.#deadline.arm(stage, this.#openedAt, this.#opts.parameters.stageDeadlineMs, () => {
      if (this.#server.stage === stage) this.#closeStage()
    })
  }

  #closeStage(): void {
    if (this.#over) return
    const stage = this.#server.stage
    const of = this.setup.identityKeys.length
    const waiting = this.waitingFor
    const timing = {
      round: this.#opts.round,
      stage: stage as StageTiming['stage'],
      heard: of - waiting.length,
      of,
      missing: waiting,
      openedAt: this.#openedAt,
      lastMessageAt: this.#lastMessageAt,
      closedAt: this.#opts.clock.now(),
    }
    const relayed = () => this.#opts.onStage?.({ ...timing, relayedAt: this.#opts.clock.now() })
    let outcome: StageOutcome<unknown>
    if (stage === 'advertise') outcome = this.#server.closeAdvertise()
    else if (stage === 'share-keys') outcome = this.#server.closeShareKeys()
    else if (stage === 'masked-input') outcome = this.#server.closeMaskedInput()
    else if (stage === 'unmask') {
      this.#deadline.cancel()
      this.#over = true
      void this.#server.finish().then(
        (result) => {
          relayed()
          this.#end(
            result.ok
              ? {
                  ok: true,
                  sum: result.sum,
                  survivors: result.survivors.map((id) => this.#nameOf.get(id) as string),
                }
              : result,
          )
        },
        (error: Error) => {
          relayed()
          this.#end({ ok: false, reason: error.message })
        },
      )
      return
    } else return
    if (!outcome.ok) {
      this.#over = true
      this.#deadline.cancel()
      relayed()
      this.#end(outcome)
      return
    }
    // Unmasking a sum of too few inputs would reveal more than the task allows: stop before it.
    if (stage === 'masked-input' && outcome.messages.size < this.#opts.parameters.minSurvivors) {
      this.#over = true
      this.#deadline.cancel()
      relayed()
      this.#end({
        ok: false,
        reason: `only ${outcome.messages.size} masked inputs arrived, ${this.#opts.parameters.minSurvivors} needed; nothing was unmasked`,
      })
      return
    }
    // Told before any share is asked for: a round that fails from here on counts as released.
    if (stage === 'masked-input') {
      this.#opts.onUnmasking?.([...outcome.messages.keys()].map((id) => this.#nameOf.get(id) as string))
      // the shell failed the round as it was told (its mark could not be kept): no share is asked
      if (this.#over) return
    }
    // One message for everyone (the unmask request): encoded once for all their sockets.
    const values = new Set(outcome.messages.values())
    if (values.size === 1) sharedPayload(values.values().next().value as object)
    for (const [id, message] of outcome.messages) this.#opts.send(this.#nameOf.get(id) as string, message)
    relayed()
    this.#openedAt = this.#opts.clock.now()
    this.#lastMessageAt = null
    this.#arm(STAGES[STAGES.indexOf(stage) + 1] as (typeof STAGES)[number])
  }
}
