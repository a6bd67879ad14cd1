import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  attachSockets,
  buildApp,
  type Clock,
  type Evaluate,
  FEDAVG,
  Federation,
  type FederationOptions,
  RoundLog,
  type RoundRecord,
} from '@fedtune/coordinator'
import {
  encodeSecureContribution,
  type FixedPoint,
  fixedPointFor,
  type HeadSpec,
  type HelloAck,
  paramCount,
  parseRoundStart,
  type ReceivedRefusalCode,
  roundContext,
  type SecaggCrypto,
  SecaggParticipant,
  type TaskInfo,
  type UpdateAck,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { FastifyInstance } from 'fastify'
import { io as connect, type Socket } from 'socket.io-client'
import { ONE_SGD_EPOCH } from '../coordinator/federation-fixture.ts'
import { challengeOf, sayHello, seedOf } from '../coordinator/hello.ts'

/**
 * A coordinator (fastify + socket.io on port 0, a real Federation) and scripted participants that
 * speak the real protocol over real sockets, for the threat list. Time is the test's: nothing
 * fires by itself; the test fires each timer when the state it needs is pinned (`SteerableClock`).
 */
export const head: HeadSpec = { layers: [], labels: ['a', 'b'] }
export const params = paramCount(head, 8)
export const fixedPoint: FixedPoint = fixedPointFor({ participants: 3, maxExamples: 1000, clipNorm: 10 })

/** Each timer's length, distinct so the test can name the one it fires. */
export const MS = { join: 60_000, deadline: 50_000, gather: 40_000, stage: 30_000 } as const

export type SteerableClock = Clock & {
  /** Fires the most recently armed pending timer of `ms` (the masked-input stage's is `MS.deadline`). */
  fire(ms: number): void
  /** The next call of `now` or `after` throws: a clock that fails once, inside whoever calls it. */
  failNext(): void
}

/** A clock whose time stands still and whose timers fire only when the test says. */
export function steerableClock(): SteerableClock {
  const timers: { ms: number; fn: () => void; live: boolean }[] = []
  let failures = 0
  const check = () => {
    if (failures === 0) return
    failures -= 1
    throw new Error('the clock failed')
  }
  return {
    now() {
      check()
      return 0
    },
    after(ms, fn) {
      check()
      const timer = { ms, fn, live: true }
      timers.push(timer)
      return () => {
        timer.live = false
      }
    },
    fire(ms) {
      const timer = [...timers].reverse().find((t) => t.live && t.ms === ms)
      if (!timer) throw new Error(`no pending timer of ${ms} ms`)
      timer.live = false
      timer.fn()
    },
    failNext() {
      failures += 1
    },
  }
}

export type Harness = {
  readonly url: string
  readonly app: FastifyInstance
  readonly federation: Federation
  readonly clock: SteerableClock
  readonly dir: string
  /** The coordinator's warnings and HTTP errors, as the operator would read them. */
  readonly warnings: string[]
  readonly httpErrors: string[]
  readonly enrolled: string[]
  /** Resolves with round `n`'s record once it is written. */
  recorded(round: number): Promise<RoundRecord>
  readonly sockets: Socket[]
  close(): Promise<void>
}

export type HarnessOptions = {
  readonly secure?: boolean
  readonly rounds?: number
  readonly minParticipants?: number
  readonly participantsPerRound?: number
  readonly gatherMs?: number
  readonly crypto?: SecaggCrypto
  readonly log?: (log: RoundLog) => FederationOptions['log']
  readonly evaluate?: Evaluate
  readonly onEnrol?: (participant: string, key: Uint8Array) => void
  readonly onInfo?: (message: string) => void
  /** Names already enrolled, as a resumed run has them. */
  readonly enrolled?: ReadonlyMap<string, Uint8Array>
}

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

export async function startFederation(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'fedtune-security-'))
  const modelJson = '{"format":"layers-model"}'
  writeFileSync(join(dir, 'model.json'), modelJson)
  const files = [{ name: 'model.json', sha256: sha(modelJson), bytes: modelJson.length }]
  const digest = sha(`${files[0]?.sha256}  model.json\n`)
  const rounds = opts.rounds ?? 2
  const secure = opts.secure ?? true
  const task: TaskInfo = {
    taskId: 'security-test',
    name: 'security-test',
    description: '',
    rounds,
    backbone: { digest, path: `/backbone/${digest}/`, files, inputSize: 224, embeddingDim: 8 },
    head,
    paramCount: params,
    aggregation: secure ? 'secure' : 'plaintext-debug',
    browsers: { enabled: false, maxPerRound: 1 },
  }
  const log = new RoundLog(join(dir, 'run'))
  const clock = steerableClock()
  const warnings: string[] = []
  const httpErrors: string[] = []
  const enrolled: string[] = []
  const records = new Map<number, RoundRecord>()
  const waiting = new Map<number, (record: RoundRecord) => void>()
  const minParticipants = opts.minParticipants ?? 2
  const federation = built(
    dir,
    () =>
      new Federation({
        task,
        config: {
          rounds,
          minParticipants,
          participantsPerRound: opts.participantsPerRound ?? 3,
          maxBrowsersPerRound: 0,
          seed: 1,
          server: FEDAVG,
          secure,
          gatherMs: opts.gatherMs ?? MS.gather,
        },
        initial: new Float32Array(params),
        labelPrior: 'local',
        training: ONE_SGD_EPOCH,
        roundDeadlineMs: MS.deadline,
        joinTimeoutMs: MS.join,
        log: opts.log ? opts.log(log) : log,
        evaluate: opts.evaluate,
        clock,
        secure: secure
          ? {
              parameters: {
                neighbours: 3,
                threshold: 2,
                stageDeadlineMs: MS.stage,
                minSurvivors: minParticipants,
              },
              fixedPoint,
              crypto: opts.crypto ?? nodeCrypto,
            }
          : null,
        onWarning: (w) => warnings.push(w),
        onEnrol: (name, key) => {
          opts.onEnrol?.(name, key)
          enrolled.push(name)
        },
        onRecord: (record) => {
          records.set(record.round, record)
          waiting.get(record.round)?.(record)
        },
        ...(opts.onInfo ? { onInfo: opts.onInfo } : {}),
        ...(opts.enrolled ? { enrolled: opts.enrolled } : {}),
      }),
  )
  const app = buildApp({
    backbone: { dir, digest, files },
    federation,
    log,
    onError: (message) => httpErrors.push(message),
  })
  const io = attachSockets(app.server, { federation, onWarning: (w) => warnings.push(w) })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const sockets: Socket[] = []
  return {
    url,
    app,
    federation,
    clock,
    dir: log.dir,
    warnings,
    httpErrors,
    enrolled,
    sockets,
    recorded(round) {
      const record = records.get(round)
      if (record) return Promise.resolve(record)
      return new Promise((resolve) => waiting.set(round, resolve))
    },
    async close() {
      for (const s of sockets) s.disconnect()
      federation.stop('test over')
      io.close()
      await app.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** `make()`, removing `dir` when it throws (a federation that refuses to be built). */
function built<T>(dir: string, make: () => T): T {
  try {
    return make()
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

export type Stage = 'advertise' | 'share-keys' | 'masked-input' | 'unmask'

export type Client = {
  readonly socket: Socket
  readonly joined: Promise<HelloAck<ReceivedRefusalCode>>
  /** The coordinator's answer to this participant's message of `stage` ('update' in plaintext) in `round`. */
  acked(round: number, stage: Stage | 'update'): Promise<UpdateAck>
}

/** Connects without saying hello yet; the challenge is listened for from the first tick. */
export function connectTo(h: Harness): Socket {
  const socket = connect(h.url, { transports: ['websocket'], reconnection: false })
  challengeOf(socket)
  h.sockets.push(socket)
  return socket
}

/** An acknowledgement, or undefined when the socket closed first (the test is over, or it left). */
async function untilClosed(ack: Promise<UpdateAck>): Promise<UpdateAck | undefined> {
  return ack.catch((error: Error) => {
    if (error.message !== 'socket has been disconnected') throw error
    return undefined
  })
}

function ackBook(): { resolve(key: string, ack: UpdateAck): void; wait(key: string): Promise<UpdateAck> } {
  const book = new Map<string, { promise: Promise<UpdateAck>; resolve: (ack: UpdateAck) => void }>()
  const entry = (key: string) => {
    let found = book.get(key)
    if (!found) {
      let resolve!: (ack: UpdateAck) => void
      const promise = new Promise<UpdateAck>((r) => {
        resolve = r
      })
      found = { promise, resolve }
      book.set(key, found)
    }
    return found
  }
  return { resolve: (key, ack) => entry(key).resolve(ack), wait: (key) => entry(key).promise }
}

/**
 * A participant that answers every secure stage with a zero update of 10 examples; in round
 * `silent.round` it stays connected but does not send its message of `silent.stage` (nor any after).
 */
export function secureClient(
  h: Harness,
  name: string,
  opts: { readonly seed?: Uint8Array; readonly silent?: { round: number; stage: Stage } } = {},
): Client {
  const socket = connectTo(h)
  const acks = ackBook()
  const seed = opts.seed ?? seedOf(name)
  let party: SecaggParticipant | undefined
  let round = 0
  let quiet = false
  const send = async (stage: Stage, message: Promise<unknown> | unknown) => {
    const at = round
    if (opts.silent?.round === at && opts.silent.stage === stage) quiet = true
    if (quiet && opts.silent?.round === at) return
    const ack = await untilClosed(socket.emitWithAck('secagg', await message) as Promise<UpdateAck>)
    if (ack) acks.resolve(`${at}/${stage}`, ack)
  }
  socket.on('round', (raw: unknown) => {
    const start = parseRoundStart(raw, params, 2)
    if (!start.secagg) throw new Error('expected a secure round')
    round = start.round
    quiet = false
    party = new SecaggParticipant({
      crypto: nodeCrypto,
      identitySeed: seed,
      context: roundContext(start.secagg.setup),
    })
    void send('advertise', party.advertise())
  })
  socket.on('secagg', (raw: { round: number; stage: string }) => {
    if (!party || raw.round !== round) return
    const p = party
    if (raw.stage === 'advertise') void send('share-keys', p.shareKeys(raw))
    else if (raw.stage === 'share-keys') {
      const input = encodeSecureContribution(
        {
          delta: new Float32Array(params),
          examples: 10,
          labelCounts: [10, 0],
          valExamples: 4,
          valCorrect: 3,
        },
        fixedPoint,
      )
      void send('masked-input', p.maskedInput(raw, input))
    } else if (raw.stage === 'unmask') void send('unmask', p.unmask(raw))
  })
  return {
    socket,
    joined: sayHello(socket, { participant: name, seed }),
    acked: (r, s) => acks.wait(`${r}/${s}`),
  }
}

/** A plaintext-debug participant sending a zero update each round, except in round `silentInRound`. */
export function plainClient(
  h: Harness,
  name: string,
  opts: { readonly silentInRound?: number } = {},
): Client {
  const socket = connectTo(h)
  const acks = ackBook()
  socket.on('round', async (raw: unknown) => {
    const start = parseRoundStart(raw, params, 2)
    if (start.round === opts.silentInRound) return
    const ack = await untilClosed(
      socket.emitWithAck('update', {
        round: start.round,
        delta: new Uint8Array(params * 4),
        examples: 10,
        labelCounts: [10, 0],
        metrics: { trainLoss: 0, valAccuracy: null, valAuc: null, valExamples: 0 },
      }) as Promise<UpdateAck>,
    )
    if (ack) acks.resolve(`${start.round}/update`, ack)
  })
  return {
    socket,
    joined: sayHello(socket, { participant: name }),
    acked: (r, s) => acks.wait(`${r}/${s}`),
  }
}

/** nodeCrypto with one of its methods failing the next `times` calls once `arm` is called. */
export function faultyCrypto(method: 'randomBytes' | 'verify' | 'hmacSha512'): {
  crypto: SecaggCrypto
  failNext(): void
} {
  let failures = 0
  const original = nodeCrypto[method] as (...args: unknown[]) => unknown
  const crypto = {
    ...nodeCrypto,
    [method]: (...args: unknown[]) => {
      if (failures > 0) {
        failures -= 1
        throw new Error(`${method} failed`)
      }
      return original.apply(nodeCrypto, args)
    },
  } as SecaggCrypto
  return {
    crypto,
    failNext: () => {
      failures += 1
    },
  }
}

/** A record with its survivors in name order (they are recorded in the order of their secagg ids). */
export function sorted(record: RoundRecord): RoundRecord {
  return record.survivors ? { ...record, survivors: [...record.survivors].sort() } : record
}
