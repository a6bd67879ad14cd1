import type { RoundStart, TaskInfo } from './messages.ts'
import type { SecaggCrypto } from './secagg/crypto.ts'
import type { FixedPoint } from './secagg/fixed-point.ts'
import type { RoundLabel } from './secagg/masking.ts'
import { parseRelayStage, type RelayStage } from './secagg/messages.ts'
import { SecaggParticipant } from './secagg/participant.ts'
import { secureRoundContext } from './secure-round-setup.ts'

/**
 * The participant's side of secure rounds over a connection, once for the hospital client, the
 * browser's training worker and the tests: it advertises when a round starts, reads which stage
 * each relayed message is for (`parseRelayStage`), hands it to that stage of the round's
 * `SecaggParticipant`, and sends the answer through `emit`. The masked input waits for the local
 * training; the key exchange overlaps it. A relay that fails its checks ends this participant's
 * part in the round: it falls silent, which the coordinator handles as a dropout. The caller owns
 * the socket (or, in the browser, the page that relays it) and the training.
 */

/** What this participant sends in a secure round: each stage's answer, or a stage's complaint instead. */
export type SecaggAnswer =
  | ReturnType<SecaggParticipant['advertise']>
  | Awaited<ReturnType<SecaggParticipant['shareKeys']>>
  | Awaited<ReturnType<SecaggParticipant['maskedInput']>>
  | Awaited<ReturnType<SecaggParticipant['unmask']>>

export type SecureRoundReport =
  /** This participant's answer for `stage` went out through `emit`. */
  | { readonly type: 'answered'; readonly round: number; readonly stage: SecaggAnswer['stage'] }
  /** It cannot take part in the round at all: its setup does not fit the task or is unsafe. */
  | { readonly type: 'declined'; readonly round: number; readonly message: string }
  /** A relayed message (for `stage`, when that much parsed) failed its checks: silent for the rest of the round. */
  | {
      readonly type: 'refused'
      readonly round: number
      readonly stage: RelayStage | null
      readonly message: string
    }
  /** A stage answered with a signed complaint about the relay, which went out; silent for the rest of the round. */
  | { readonly type: 'complained'; readonly round: number; readonly stage: RelayStage | null }
  /** Worth a line, changes nothing: a round left unfinished for the next, a relay with no round open. */
  | { readonly type: 'notice'; readonly message: string }

export type SecureRoundDriverOptions = {
  readonly crypto: SecaggCrypto
  /** The 32-byte seed of the participant's Ed25519 identity. */
  readonly identitySeed: Uint8Array
  /** Sends one of this participant's messages of round `round` (a `secagg` event). */
  readonly emit: (round: number, message: SecaggAnswer) => void
  readonly report: (report: SecureRoundReport) => void
}

/**
 * The vector a participant masks: its local training result, encoded with
 * `encodeSecureContribution(…, fixedPoint)`. Called once, when the masked input is due.
 */
export type MaskedInputSource = (fixedPoint: FixedPoint) => Promise<Uint32Array>

type OpenRound = {
  readonly label: RoundLabel
  readonly party: SecaggParticipant
  readonly fixedPoint: FixedPoint
  readonly input: MaskedInputSource
  /** Set when the round is over for this participant; what fails after that is no refusal. */
  ended: boolean
}

/**
 * One participant's secure rounds, at most one open at a time. A class for the round's secrets,
 * which live in its `SecaggParticipant` until the round ends and are zeroed then.
 */
export class SecureRoundDriver {
  readonly #opts: SecureRoundDriverOptions
  #open: OpenRound | undefined

  constructor(opts: SecureRoundDriverOptions) {
    this.#opts = opts
  }

  /**
   * A secure round starts (`round`, parsed, of the joined `task`): checks its setup against the task
   * and advertises at once. Returns whether this participant takes part; when it does, training
   * may start, and `input` is called when the masked input is due. An earlier round still open ends.
   */
  start(task: TaskInfo, round: RoundStart, input: MaskedInputSource): boolean {
    const previous = this.#open
    if (previous !== undefined && previous.party.stage !== 'done')
      this.#opts.report({
        type: 'notice',
        message: `round ${previous.label.round}: left unfinished for round ${round.round}`,
      })
    if (previous !== undefined) end(previous)
    this.#open = undefined
    let open: OpenRound
    try {
      const party = new SecaggParticipant({
        crypto: this.#opts.crypto,
        identitySeed: this.#opts.identitySeed,
        // Refuses a round without a secure setup: nothing is ever sent in the clear from here.
        context: secureRoundContext(task, round),
      })
      const fixedPoint = (round.secagg as NonNullable<RoundStart['secagg']>).fixedPoint
      open = { label: { taskId: task.taskId, round: round.round }, party, fixedPoint, input, ended: false }
    } catch (error) {
      this.#opts.report({ type: 'declined', round: round.round, message: (error as Error).message })
      return false
    }
    this.#open = open
    this.#send(open, open.party.advertise(), null)
    return true
  }

  /**
   * A message the coordinator relayed (as received): answered, or refused and the round left.
   * Resolves once that is done; the masked input first waits for `input`.
   */
  async relay(raw: unknown): Promise<void> {
    const open = this.#open
    if (open === undefined || open.ended)
      return this.#opts.report({
        type: 'notice',
        message: 'ignored a secagg message: no secure round is open',
      })
    let stage: RelayStage | null = null
    try {
      stage = parseRelayStage(raw, open.label)
      const answer = await answerOf(open, stage, raw)
      if (!open.ended) this.#send(open, answer, stage)
    } catch (error) {
      const ended = open.ended
      end(open)
      if (!ended)
        this.#opts.report({
          type: 'refused',
          round: open.label.round,
          stage,
          message: (error as Error).message,
        })
    }
  }

  /**
   * Round `round` (any open round, for null) is over for this participant: its result came, or the
   * connection dropped and the coordinator counts it out. Its secrets are zeroed now, not at
   * garbage collection; a masking in flight is discarded, not sent.
   */
  end(round: number | null): void {
    const open = this.#open
    if (open !== undefined && (round === null || round === open.label.round)) end(open)
  }

  #send(open: OpenRound, answer: SecaggAnswer, relayed: RelayStage | null): void {
    this.#opts.emit(open.label.round, answer)
    // A complaint (signed, about what was relayed) goes out like any answer, and ends the round here.
    if (isComplaint(answer)) {
      end(open)
      this.#opts.report({ type: 'complained', round: open.label.round, stage: relayed })
    } else this.#opts.report({ type: 'answered', round: open.label.round, stage: answer.stage })
  }
}

async function answerOf(open: OpenRound, stage: RelayStage, raw: unknown): Promise<SecaggAnswer> {
  switch (stage) {
    case 'advertise':
      return open.party.shareKeys(raw)
    case 'share-keys':
      return open.party.maskedInput(raw, await open.input(open.fixedPoint))
    case 'unmask':
      return open.party.unmask(raw)
  }
}

function end(open: OpenRound): void {
  open.ended = true
  open.party.abandon()
}

/** Typed loosely on purpose: a stage method may answer with a complaint, whatever its declared type. */
function isComplaint(message: { readonly stage: string }): boolean {
  return message.stage === 'complaint'
}
