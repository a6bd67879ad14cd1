import {
  correctsDropouts,
  PUBLIC_KEY_BYTES,
  SECRET_BYTES,
  SHARE_CIPHERTEXT_BYTES,
  SIGNATURE_BYTES,
  secureVectorLength,
  type TaskInfo,
} from '@fedtune/protocol'

/** One message this hospital sends each round: its name, size and what it holds. */
export type RoundMessageSize = {
  readonly message: string
  /** Payload bytes, before socket.io's framing (tens of bytes more per message). */
  readonly bytes: number
  /** Whether the size grows with the round's neighbourhood: then `bytes` is per neighbour. */
  readonly perNeighbour: boolean
  readonly holds: string
}

export type RoundSizes = {
  readonly aggregation: TaskInfo['aggregation']
  readonly messages: readonly RoundMessageSize[]
}

/**
 * What this hospital sends in each round of `task`, as sizes only, computed from the head's
 * parameter count and label count: `fedtune client --check` prints it before any data is sent.
 * Secure aggregation's messages follow Bonawitz et al. (CCS 2017), Fig. 4 (protocol/src/secagg).
 */
export function roundSizes(task: TaskInfo): RoundSizes {
  const classes = task.head.labels.length
  if (task.aggregation !== 'secure')
    return {
      aggregation: task.aggregation,
      messages: [
        {
          message: 'update',
          bytes: task.paramCount * 4,
          perNeighbour: false,
          holds: `the head's change as ${task.paramCount} float32 values, in the clear, with the example count, ${classes} per-class counts and local metrics`,
        },
      ],
    }
  const words = secureVectorLength(task.paramCount, classes, task.privacy !== null)
  return {
    aggregation: 'secure',
    messages: [
      {
        message: 'advertise',
        bytes: 2 * PUBLIC_KEY_BYTES + SIGNATURE_BYTES,
        perNeighbour: false,
        holds: "two fresh X25519 public keys, signed with this hospital's identity key",
      },
      {
        message: 'share-keys',
        bytes: SHARE_CIPHERTEXT_BYTES,
        perNeighbour: true,
        holds:
          'Shamir shares of its two round secrets, sealed to each neighbour (the coordinator cannot open them)',
      },
      {
        message: 'masked-input',
        bytes: words * 4,
        perNeighbour: false,
        holds:
          task.privacy === null
            ? `${task.paramCount} weighted update words, the example count, ${classes} per-class counts and 2 validation counts, masked: uniform noise to the coordinator until summed`
            : `${task.paramCount} update words ${task.privacy.unit === 'example' ? 'trained with DP-SGD' : 'with their share of the privacy noise'} and the word 1, no counts, masked: uniform noise to the coordinator until summed`,
      },
      {
        message: 'unmask',
        bytes: SECRET_BYTES,
        perNeighbour: true,
        holds:
          "one share per neighbour: of a survivor's self-mask or of a dropped neighbour's mask key, never both",
      },
      ...(correctsDropouts(words)
        ? [
            {
              message: 'unmask correction',
              bytes: words * 4,
              perNeighbour: false,
              holds:
                'only in a round where a neighbour dropped: the sum of the masks this hospital shared with the neighbours that dropped, which the coordinator could compute from their mask-key shares anyway; masks only, nothing of the update',
            },
          ]
        : []),
    ],
  }
}
