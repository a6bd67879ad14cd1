import type { Dataset } from '@fedtune/model'
import {
  CHALLENGE_WAIT_MS,
  type ClientToServerEvents,
  connectRefusal,
  type Finished,
  formatWait,
  type HelloOutcome,
  helloHandshake,
  NO_CHALLENGE_NOTICE,
  naclCrypto,
  packedParser,
  parseFinished,
  parseRefused,
  parseRoundResult,
  parseUpdateAck,
  type RoundResult,
  refusalOutcome,
  retryDelayMs,
  type ServerToClientEvents,
  type SpentRound,
  type TaskInfo,
} from '@fedtune/protocol'
import { io, type Socket } from 'socket.io-client'
import type { Identity } from './identity.ts'
import { volunteerAdvice } from './join-address.ts'
import type { FromWorker, ToWorker } from './worker-messages.ts'

export type SessionEvents = {
  readonly joined: (task: TaskInfo) => void
  readonly worker: (message: FromWorker) => void
  readonly result: (result: RoundResult) => void
  readonly finished: (finished: Finished) => void
  /** A connection problem the session recovers from on its own (socket.io reconnects). */
  readonly notice: (line: string) => void
  /** Refused for now (a full task, a limit, …): the session tries again in `afterMs`. */
  readonly waiting: (line: string, afterMs: number) => void
  /** The end of this volunteer's part: refused, or the worker failed. */
  readonly failed: (error: Error) => void
  /**
   * The end of this volunteer's part because round `round` would take it past the task's privacy
   * budget (`reason` has the figures): the session has left the run.
   */
  readonly budgetSpent: (round: number, reason: string) => void
}

export type SessionOptions = {
  readonly task: TaskInfo
  readonly identity: Identity
  readonly train: Dataset
  readonly val: Dataset
  readonly agent: string
  /** The task named by the page's address (`auth.task`); undefined for the coordinator's only one. */
  readonly taskName: string | undefined
  /** The invite link's enrolment code, said on every hello until the first join. */
  readonly invite: string | undefined
  /** Under the task's privacy, the rounds this browser released before (its ledger); [] without. */
  readonly spent: readonly SpentRound[]
  /**
   * Keeps a round the worker is about to release (its privacy ledger, in IndexedDB); resolves once
   * kept. The masked input goes out only then; a rejection sends nothing and ends the session.
   */
  readonly keep: (spent: SpentRound) => Promise<void>
  readonly on: SessionEvents
}

/**
 * The volunteer's connection to the coordinator: says hello as a browser participant under its
 * identity key, relays each round and secure-aggregation message to the training worker and the
 * worker's answers back, and reports round results. After a reconnect it says hello again and the
 * coordinator resends the round it still owes. `stop()` ends it at once: to the round, a dropout.
 */
export class VolunteerSession {
  readonly #opts: SessionOptions
  readonly #socket: Socket<ServerToClientEvents, ClientToServerEvents>
  readonly #worker: Worker
  #stopped = false
  #challengeTimer: ReturnType<typeof setTimeout> | undefined
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  /** Refusals worth retrying since the last join: the backoff's exponent. */
  #retries = 0
  #invite: string | undefined

