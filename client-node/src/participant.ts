import { hostname } from 'node:os'
import { progressBar } from '@fedtune/model/node'
import {
  type ClientToServerEvents,
  encodeWeights,
  type Finished,
  type Hello,
  PROTOCOL_VERSION,
  parseFinished,
  parseHelloAck,
  parseRoundResult,
  parseRoundStart,
  parseUpdateAck,
  type ServerToClientEvents,
  type TaskInfo,
  type WireUpdate,
} from '@fedtune/protocol'
import { io, type Socket } from 'socket.io-client'
import { type LocalResult, localRound } from './local-round.ts'
import { type PreparedData, prepare } from './prepare.ts'

export type ParticipantOptions = {
  readonly coordinatorUrl: string
  readonly dataDir: string
  readonly cacheDir: string
  readonly name: string
  readonly valFraction: number
  readonly agent: string
  readonly print: (line: string) => void
  /** Where progress bars go; undefined for none. */
  readonly progress: NodeJS.WriteStream | undefined
}

export class ParticipantError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ParticipantError'
  }
}

export function defaultName(): string {
  return `hospital-${hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 40)}`
}

/**
 * A hospital's connection to the coordinator, for one task. socket.io reconnects on its own; after
 * every (re)connect the participant says hello again under the same name and the coordinator resends
 * a round it still owes. An update already computed for a round is resent, never retrained.
 */
export class Participant {
  readonly done: Promise<Finished>
  #opts: ParticipantOptions
  #socket: Socket<ServerToClientEvents, ClientToServerEvents>
  #task: TaskInfo | undefined
  #data: Promise<PreparedData> | undefined
  #joined = false
  #training = new Set<number>()
  #results = new Map<number, LocalResult>()
  #resolve!: (f: Finished) => void
  #reject!: (e: Error) => void

  constructor(opts: ParticipantOptions) {
    this.#opts = opts
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.#socket = io(opts.coordinatorUrl, {
      transports: ['websocket'],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    })
    this.#socket.on('connect', () => this.#hello())
    this.#socket.on('disconnect', (reason) => {
      this.#joined = false
      if (reason !== 'io client disconnect') opts.print(`disconnected (${reason}); reconnecting…`)
    })
    this.#socket.on('connect_error', (error) =>
      opts.print(`cannot reach ${opts.coordinatorUrl} (${error.message}); retrying…`),
    )
    this.#socket.on('round', (raw) => this.#onRound(raw))
    this.#socket.on('round-result', (raw) => {
      try {
        const r = parseRoundResult(raw)
        const global =
          r.accuracy === null ? '' : `: global ACC ${r.accuracy.toFixed(3)} AUC ${r.auc?.toFixed(3) ?? '-'}`
        opts.print(`round ${r.round} ${r.status}${r.reason ? ` (${r.reason})` : ''}${global}`)
      } catch (error) {
        opts.print(`warning: ignored a malformed round result: ${(error as Error).message}`)
      }
    })
    this.#socket.on('finished', (raw) => {
      try {
        this.#finish(parseFinished(raw))
      } catch (error) {
        this.#fail(new ParticipantError(`malformed "finished" message: ${(error as Error).message}`))
      }
    })
  }

  close(): void {
    this.#socket.disconnect()
  }

  #hello(): void {
    const hello: Hello = {
      protocol: PROTOCOL_VERSION,
      participant: this.#opts.name,
      kind: 'hospital',
      agent: this.#opts.agent,
    }
    this.#socket.timeout(30_000).emit('hello', hello, (err, raw) => {
      if (err)
        return this.#opts.print('the coordinator did not answer hello in 30 s; will retry on reconnect')
      let ack: ReturnType<typeof parseHelloAck>
      try {
        ack = parseHelloAck(raw)
      } catch (error) {
        return this.#fail(
          new ParticipantError(`the coordinator answered hello with ${(error as Error).message}`),
        )
      }
      if (!ack.ok)
        return this.#fail(
          new ParticipantError(`the coordinator refused to let us join: ${ack.reason} (${ack.code})`),
        )
      if (this.#task && this.#task.backbone.digest !== ack.task.backbone.digest)
        return this.#fail(
          new ParticipantError('the coordinator changed its task while we were away; restart the client'),
        )
      this.#task ??= ack.task
      this.#joined = true
      this.#opts.print(
        `joined task "${ack.task.name}" as ${this.#opts.name}: ${ack.task.rounds} rounds, head of ${ack.task.paramCount} parameters`,
      )
      this.#data ??= prepare(ack.task, { ...this.#opts, seed: 0 })
      this.#data.catch((error: Error) => this.#fail(error))
    })
  }

  async #onRound(raw: unknown): Promise<void> {
    const task = this.#task
    if (!task || !this.#data) return this.#opts.print('warning: a round arrived before the task; ignored')
    let round: ReturnType<typeof parseRoundStart>
    try {
      round = parseRoundStart(raw, task.paramCount, task.head.labels.length)
    } catch (error) {
      return this.#opts.print(`warning: ignored a malformed round: ${(error as Error).message}`)
    }
    const ready = this.#results.get(round.round)
    if (ready) return this.#send(round.round, ready)
    if (this.#training.has(round.round)) return
    this.#training.add(round.round)
    try {
      const data = await this.#data
      const bar =
        this.#opts.progress &&
        progressBar(`round ${round.round} training`, round.training.epochs, this.#opts.progress)
      const result = localRound(task.head, task.backbone.embeddingDim, data, round, (p) =>
        p.batch === p.batches ? bar?.tick(1, `loss ${p.loss.toFixed(4)}`) : undefined,
      )
      bar?.done()
      this.#results.set(round.round, result)
      const m = result.metrics
      this.#opts.print(
        `round ${round.round}: trained on ${result.examples} examples, loss ${m.trainLoss.toFixed(4)}, local val ACC ${m.valAccuracy?.toFixed(3) ?? '-'} AUC ${m.valAuc?.toFixed(3) ?? '-'}`,
      )
      this.#send(round.round, result)
    } catch (error) {
      this.#fail(error as Error)
    } finally {
      this.#training.delete(round.round)
    }
  }

  #send(round: number, result: LocalResult): void {
    if (!this.#joined) return // the coordinator resends the round after our next hello
    const update: WireUpdate = {
      round,
      delta: encodeWeights(result.delta),
      examples: result.examples,
      labelCounts: result.labelCounts,
      metrics: result.metrics,
    }
    this.#socket.timeout(60_000).emit('update', update, (err, raw) => {
      if (err) return this.#opts.print(`round ${round}: our update was not acknowledged (${err.message})`)
      try {
        const ack = parseUpdateAck(raw)
        if (!ack.ok)
          this.#opts.print(`round ${round}: the coordinator refused our update: ${ack.reason} (${ack.code})`)
      } catch (error) {
        this.#opts.print(`round ${round}: malformed acknowledgement: ${(error as Error).message}`)
      }
    })
  }

  #finish(finished: Finished): void {
    this.#socket.disconnect()
    this.#resolve(finished)
  }

  #fail(error: Error): void {
    this.#socket.disconnect()
    this.#reject(error)
  }
}
