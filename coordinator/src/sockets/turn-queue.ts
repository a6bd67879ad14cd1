/**
 * The socket shell's work in order, at most `sliceMs` of it per turn of the event loop.
 *
 * At n = 1000 a few turns did most of a round's waiting: the relay of a stage, 1,000 socket writes
 * that on loopback also deliver each frame to its reader, held the loop 130–400 ms (bench:load,
 * "last in → relay out"), and with read pacing (read-pacer.ts) a turn reads everything that came
 * during its wait: 30 masked inputs of 51 KB, handled back to back, were a turn of 100–300 ms. A
 * timer, a health check, the console waited behind each, and they were what the event-loop
 * delay's p99 measured. The shell hands its participants' messages (each handler) and its messages
 * to them (each send) to one queue instead; the queue runs them in the order they came, for at
 * most `sliceMs` a turn (and at least one), then lets the loop fire what is due and read, and
 * goes on where it stopped in the next turn. Nothing is dropped or reordered, a connection's
 * messages and its disconnect included; what each costs is unchanged. Acknowledgements are not
 * queued: a handler sends its own when it runs.
 *
 * Reading is not held back by the slice, so a flood could otherwise read faster than the handlers
 * run and grow the queue without bound. It holds at most `maxInbound` participants' messages: past
 * that, a turn's slice runs on, however long, until it is back within it, and the loop reads no more
 * meanwhile. The kernel's socket buffers, and TCP's backpressure on the senders, do the rest, as
 * they did before the queue.
 */
export type TurnQueueHost = {
  now(): number
  /** Runs `fn` in a later turn, once this one's I/O callbacks are done (setImmediate). */
  later(fn: () => void): void
}

/** The most a turn spends on queued work, in ms. */
export const DEFAULT_SLICE_MS = 10

/**
 * Participants' messages the queue holds before a slice runs past its time. A paced turn of a round
 * of 1,000 reads up to ~50; 256 of the largest message a task allows (its masked input) stay within
 * what the message bounds already let 256 connections have in flight.
 */
export const MAX_INBOUND = 256

type Piece = { readonly work: () => void; readonly inbound: boolean }

export const processTurnQueueHost: TurnQueueHost = {
  now: () => performance.now(),
  later: (fn) => void setImmediate(fn),
}

export class TurnQueue {
  readonly #sliceMs: number
  readonly #host: TurnQueueHost
  readonly #maxInbound: number
  readonly #onError: (error: unknown) => void
  #queue: (Piece | undefined)[] = []
  #next = 0
  #inbound = 0
  #scheduled = false

  /** `onError` hears of work that threw; the work after it runs all the same. */
  constructor(
    onError: (error: unknown) => void,
    sliceMs: number = DEFAULT_SLICE_MS,
    host: TurnQueueHost = processTurnQueueHost,
    maxInbound: number = MAX_INBOUND,
  ) {
    if (!Number.isFinite(sliceMs) || sliceMs < 0)
      throw new RangeError(`turn queue: expected a slice of 0 ms or more, got ${String(sliceMs)}`)
    if (!Number.isInteger(maxInbound) || maxInbound < 0)
      throw new RangeError(
        `turn queue: expected a whole number ≥ 0 of inbound messages to hold, got ${String(maxInbound)}`,
      )
    this.#onError = onError
    this.#sliceMs = sliceMs
    this.#host = host
    this.#maxInbound = maxInbound
  }

  /** Work handed in and not yet run. */
  get pending(): number {
    return this.#queue.length - this.#next
  }

  /** Participants' messages handed in and not yet handled. */
  get pendingInbound(): number {
    return this.#inbound
  }

  /** Runs `work` after everything handed in before it, in a later turn; `inbound`: it handles a participant's message. */
  push(work: () => void, inbound = false): void {
    this.#queue.push({ work, inbound })
    if (inbound) this.#inbound++
    if (this.#scheduled) return
    this.#scheduled = true
    this.#host.later(() => this.#slice())
  }

  /**
   * One turn's share: work until the queue is empty or `sliceMs` has passed (at least one piece),
   * and on past that time while it holds more than `maxInbound` messages.
   */
  #slice(): void {
    const until = this.#host.now() + this.#sliceMs
    while (this.#next < this.#queue.length) {
      const piece = this.#queue[this.#next] as Piece
      // released as it runs: a long queue does not hold what it has done (frames, messages)
      this.#queue[this.#next++] = undefined
      if (piece.inbound) this.#inbound--
      try {
        piece.work()
      } catch (error) {
        this.#onError(error)
      }
      if (this.#host.now() >= until && this.#inbound <= this.#maxInbound) break
    }
    if (this.#next < this.#queue.length) {
      this.#host.later(() => this.#slice())
      return
    }
    this.#queue = []
    this.#next = 0
    this.#scheduled = false
  }
}
