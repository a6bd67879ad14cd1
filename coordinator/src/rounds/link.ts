import type { Finished, RoundResult, SecureRoundSetup, TrainingSettings } from '@fedtune/protocol'

/**
 * A round's start as the federation hands it to links: one object for every participant the round
 * starts with (same tick, same deadline), so the shell can encode it once for all of them.
 */
export type OutgoingRound = {
  readonly round: number
  /** The global head, encoded (encodeWeights). */
  readonly weights: Uint8Array
  readonly training: TrainingSettings
  /** The label mix the head predicts with (its round's); null: plain softmax. */
  readonly predictionPrior: readonly number[] | null
  readonly deadlineMs: number
  readonly secagg: SecureRoundSetup | null
}

/** How the federation reaches one participant; the socket shell provides it. */
export type Link = {
  sendRound(start: OutgoingRound): void
  sendSecagg(message: unknown): void
  sendResult(result: RoundResult): void
  sendFinished(finished: Finished): void
  /** Ends this connection, saying why: a newer connection under the same name replaced it. */
  close(reason: string): void
}
