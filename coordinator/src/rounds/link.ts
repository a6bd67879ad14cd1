import type { Finished, RoundResult, SecureRoundSetup, TrainingSettings } from '@fedtune/protocol'

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