  constructor(opts: SessionOptions) {
    this.#opts = opts
    this.#invite = opts.invite
    const { on } = opts
    this.#worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' })
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => this.#fromWorker(event.data)
    this.#worker.onerror = (event) => this.#fail(new Error(`the training worker failed: ${event.message}`))
    this.#toWorker({
      type: 'init',
      task: opts.task,
      identitySeed: opts.identity.seed,
      train: opts.train,
      val: opts.val,
      spent: opts.spent,
    })
    this.#socket = io(location.origin, {
      transports: ['websocket'],
      parser: packedParser,
      reconnectionDelayMax: 5000,
      ...(opts.taskName === undefined ? {} : { auth: { task: opts.taskName } }),
    })
    // After every (re)connect the coordinator sends a fresh challenge; the hello signs it.
    this.#socket.on('challenge', (raw) => {
      clearTimeout(this.#challengeTimer)
      this.#hello(raw)
    })
    this.#socket.on('connect', () => {
      this.#challengeTimer = setTimeout(() => on.notice(NO_CHALLENGE_NOTICE), CHALLENGE_WAIT_MS)
    })
    this.#socket.on('disconnect', (reason) => {
      // The coordinator counts this volunteer out of a round in flight and never resends it.
      this.#toWorker({ type: 'end-round', round: null })
      // Our own disconnect before a retry: `waiting` has said when the next connection comes.
      if (!this.#stopped && reason !== 'io client disconnect')
        on.notice(`disconnected (${reason}); reconnecting…`)
    })
    this.#socket.on('connect_error', (error) => {
      let refusal: ReturnType<typeof connectRefusal>
      try {
        refusal = connectRefusal(error)
      } catch (malformed) {
        on.notice(`a malformed refusal came with the connection error: ${(malformed as Error).message}`)
      }
      if (refusal)
        return this.#outcome(refusalOutcome(refusal.code, refusal.reason, { retries: this.#retries }))
      if (this.#socket.active) return on.notice(`cannot reach the coordinator (${error.message}); retrying…`)
      const afterMs = retryDelayMs(this.#retries)
      this.#retry(
        `the coordinator refused the connection (${error.message}); trying again in ${formatWait(afterMs)}`,
        afterMs,
      )
    })
    // A limit broken, or an operator's revocation, just before the coordinator closes the connection.
    this.#socket.on('refused', (raw) => {
      try {
        const refused = parseRefused(raw)
        this.#outcome(refusalOutcome(refused.code, refused.reason, { retries: this.#retries }))
      } catch (error) {
        on.notice(`ignored a malformed "refused" message: ${(error as Error).message}`)
      }
    })
    this.#socket.on('round', (raw) => this.#toWorker({ type: 'round', raw }))
    this.#socket.on('secagg', (raw) => this.#toWorker({ type: 'secagg', raw }))
    this.#socket.on('round-result', (raw) => {
      try {
        const result = parseRoundResult(raw)
        this.#toWorker({ type: 'end-round', round: result.round })
        on.result(result)
      } catch (error) {
        on.notice(`ignored a malformed round result: ${(error as Error).message}`)
      }
    })
    this.#socket.on('finished', (raw) => {
      try {
        on.finished(parseFinished(raw))
      } catch (error) {
        on.notice(`ignored a malformed "finished" message: ${(error as Error).message}`)
      }
      this.stop()
    })
  }

  /** Leaves at once: the socket closes (the coordinator sees a dropout) and the worker is killed. */
  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    clearTimeout(this.#challengeTimer)
    clearTimeout(this.#retryTimer)
    this.#socket.disconnect()
    this.#worker.terminate()
  }

  #hello(challenge: unknown): void {
    const { identity, agent } = this.#opts
    helloHandshake(
      challenge,
      {
        crypto: naclCrypto,
        identitySeed: identity.seed,
        participant: identity.name,
        kind: 'browser',
        agent,
        // A volunteer never sends its update in the clear.
        allowPlaintext: false,
        // The task the page showed when the volunteer opted in.
        joined: this.#opts.task,
        invite: this.#invite,
        retries: this.#retries,
      },
      (hello, waitMs, answer) => this.#socket.timeout(waitMs).emit('hello', hello, answer),
      (outcome) => this.#outcome(outcome),
    )
  }

  #outcome(outcome: HelloOutcome): void {
    const { on } = this.#opts
    if (this.#stopped) return
    if (outcome.type === 'unanswered') on.notice(outcome.message)
    else if (outcome.type === 'retry') this.#retry(outcome.message, outcome.afterMs)
    else if (outcome.type === 'stopped')
      this.#fail(
        new Error(
          outcome.why === 'refused'
            ? `${outcome.message}. ${volunteerAdvice(outcome.code)}`
            : outcome.message,
        ),
      )
    else {
      this.#retries = 0
      this.#invite = undefined
      on.joined(outcome.task)
    }
  }

  /** Refused for now: this connection ends, and a new one says hello again after `afterMs`. */
  #retry(message: string, afterMs: number): void {
    this.#retries += 1
    this.#opts.on.waiting(message, afterMs)
    clearTimeout(this.#retryTimer)
    this.#socket.disconnect()
    this.#retryTimer = setTimeout(() => {
      if (!this.#stopped) this.#socket.connect()
    }, afterMs)
  }

  #fromWorker(message: FromWorker): void {
    if (this.#stopped) return
    if (message.type === 'emit-secagg')
      this.#socket.timeout(60_000).emit('secagg', message.message, (err, raw) => {
        if (err)
          return this.#opts.on.notice(
            `round ${message.round}: a message was not acknowledged (${err.message})`,
          )
        try {
          const ack = parseUpdateAck(raw)
          if (!ack.ok)
            this.#opts.on.notice(`round ${message.round}: the coordinator refused a message: ${ack.reason}`)
        } catch (error) {
          this.#opts.on.notice(
            `round ${message.round}: malformed acknowledgement (${(error as Error).message})`,
          )
        }
      })
    if (message.type === 'error') this.#fail(new Error(message.message))
    else if (message.type === 'notice') this.#opts.on.notice(message.message)
    else if (message.type === 'spend') this.#keep(message.spent)
    else if (message.type === 'budget-spent') {
      // Leaves the run: the coordinator counts this browser out like any volunteer that goes.
      this.stop()
      this.#opts.on.budgetSpent(message.round, message.reason)
    } else this.#opts.on.worker(message)
  }

  /** The page keeps the round, then tells the worker, which only then sends its masked input. */
  #keep(spent: SpentRound): void {
    this.#opts.keep(spent).then(
      () => this.#toWorker({ type: 'kept', round: spent.round, error: null }),
      (error: Error) => this.#toWorker({ type: 'kept', round: spent.round, error: error.message }),
    )
  }

  #toWorker(message: ToWorker): void {
    if (!this.#stopped) this.#worker.postMessage(message)
  }

  #fail(error: Error): void {
    if (this.#stopped) return
    this.stop()
    this.#opts.on.failed(error)
  }
}
