import { createHash } from 'node:crypto'

/** Participant `index`'s name, and its identity key's seed: the participants sign with it, the coordinator enrols its public key. */
export const benchName = (index: number): string => `p${index}`
export const benchSeed = (name: string): Uint8Array =>
  new Uint8Array(createHash('sha256').update(`bench-load ${name}`).digest())

/** What bench/load.ts and its child processes tell each other over IPC. */

export type CoordinatorConfig = {
  /** Participants; with `idle`, how many will connect (no round ever starts). */
  readonly n: number
  readonly dropout: number
  readonly rounds: number
  readonly idle: boolean
  /** The coordinator's read pacing, in ms a turn (--read-pacing); its default when absent. */
  readonly readPacingMs?: number
}

export type StageReport = {
  readonly stage: string
  readonly heard: number
  readonly of: number
  /** The coordinator's CPU from the previous stage's relay (or the round's start) to this one's. */
  readonly cpuMs: number
  /** From the stage's last accepted message to its relay (unmask: to the unmasked sum). */
  readonly lastInToRelayMs: number | null
}

export type RoundReport = {
  readonly round: number
  readonly status: 'aggregated' | 'failed'
  readonly reason: string | null
  readonly survivors: number
  /** From the round's start to its result sent to every participant. */
  readonly wallMs: number
  /** The coordinator's CPU time over the round, user and kernel (process.cpuUsage). */
  readonly cpuMs: number
  /**
   * The kernel's part of it: mostly socket reads and writes. On loopback the kernel delivers each
   * write to the receiving participant's socket in the writer's time, so this also holds work a
   * real network would charge to the participants' machines.
   */
  readonly systemCpuMs: number
  readonly stages: readonly StageReport[]
  /** After the unmasked sum: decoding it, the server step, the round log, the results sent. */
  readonly resultCpuMs: number
  readonly rssMaxBytes: number
  readonly loopDelayP50Ms: number
  readonly loopDelayP99Ms: number
  readonly loopDelayMaxMs: number
}

export type CoordinatorReport =
  | {
      readonly type: 'listening'
      readonly url: string
      readonly rssBytes: number
      readonly heapUsedBytes: number
    }
  | { readonly type: 'round'; readonly round: RoundReport }
  | { readonly type: 'finished'; readonly reason: string }
  | {
      readonly type: 'memory'
      readonly rssBytes: number
      readonly heapUsedBytes: number
      readonly online: number
      readonly sockets: number
    }

export type ParticipantsConfig = {
  readonly url: string
  /** Names are `benchName(index)` for index in [from, from + count). */
  readonly from: number
  readonly count: number
  /** The share of participants that drop out of each round after sharing keys. */
  readonly dropout: number
  /** At most this many handshakes (connect → challenge → hello ack) in flight in this process. */
  readonly concurrency: number
}

export type ParticipantsReport =
  | { readonly type: 'ready'; readonly count: number; readonly ms: number }
  | { readonly type: 'problem'; readonly message: string }
  | { readonly type: 'stopped'; readonly refusals: number; readonly problems: number }
