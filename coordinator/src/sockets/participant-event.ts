import type { ParticipantKind } from '@fedtune/protocol'

/** Bytes a connection has carried so far, as its TCP socket counts them (frames, headers and all). */
export type Traffic = { readonly in: number; readonly out: number }

/**
 * What the socket shell tells the operators' console about a participant's connection: it joined a
 * task (its agent escaped), a message of its was handled, it left. Never what the message carried.
 */
export type ParticipantEvent =
  | {
      readonly type: 'joined'
      readonly task: string
      readonly participant: string
      readonly kind: ParticipantKind
      readonly agent: string
      /** Its connection's bytes so far, read when called. */
      readonly traffic: () => Traffic
    }
  | { readonly type: 'message'; readonly task: string; readonly participant: string }
  | { readonly type: 'left'; readonly task: string; readonly participant: string; readonly traffic: Traffic }
