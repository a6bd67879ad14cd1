import type { Stage } from '@fedtune/protocol'
import type { RoundRecord } from './round-record.ts'

/**
 * One secure-aggregation stage of a round as the coordinator lived it, in the round's clock (ms):
 * when it opened, when its last accepted message came in, when it closed, and when the next
 * stage's messages had all been handed to the sockets.
 */
export type StageTiming = {
  readonly round: number
  readonly stage: Stage
  /** How many of the round's `of` participants answered the stage. */
  readonly heard: number
  readonly of: number
  /** Who the stage did not hear from, by name, sorted: dropouts (or silent) at this stage. */
  readonly missing: readonly string[]
  /** The round's start for advertise; otherwise the previous stage's `relayedAt`. */
  readonly openedAt: number
  /** null when no message was accepted. */
  readonly lastMessageAt: number | null
  readonly closedAt: number
  /** For unmask: when the sum was unmasked, or found impossible; the round result follows. */
  readonly relayedAt: number
}

/**
 * Watches a run's rounds without changing them: for bench:load (the coordinator's own cost per
 * round and per stage) and operators' metrics. Each hook runs synchronously, in order: a round
 * starts, its stages relay, it ends once its result has gone to every participant.
 */
export type RoundObserver = {
  readonly roundStarted?: (round: number, participants: number) => void
  readonly stageRelayed?: (timing: StageTiming) => void
  readonly roundEnded?: (record: RoundRecord) => void
}

/** One observer calling each of `observers` in turn (absent ones skipped); a hook that throws stops the rest, as one would. */
export function allObservers(observers: readonly (RoundObserver | undefined)[]): RoundObserver {
  const present = observers.filter((o): o is RoundObserver => o !== undefined)
  return {
    roundStarted: (round, participants) => {
      for (const o of present) o.roundStarted?.(round, participants)
    },
    stageRelayed: (timing) => {
      for (const o of present) o.stageRelayed?.(timing)
    },
    roundEnded: (record) => {
      for (const o of present) o.roundEnded?.(record)
    },
  }
}

/**
 * `observer` hearing of each event once the sockets have what came before it. The socket shell
 * sends through its turn queue (sockets/turn-queue.ts), a slice a turn: a stage's relay is out,
 * and a round's result has gone to everyone, when the queue reaches what was handed in after them.
 * So the hooks are handed in too, in order, and a stage's `relayedAt` is when its hook runs. Except
 * unmask's: it relays nothing (its time is when the sum was unmasked), so it is told at once, before
 * the result is worked out and sent.
 */
export function afterQueuedSends(
  observer: RoundObserver,
  queue: (fn: () => void) => void,
  now: () => number,
): RoundObserver {
  return {
    roundStarted: (round, participants) => queue(() => observer.roundStarted?.(round, participants)),
    stageRelayed: (timing) =>
      timing.stage === 'unmask'
        ? observer.stageRelayed?.(timing)
        : queue(() => observer.stageRelayed?.({ ...timing, relayedAt: now() })),
    roundEnded: (record) => queue(() => observer.roundEnded?.(record)),
  }
}
