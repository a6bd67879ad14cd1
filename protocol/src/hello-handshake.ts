import { signHello } from './hello-proof.ts'
import { sameViews } from './image-views.ts'
import { refusalIsFinal, retryDelayMs } from './join-retry.ts'
import {
  type Hello,
  type ParticipantKind,
  PROTOCOL_VERSION,
  parseChallenge,
  parseHelloAck,
  type ReceivedRefusalCode,
  type TaskInfo,
} from './messages.ts'
import type { PrivacySettings } from './privacy/privacy-settings.ts'
import type { SecaggCrypto } from './secagg/crypto.ts'

/**
 * The participant's side of hello, once for the hospital client, the browser page and the tests:
 * sign the connection's challenge, send the hello, read the ack and decide whether to take part.
 * The caller owns the socket; `send` is its emit with an acknowledgement. Run it on every
 * `challenge`: after each (re)connect the coordinator opens with a fresh one.
 */

/** How long a participant waits for the coordinator's answer to its hello. */
export const HELLO_ACK_WAIT_MS = 30_000

export type HelloIdentity = {
  readonly crypto: SecaggCrypto
  /** The 32-byte seed of the participant's Ed25519 identity. */
  readonly identitySeed: Uint8Array
  readonly participant: string
  readonly kind: ParticipantKind
  readonly agent: string
  /** The protocol version said; `PROTOCOL_VERSION` unless a test says another. */
  readonly protocol?: string
  /** An enrolment code, said until the participant has joined once (then the caller drops it). */
  readonly invite?: string | undefined
}

export type HelloOptions = HelloIdentity & {
  /**
   * Take part in a plaintext-debug task, whose coordinator would see each update in the clear. Only
   * a hospital debugging with data that is not private sets it; a browser volunteer never does.
   */
  readonly allowPlaintext: boolean
  /** The task this participant joined on an earlier connection (or was shown), if any: it must not change. */
  readonly joined: TaskInfo | undefined
  /** Refusals worth retrying since the last join (0 after one): the next wait doubles with each. */
  readonly retries?: number
  /** The backoff's jitter, a number in [0, 1); `Math.random` unless a test says otherwise. */
  readonly random?: () => number
}

/** Why a participant stops: a malformed challenge or ack, a refusal, another task, or a plaintext task. */
export type HelloStop = 'malformed' | 'refused' | 'task-changed' | 'plaintext'

export type HelloOutcome =
  | { readonly type: 'joined'; readonly task: TaskInfo }
  /** No answer in time: this connection is likely gone, and the next one says hello again. */
  | { readonly type: 'unanswered'; readonly message: string }
  /**
   * Refused for now (waiting for approval, a full task, a limit, …): say hello again on a new
   * connection after `afterMs`, and count the retry (`HelloOptions.retries`).
   */
  | {
      readonly type: 'retry'
      readonly code: ReceivedRefusalCode
      readonly message: string
      readonly afterMs: number
    }
  /** The end of this participant's part in the task; `code` is the coordinator's for a refusal. */
  | {
      readonly type: 'stopped'
      readonly why: HelloStop
      readonly message: string
      readonly code?: ReceivedRefusalCode
    }

/** The hello for the connection whose challenge is `challenge` (as received); throws ProtocolError on a malformed one. */
export function helloFor(challenge: unknown, identity: HelloIdentity): Hello {
  return signHello(identity.crypto, identity.identitySeed, parseChallenge(challenge), {
    protocol: identity.protocol ?? PROTOCOL_VERSION,
    participant: identity.participant,
    kind: identity.kind,
    agent: identity.agent,
    ...(identity.invite === undefined ? {} : { invite: identity.invite }),
  })
}

/** How the caller sends a hello: emits it and calls `answer` with the ack as received, or with an error when none came within `waitMs`. */
export type HelloSend = (
  hello: Hello,
  waitMs: number,
  answer: (error: Error | null, ack: unknown) => void,
) => void

/**
 * One connection's hello; `outcome` gets the decision. It is called synchronously from `answer`, not
 * from a promise: the coordinator sends the first round right behind the ack, often in the same
 * socket read, and a participant must have joined before that round's handler runs.
 */
export function helloHandshake(
  challenge: unknown,
  opts: HelloOptions,
  send: HelloSend,
  outcome: (outcome: HelloOutcome) => void,
): void {
  let hello: Hello
  try {
    hello = helloFor(challenge, opts)
  } catch (error) {
    outcome(
      stopped('malformed', `the coordinator opened with a malformed challenge: ${(error as Error).message}`),
    )
    return
  }
  send(hello, HELLO_ACK_WAIT_MS, (error, ack) =>
    outcome(
      error
        ? {
            type: 'unanswered',
            message: `the coordinator did not answer hello within ${HELLO_ACK_WAIT_MS / 1000} s (${error.message}); will retry on reconnect`,
          }
        : joinDecision(ack, opts),
    ),
  )
}

