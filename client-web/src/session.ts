import type { Dataset } from '@fedtune/model'
import {
  CHALLENGE_WAIT_MS,
  type ClientToServerEvents,
  type Finished,
  helloHandshake,
  NO_CHALLENGE_NOTICE,
  naclCrypto,
  packedParser,
  parseFinished,
  parseRoundResult,
  parseUpdateAck,
  type RoundResult,
  type ServerToClientEvents,
  type TaskInfo,
} from '@fedtune/protocol'
import { io, type Socket } from 'socket.io-client'
import type { Identity } from './identity.ts'
import type { FromWorker, ToWorker } from './worker-messages.ts'

export type SessionEvents = {
  readonly joined: (task: TaskInfo) => void
  readonly worker: (message: FromWorker) => void
  readonly result: (result: RoundResult) => void
  readonly finished: (finished: Finished) => void
  /** A connection problem the session recovers from on its own (socket.io reconnects). */
  readonly notice: (line: string) => void
  /** The end of this volunteer's part: refused, or the worker failed. */
  readonly failed: (error: Error) => void
}

export type SessionOptions = {
  readonly task: TaskInfo
  readonly identity: Identity
  readonly train: Dataset
  readonly val: Dataset
  readonly agent: string
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

  constructor(opts: SessionOptions) {
    this.#opts = opts
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
    })
    this.#socket = io(location.origin, {
      transports: ['websocket'],
      parser: packedParser,
      reconnectionDelayMax: 5000,
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
      if (!this.#stopped) on.notice(`disconnected (${reason}); reconnecting…`)
    })
    this.#socket.on('connect_error', (error) =>
      on.notice(`cannot reach the coordinator (${error.message}); retrying…`),
    )
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
    this.#socket.disconnect()
    this.#worker.terminate()
  }

  #hello(challenge: unknown): void {
    const { identity, agent, on } = this.#opts
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
      },
      (hello, waitMs, answer) => this.#socket.timeout(waitMs).emit('hello', hello, answer),
      (outcome) => {
        if (this.#stopped) return
        if (outcome.type === 'unanswered') on.notice(outcome.message)
        else if (outcome.type === 'stopped') this.#fail(new Error(outcome.message))
        else on.joined(outcome.task)
      },
    )
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
    else this.#opts.on.worker(message)
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
