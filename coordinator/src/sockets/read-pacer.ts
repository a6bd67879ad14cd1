/**
 * Paced reads: interrupt moderation for the coordinator's event loop.
 *
 * A thousand participants do not answer a stage at once: each answers when its own crypto is done,
 * so their messages arrive one by one over the stage. Node wakes for each (epoll, a context switch,
 * caches cold again, on a virtual machine an exit to the host), reads it, and sleeps again; the
 * same traffic costs the coordinator two to three times the CPU it costs in a burst
 * (`npm run bench:load-floor -- --spread 2000` against `--spread 0`). While messages pour in, the
 * pacer makes every event-loop turn that read one last at least `turnMs`: after a short turn it
 * blocks the loop for the rest, and the messages that arrive meanwhile wait in the kernel's socket
 * buffers to be read together in the next turn, one wake-up for many. A turn that worked longer
 * than `turnMs` does not wait, and neither does a small federation: pacing starts only while at
 * least `busyPerSecond` messages arrive a second, so three hospitals never wait. The default, 40,
 * paces every stage of a round of 1,000: its shares trickle in at about 140 a second (each
 * participant checks 40 signatures and seals 40 shares first), which a threshold of 200 left
 * unpaced. Only joined participants' messages count (socket-shell.ts): a storm of hellos, each
 * waiting on the store over several turns, is never slowed.
 *
 * The price is latency, bounded: a message waits at most `turnMs` before it is read, and a timer
 * fires at most `turnMs` later than it would have: the event-loop delay's p50 rises to about
 * `turnMs` while pacing. A paced round has fewer, longer turns, so its few long ones weigh more in
 * the p99; the turn queue (turn-queue.ts) keeps those short (bench:load at n = 1000, 10 %: p99
 * 52–67 ms with both, 57–79 ms with neither). Nothing is dropped or reordered: a blocked loop reads
 * nothing, the kernel keeps it.
 */
export type ReadPacing = {
  /** The shortest turn, in ms, of an event loop that reads participants' messages; 0 turns pacing off. */
  readonly turnMs: number
  /** Pacing starts once this many messages arrived within the last second (sliding), and stops below it. */
  readonly busyPerSecond: number
}

export const DEFAULT_READ_PACING: ReadPacing = { turnMs: 20, busyPerSecond: 40 }

/** Longer than this and a paused event loop would look hung (timers, health checks). */
export const MAX_TURN_MS = 100

/** What the pacer needs of its process: the time, a blocking wait, and the end of the current turn. */
export type PacerHost = {
  now(): number
  /** Blocks the event loop for `ms`. */
  block(ms: number): void
  /** Runs `fn` once this turn's I/O callbacks are done (setImmediate: the loop's check phase). */
  atTurnEnd(fn: () => void): void
}

const cell = new Int32Array(new SharedArrayBuffer(4))

/** The real thing: performance.now, Atomics.wait on a cell nobody notifies, setImmediate. */
export const processHost: PacerHost = {
  now: () => performance.now(),
  block: (ms) => void Atomics.wait(cell, 0, 0, ms),
  atTurnEnd: (fn) => void setImmediate(fn),
}

/** Checks a pacing (from a flag, a config file or startCoordinator's options) and fills its defaults. */
export function readPacing(overrides: Partial<ReadPacing> = {}): ReadPacing {
  const pacing = {
    turnMs: overrides.turnMs ?? DEFAULT_READ_PACING.turnMs,
    busyPerSecond: overrides.busyPerSecond ?? DEFAULT_READ_PACING.busyPerSecond,
  }
  if (!Number.isInteger(pacing.turnMs) || pacing.turnMs < 0 || pacing.turnMs > MAX_TURN_MS)
    throw new RangeError(
      `read pacing: expected a turn of 0 (off) to ${MAX_TURN_MS} ms, got ${String(pacing.turnMs)}`,
    )
  if (!Number.isInteger(pacing.busyPerSecond) || pacing.busyPerSecond < 1)
    throw new RangeError(
      `read pacing: expected busyPerSecond to be a positive whole number, got ${String(pacing.busyPerSecond)}`,
    )
  return pacing
}

const SECOND_MS = 1000

export class ReadPacer {
  readonly #pacing: ReadPacing
  readonly #host: PacerHost
  /** The sliding second: messages in the current whole second, and in the one before it. */
  #secondFrom = Number.NEGATIVE_INFINITY
  #thisSecond = 0
  #lastSecond = 0
  #scheduled = false
  /** When the last paced turn ended: the next turn is measured from there. */
  #turnFrom = Number.NEGATIVE_INFINITY
  #blockedMs = 0
  #blocks = 0

  /** `pacing` is checked and its defaults filled here (readPacing). */
  constructor(pacing: Partial<ReadPacing> = {}, host: PacerHost = processHost) {
    this.#pacing = readPacing(pacing)
    this.#host = host
  }

  /** How long, and how many times, the pacer has blocked the loop: for the metrics and the tests. */
  get blocked(): { readonly ms: number; readonly times: number } {
    return { ms: this.#blockedMs, times: this.#blocks }
  }

  /** One message was read from a participant in this turn. */
  read(): void {
    if (this.#pacing.turnMs === 0) return
    const now = this.#host.now()
    this.#count(now)
    if (this.#scheduled || this.#rate(now) < this.#pacing.busyPerSecond) return
    this.#scheduled = true
    this.#host.atTurnEnd(() => this.#endTurn())
  }

  #count(now: number): void {
    const elapsed = now - this.#secondFrom
    if (elapsed >= SECOND_MS) {
      this.#lastSecond = elapsed >= 2 * SECOND_MS ? 0 : this.#thisSecond
      this.#thisSecond = 0
      this.#secondFrom = elapsed >= 2 * SECOND_MS ? now : this.#secondFrom + SECOND_MS
    }
    this.#thisSecond++
  }

  /** Messages within the last second: this second's, and the part of the last one still inside it. */
  #rate(now: number): number {
    const into = Math.min(1, (now - this.#secondFrom) / SECOND_MS)
    return this.#thisSecond + this.#lastSecond * (1 - into)
  }

  #endTurn(): void {
    this.#scheduled = false
    const left = this.#pacing.turnMs - (this.#host.now() - this.#turnFrom)
    if (left > 0) {
      this.#host.block(left)
      this.#blockedMs += left
      this.#blocks++
    }
    this.#turnFrom = this.#host.now()
  }
}