/** Whether to take part, from the coordinator's answer to hello (as received). */
export function joinDecision(raw: unknown, opts: HelloOptions): HelloOutcome {
  let ack: ReturnType<typeof parseHelloAck>
  try {
    ack = parseHelloAck(raw)
  } catch (error) {
    return stopped('malformed', `the coordinator answered hello with ${(error as Error).message}`)
  }
  if (!ack.ok) return refusalOutcome(ack.code, ack.reason, opts)
  const { task } = ack
  const before = opts.joined
  if (before && (before.taskId !== task.taskId || before.backbone.digest !== task.backbone.digest))
    return stopped(
      'task-changed',
      `the coordinator changed its task while we were away (from "${before.taskId}" to "${task.taskId}", backbone ${before.backbone.digest.slice(0, 12)}… to ${task.backbone.digest.slice(0, 12)}…); start again to join the new one`,
    )
  // the participant's embeddings were centred on the centre it joined with: another would need them again
  if (before && !sameCentre(before.inputCentre, task.inputCentre))
    return stopped(
      'task-changed',
      `the coordinator changed its task's input centre while we were away (a new run of "${task.taskId}"); start again to join it`,
    )
  // its embeddings are the mean over the views it joined with: others would need every image embedded again
  if (before && !sameViews(before.backbone.views, task.backbone.views))
    return stopped(
      'task-changed',
      `the coordinator changed its task's image views while we were away (from ${before.backbone.views.join(', ')} to ${task.backbone.views.join(', ')}: a new run of "${task.taskId}"); start again to join it`,
    )
  // its budget was opened, and its noise is drawn, for the privacy it joined with (a participant keeps
  // its first task's settings): another ε, δ, C, z or unit is another run's promise
  if (before && privacyText(before.privacy) !== privacyText(task.privacy))
    return stopped(
      'task-changed',
      `the coordinator changed its task's privacy while we were away (from ${privacyText(before.privacy)} to ${privacyText(task.privacy)}: a new run of "${task.taskId}"); start again to join it under the new terms`,
    )
  if (task.aggregation !== 'secure' && !opts.allowPlaintext)
    return stopped(
      'plaintext',
      `the coordinator asks for plaintext updates (aggregation "${task.aggregation}"): it would see this ${opts.kind === 'hospital' ? 'hospital' : 'volunteer'}'s update in the clear. Refusing`,
    )
  return { type: 'joined', task }
}

/**
 * What a refusal means for the participant, from a hello's ack or a `refused` event: the end for a
 * final code (`refusalIsFinal`), else a retry after the backoff's next wait.
 */
export function refusalOutcome(
  code: ReceivedRefusalCode,
  reason: string,
  opts: Pick<HelloOptions, 'retries' | 'random'>,
): HelloOutcome {
  if (refusalIsFinal(code))
    return {
      type: 'stopped',
      why: 'refused',
      code,
      message: `the coordinator refused to let us join: ${reason} (${code})`,
    }
  const afterMs = retryDelayMs(opts.retries ?? 0, opts.random)
  return {
    type: 'retry',
    code,
    afterMs,
    message: `the coordinator did not let us join yet: ${reason} (${code}); trying again in ${formatWait(afterMs)}`,
  }
}

/** "800 ms", "2 s", "1 min 5 s": a wait as a person reads it. */
export function formatWait(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = Math.round(ms / 1000)
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min${s % 60 === 0 ? '' : ` ${s % 60} s`}`
}

function stopped(why: HelloStop, message: string): HelloOutcome {
  return { type: 'stopped', why, message }
}

/** A task's privacy, every setting a participant enforces, as one line (numbers in full, so equal text is equal settings). */
function privacyText(p: PrivacySettings | null): string {
  if (p === null) return 'no differential privacy'
  const common = `${p.unit}-level ε ${p.epsilon}, δ ${p.delta}, C ${p.clipNorm}, z ${p.noiseMultiplier}, ${p.rounds} rounds`
  return p.unit === 'example'
    ? `${common}, q ${p.samplingRate}, ${p.stepsPerRound} steps a round`
    : `${common}, noise for ${p.minParticipants} participants`
}

function sameCentre(a: readonly number[] | null, b: readonly number[] | null): boolean {
  if (a === null || b === null) return a === b
  return a.length === b.length && a.every((v, i) => v === b[i])
}
