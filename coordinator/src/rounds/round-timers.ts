import type { Clock } from './clock.ts'

/** Runs a timer's callback so that what it throws fails `round` (or the open round) instead of the process. */
export type Contain = (what: string, fn: () => void, round?: number) => void

/**
 * The federation's three timers in one place that cancels them all: the round's deadline, the join
 * timeout (waiting for participants is bounded too) and the gather window before a round. Each
 * callback runs contained; each timer is cleared before its callback runs, so it can be armed again.
 */
export class RoundTimers {
  readonly #clock: Clock
  readonly #contain: Contain
  /** The round whose deadline is armed, when (epoch ms), and what firing it does. */
  #deadline: { readonly round: number; at: number; cancel: () => void; readonly fn: () => void } | undefined
  #join: (() => void) | undefined
  /** An earlier gather window's timer must not cut a later one short. */
  #gather: (() => void) | undefined
  /** When the open gather window ends (epoch ms), or null with none open. */
  #gatherUntil: number | null = null

  constructor(clock: Clock, contain: Contain) {
    this.#clock = clock
    this.#contain = contain
  }

  /** The clock itself, uncontained: for a wait that is no round's timer (commit-until-kept.ts). */
  get clock(): Clock {
    return this.#clock
  }

  now(): number {
    return this.#clock.now()
  }

  /** Calls `fn` after `ms`, contained (a throw fails `round`, or the open round); returns its cancel. */
  after(what: string, ms: number, fn: () => void, round?: number): () => void {
    return this.#clock.after(ms, () => this.#contain(what, fn, round))
  }

  /** Arms `round`'s deadline `ms` after `startedAt` (now, epoch ms); `fn` runs when it passes. */
  armDeadline(round: number, startedAt: number, ms: number, fn: () => void): void {
    this.cancelDeadline()
    this.#deadline = { round, at: startedAt + ms, fn, cancel: this.#deadlineTimer(round, ms, fn) }
  }

  /** The armed deadline of `round` (epoch ms), or null when none is (the round has not started, or ended). */
  deadlineOf(round: number): number | null {
    return this.#deadline?.round === round ? this.#deadline.at : null
  }

  /** Pushes the armed deadline `ms` later: the old timer is cancelled, a new one armed for what is left. */
  extendDeadline(ms: number): void {
    const deadline = this.#deadline
    if (deadline === undefined)
      throw new Error('extending the deadline: expected an armed deadline, got none')
    deadline.cancel()
    deadline.at += ms
    deadline.cancel = this.#deadlineTimer(
      deadline.round,
      Math.max(1, deadline.at - this.#clock.now()),
      deadline.fn,
    )
  }

  cancelDeadline(): void {
    this.#deadline?.cancel()
    this.#deadline = undefined
  }

  /** Arms the join timeout unless it is armed already. */
  armJoin(ms: number, fn: () => void): void {
    if (this.#join) return
    this.#join = this.after('the join timeout', ms, () => {
      this.#join = undefined
      fn()
    })
  }

  disarmJoin(): void {
    this.#join?.()
    this.#join = undefined
  }

  /** Opens a gather window of `ms`, replacing any earlier one. */
  armGather(ms: number, fn: () => void): void {
    this.cancelGather()
    this.#gatherUntil = this.#clock.now() + ms
    this.#gather = this.after('the gather window', ms, () => {
      this.#gather = undefined
      this.#gatherUntil = null
      fn()
    })
  }

  /** When the open gather window ends (epoch ms); null when none is open. */
  get gatherUntil(): number | null {
    return this.#gatherUntil
  }

  cancelGather(): void {
    this.#gather?.()
    this.#gather = undefined
    this.#gatherUntil = null
  }

  cancelAll(): void {
    this.cancelDeadline()
    this.disarmJoin()
    this.cancelGather()
  }

  #deadlineTimer(round: number, ms: number, fn: () => void): () => void {
    return this.after(`round ${round}'s deadline`, ms, fn, round)
  }
}
