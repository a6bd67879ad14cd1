import { createHash } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  attachSockets,
  buildApp,
  FEDAVG,
  Federation,
  parseTaskFile,
  RoundLog,
  singleTask,
  storeAdmission,
} from '@fedtune/coordinator'
import { startCoordinator } from '@fedtune/coordinator/start'
import { openStore, type Store } from '@fedtune/coordinator/store'
import { countEvaluation, pooledMetrics } from '@fedtune/model'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import {
  addEvaluationCounts,
  decodeWeights,
  type EvaluationCounts,
  emptyEvaluationCounts,
  encodeSecureContribution,
  type FixedPoint,
  fixedPointFor,
  flattenEvaluationCounts,
  type HeadSpec,
  type HelloAck,
  type ParticipantKind,
  packedParser,
  paramCount,
  parseRoundStart,
  type ReceivedRefusalCode,
  type SecaggAnswer,
  SecureRoundDriver,
  secureVectorLength,
  type TaskInfo,
  type UpdateAck,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { FastifyInstance } from 'fastify'
import { io as connect, type Socket } from 'socket.io-client'
import { afterEach, describe, expect, it } from 'vitest'
import { challengeOf, connectTo, ONE_SGD_EPOCH, sayHello, seedOf, testDatabase } from '../harness.ts'
import { storeWithViewer } from '../test-store.ts'

/**
 * The coordinator's secure rounds over real sockets, with participants speaking the SecAgg+
 * protocol in-process (the hospital client does the same in client-node/src/participant.ts).
 */
const head: HeadSpec = { layers: [], labels: ['a', 'b'] }
const params = paramCount(head, 8)
const fixedPoint: FixedPoint = fixedPointFor({ participants: 3, maxExamples: 1000, clipNorm: 10 })
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

type Harness = {
  url: string
  app: FastifyInstance
  federation: Federation
  sockets: Socket[]
  warnings: string[]
  /** Where each round's record went. */
  log: RoundLog
  store: Store
  /** Made here (closed after the test), not the test's. */
  ownStore: boolean
  enrol(name: string, kind: 'hospital' | 'browser', key: Uint8Array): Promise<void>
}
let harness: Harness | undefined

afterEach(async () => {
  for (const s of harness?.sockets ?? []) s.disconnect()
  harness?.federation.stop('test over')
  await harness?.app.close()
  if (harness?.ownStore) await harness.store.close()
  harness = undefined
})

async function start(opts: {
  secure: boolean
  rounds?: number
  minParticipants?: number
  /** Browser places per round; none when absent. */
  browsers?: number
  /**
   * How long a round waits for a third participant once the minimum is online. Long by default, so
   * a round of three starts with all three however slowly they connect (it starts at once when full).
   */
  gatherMs?: number
  /** The operators' store, for a test that reads /api/status. */
  store?: Store
}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'fedtune-secure-'))
  const modelJson = '{"format":"layers-model"}'
  writeFileSync(join(dir, 'model.json'), modelJson)
  const files = [{ name: 'model.json', sha256: sha(modelJson), bytes: modelJson.length }]
  const digest = sha(`${files[0]?.sha256}  model.json\n`)
  const rounds = opts.rounds ?? 1
  const task: TaskInfo = {
    taskId: 'secure-test',
    name: 'secure-test',
    description: '',
    rounds,
    backbone: {
      digest,
      path: `/backbone/${digest}/`,
      files,
      inputSize: 224,
      embeddingDim: 8,
      views: ['original'],
    },
    head,
    ordinal: false,
    paramCount: params,
    aggregation: opts.secure ? 'secure' : 'plaintext-debug',
    browsers: { enabled: opts.browsers !== undefined, maxPerRound: opts.browsers ?? 1 },
    privacy: null,
    inputCentre: null,
  }
  const log = new RoundLog(mkdtempSync(join(tmpdir(), 'fedtune-log-')))
  const warnings: string[] = []
  const minParticipants = opts.minParticipants ?? 2
  const federation = new Federation({
    task,
    config: {
      rounds,
      minParticipants,
      participantsPerRound: 3,
      maxBrowsersPerRound: opts.browsers ?? 0,
      seed: 1,
      server: FEDAVG,
      secure: opts.secure,
      gatherMs: opts.gatherMs ?? 20_000,
    },
    initial: new Float32Array(params),
    labelPrior: 'local',
    training: ONE_SGD_EPOCH,
    roundDeadlineMs: 20_000,
    joinTimeoutMs: 20_000,
    recorder: {
      writeHead: (round, weights, server) => log.writeHead(round, weights, server ?? null),
      commit: async (record) => log.append(record),
    },
    secure: opts.secure
      ? {
          // Long: a dropout here disconnects, which closes its stages at once; the deadline must not pass.
          parameters: { neighbours: 3, threshold: 2, stageDeadlineMs: 20_000, minSurvivors: minParticipants },
          fixedPoint,
          crypto: nodeCrypto,
        }
      : null,
    onWarning: (w) => warnings.push(w),
  })
  const store = opts.store ?? (await openStore(await testDatabase()))
  await store.tasks.submit({ name: task.name, file: {}, submittedBy: 'test' })
  const enrolment = {
    hospitals: 'approval',
    volunteers: { mode: 'open', maxParticipants: 100, perAddressPerHour: 100 },
  } as const
  const tasks = singleTask({
    info: task,
    federation,
    admission: storeAdmission({ store, task: task.name, enrolment }),
    log,
    backbone: { dir, digest, files },
    neighbours: 3,
  })
  const app = buildApp({ tasks, ...(opts.store ? { store: opts.store } : {}) })
  attachSockets(app.server, { tasks })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  harness = {
    url,
    app,
    federation,
    sockets: [],
    warnings,
    log,
    store,
    ownStore: opts.store === undefined,
    enrol: async (name, kind, identityKey) => {
      await store.participants.enrolOpen({ task: task.name, name, kind, identityKey }).catch(() => undefined)
    },
  }
  return harness
}

/**
 * A participant that answers every secure stage through the participants' own driver
 * (protocol/src/secure-round-driver.ts), contributing `delta` with `examples`; with `silentFrom` it
 * disconnects instead of sending that answer (a dropout).
 */
function secureClient(
  h: Harness,
  name: string,
  delta: Float32Array,
  examples: number,
  silentFrom?: 'share-keys' | 'masked-input' | 'unmask',
  kind: ParticipantKind = 'hospital',
  opts: {
    /** Its counts of the received head on its validation data; none unless given. */
    readonly evaluation?: EvaluationCounts
    /** Changes its encoded input before it is masked (a participant that lies about its counts). */
    readonly tamper?: (input: Uint32Array) => void
  } = {},
): {
  socket: Socket
  joined: Promise<HelloAck<ReceivedRefusalCode>>
  advertised: Promise<UpdateAck | null>
  /** Every secagg message it sent, in order. */
  sent: SecaggAnswer[]
} {
  const socket = connectTo(h)
  challengeOf(socket)
  h.sockets.push(socket)
  let advertisedWith: (ack: Promise<UpdateAck | null>) => void = () => {}
  const advertised = new Promise<UpdateAck | null>((resolve) => {
    advertisedWith = resolve
  })
  const sent: SecaggAnswer[] = []
  const secure = new SecureRoundDriver({
    crypto: nodeCrypto,
    identitySeed: seedOf(name),
    emit: (_, message) => {
      if (message.stage === silentFrom) return void socket.disconnect()
      sent.push(message)
      // a dropout's pending acknowledgements fail with its socket; that is the point
      const ack = (socket.emitWithAck('secagg', message) as Promise<UpdateAck>).catch(() => null)
      if (message.stage === 'advertise') advertisedWith(ack)
    },
    report: (report) => {
      if (report.type === 'refused' || report.type === 'declined')
        throw new Error(`${name} refused round ${report.round}: ${report.message}`)
    },
  })
  const joined = sayHello(socket, { participant: name, kind })
  socket.on('round', async (raw: unknown) => {
    const ack = await joined
    if (!ack.ok) throw new Error(`${name} was refused: ${ack.reason}`)
    secure.start(ack.task, parseRoundStart(raw, params, 2), async (fixed) => {
      const evaluation = opts.evaluation ?? emptyEvaluationCounts(2)
      const input = encodeSecureContribution(
        { delta, examples, labelCounts: [examples, 0], evaluation },
        fixed,
      )
      opts.tamper?.(input)
      return input
    })
  })
  socket.on('secagg', (raw: unknown) => void secure.relay(raw))
  return { socket, joined, advertised, sent }
}

const filled = (v: number) => new Float32Array(params).fill(v)

/** A site's counts of a head that scores class 1 at `p1` on examples labelled `labels`. */
const counts = (labels: number[], p1: number[]) =>
  countEvaluation(Float32Array.from(p1.flatMap((p) => [1 - p, p])), Int32Array.from(labels), 2)

describe('secure rounds over real sockets', () => {
  it('aggregates the masked updates into exactly the FedAvg of what the participants put in', async () => {
    const h = await start({ secure: true })
    secureClient(h, 'a', filled(0.5), 10)
    secureClient(h, 'b', filled(-0.25), 30)
    secureClient(h, 'c', filled(1), 60)
    const done = await h.federation.done
    expect(done.completed).toBe(1)
    const record = h.federation.state
    expect(Array.from(h.federation.global)).toEqual(
      Array(params).fill(Math.fround((0.5 * 10 - 0.25 * 30 + 1 * 60) / 100)),
    )
    expect(record.labelCounts).toEqual([100, 0])
  })

  it("records the participants' figures for the head they received: the pooled metrics of the sum of their own counts", async () => {
    const h = await start({ secure: true })
    // each site's own counts of the received head (the initial one) on its validation split
    const a = counts([0, 0, 1], [0.2, 0.6, 0.9])
    const b = counts([1, 1, 0, 0], [0.7, 0.4, 0.1, 0.3])
    const c = counts([0], [0.8])
    secureClient(h, 'a', filled(0.5), 10, undefined, 'hospital', { evaluation: a })
    secureClient(h, 'b', filled(-0.25), 30, undefined, 'hospital', { evaluation: b })
    secureClient(h, 'c', filled(1), 60, undefined, 'hospital', { evaluation: c })
    await h.federation.done
    const [record] = h.log.records
    const pooled = pooledMetrics(addEvaluationCounts(addEvaluationCounts(a, b), c), 2)
    expect(record?.participants).toEqual(pooled)
    expect(record?.participants).toMatchObject({ examples: 8, binned: true })
    expect(record?.participants?.confusion).toEqual([
      [3, 2],
      [1, 2],
    ])
    expect(record?.warnings).toEqual([])
  })

  it('a participant that lies about its counts cannot fail the round: the update stands, the pooled figures are left out with a warning', async () => {
    const h = await start({ secure: true })
    const honest = counts([0, 1], [0.2, 0.9])
    const confusionAt = params + 1 + 2
    secureClient(h, 'a', filled(0.5), 10, undefined, 'hospital', { evaluation: honest })
    secureClient(h, 'b', filled(-0.25), 30, undefined, 'hospital', { evaluation: honest })
    secureClient(h, 'c', filled(1), 60, undefined, 'hospital', {
      evaluation: honest,
      tamper: (input) => {
        input[confusionAt] = (input[confusionAt] as number) + 1000
      },
    })
    const done = await h.federation.done
    expect(done).toMatchObject({ completed: 1, failed: 0 })
    expect(Array.from(h.federation.global)).toEqual(
      Array(params).fill(Math.fround((0.5 * 10 - 0.25 * 30 + 1 * 60) / 100)),
    )
    const [record] = h.log.records
    expect(record).toMatchObject({ status: 'aggregated', participants: null })
    expect(record?.warnings).toEqual([
      'participants: their pooled evaluation counts do not add up (the pooled evaluation counts: the confusion matrix counts 1006 examples, the confidence histogram 6); no pooled figures this round',
    ])
  })

  it('survives a participant that drops after sharing its keys: the survivors’ corrections remove its masks', async () => {
    const h = await start({ secure: true })
    const a = secureClient(h, 'a', filled(0.5), 10)
    secureClient(h, 'b', filled(-0.25), 30, 'masked-input')
    const c = secureClient(h, 'c', filled(1), 60)
    const done = await h.federation.done
    expect(done).toMatchObject({ completed: 1, failed: 0 })
    expect(h.federation.global[0]).toBe(Math.fround((0.5 * 10 + 1 * 60) / 70))
    // a small head: each survivor's unmask answer carried the correction for b, one word per entry of the vector
    for (const { sent } of [a, c]) {
      const unmask = sent.find((m) => m.stage === 'unmask') as { correction?: Uint8Array }
      expect(unmask.correction?.byteLength).toBe(secureVectorLength(params, 2) * 4)
    }
  })

  it('a browser that drops after sharing its keys is an ordinary dropout, like a hospital', async () => {
    const h = await start({ secure: true, browsers: 1 })
    secureClient(h, 'a', filled(0.5), 10)
    const { socket } = secureClient(h, 'volunteer', filled(-0.25), 30, 'masked-input', 'browser')
    const selected = new Promise<number>((resolve) =>
      socket.once('round', (r: { round: number }) => resolve(r.round)),
    )
    secureClient(h, 'c', filled(1), 60)
    expect(await selected).toBe(1)
    const done = await h.federation.done
    expect(done).toMatchObject({ completed: 1, failed: 0 })
    expect(h.federation.global[0]).toBe(Math.fround((0.5 * 10 + 1 * 60) / 70))
  })

  it('fails the round loudly when too few survive to rebuild the masks, and the run goes on', async () => {
    const h = await start({ secure: true, rounds: 1 })
    secureClient(h, 'a', filled(0.5), 10)
    secureClient(h, 'b', filled(-0.25), 30, 'masked-input')
    secureClient(h, 'c', filled(1), 60, 'masked-input')
    const done = await h.federation.done
    expect(done).toMatchObject({ completed: 0, failed: 1 })
    expect(Array.from(h.federation.global)).toEqual(Array(params).fill(0))
  })

  it('with too few masked inputs for the task’s minimum, fails before unmasking anything', async () => {
    const h = await start({ secure: true, minParticipants: 3 })
    secureClient(h, 'a', filled(0.5), 10)
    secureClient(h, 'b', filled(-0.25), 30, 'masked-input')
    secureClient(h, 'c', filled(1), 60)
    const done = await h.federation.done
    expect(done).toMatchObject({ completed: 0, failed: 1 })
    expect(h.warnings).toEqual([])
    expect(h.federation.state.failed).toBe(1)
  })

  it('the status page shows the secure stage and who it waits for', async () => {
    const { store, viewer } = await storeWithViewer()
    const h = await start({ secure: true, store })
    const a = secureClient(h, 'a', filled(0.5), 10)
    const b = secureClient(h, 'b', filled(-0.25), 30)
    // connected and enrolled, but never answers: the advertise stage waits for it (20 s)
    const mute = connectTo(h)
    h.sockets.push(mute)
    const selected = new Promise((resolve) => mute.once('round', resolve))
    await sayHello(mute, { participant: 'mute' })
    await selected
    expect(await a.advertised).toEqual({ ok: true })
    expect(await b.advertised).toEqual({ ok: true })
    const status = await (await fetch(`${h.url}/api/status`, { headers: viewer })).json()
    expect(status).toMatchObject({
      aggregation: 'secure',
      secure: { stage: 'advertise', waitingFor: ['mute'] },
    })
  })

  it('refuses a plaintext update in a secure task', async () => {
    const h = await start({ secure: true })
    const { socket, joined } = secureClient(h, 'a', filled(0), 1)
    await joined
    const ack = (await socket.emitWithAck('update', {
      round: 1,
      delta: new Uint8Array(params * 4),
      examples: 1,
      labelCounts: [1, 0],
      metrics: { trainLoss: 0, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) },
    })) as UpdateAck
    expect(ack).toMatchObject({ ok: false })
  })

  it('refuses a name enrolled with another identity key', async () => {
    const h = await start({ secure: true })
    expect((await secureClient(h, 'a', filled(0), 1).joined).ok).toBe(true)
    const impostor = connectTo(h)
    h.sockets.push(impostor)
    const ack = await sayHello(impostor, { participant: 'a', seed: new Uint8Array(32).fill(1) })
    expect(ack).toMatchObject({ ok: false, code: 'identity-mismatch' })
  })

  it('a plaintext-debug task warns the operator on every round', async () => {
    // two of three places: no gather window, each round starts as soon as both are online
    const h = await start({ secure: false, rounds: 2, gatherMs: 0 })
    const plain = (name: string) => {
      const socket = connectTo(h)
      h.sockets.push(socket)
      socket.on('round', (raw: { round: number; weights: Uint8Array }) => {
        decodeWeights(raw.weights, params, 'weights')
        socket.emit(
          'update',
          {
            round: raw.round,
            delta: new Uint8Array(params * 4),
            examples: 1,
            labelCounts: [1, 0],
            metrics: { trainLoss: 0, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) },
          },
          () => {},
        )
      })
      void sayHello(socket, { participant: name })
    }
    plain('x')
    plain('y')
    await h.federation.done
    expect(h.warnings.filter((w) => /plaintext-debug/.test(w))).toHaveLength(2)
  })

  it("in plaintext-debug, the participants' figures are the pooled metrics of their updates' counts, and a one-class head is flagged", async () => {
    const h = await start({ secure: false, rounds: 1, gatherMs: 0 })
    const own = { x: counts([0, 1, 1], [0.9, 0.8, 0.7]), y: counts([0, 0], [0.6, 0.55]) }
    for (const name of ['x', 'y'] as const) {
      const socket = connectTo(h)
      h.sockets.push(socket)
      socket.on('round', (raw: { round: number }) => {
        const update = {
          round: raw.round,
          delta: new Uint8Array(params * 4),
          examples: 1,
          labelCounts: [1, 0],
          metrics: { trainLoss: 0.25, evaluation: flattenEvaluationCounts(own[name]) },
        }
        socket.emit('update', update, () => {})
      })
      void sayHello(socket, { participant: name })
    }
    await h.federation.done
    const [record] = h.log.records
    expect(record?.participants).toEqual(pooledMetrics(addEvaluationCounts(own.x, own.y), 2))
    expect(record?.warnings).toEqual([
      'participants: the head predicts "b" for 5 of 5 images (100.0 %); its accuracy says little',
    ])
    expect(record?.contributions.map((c) => c.trainLoss)).toEqual([0.25, 0.25])
  })

  it('a coordinator that closes after its last secure round still delivers "finished" to everyone', async () => {
    const backboneDir = join(
      fileURLToPath(new URL('../../../shared/', import.meta.url)),
      'backbones',
      'mobilenet_v2_0.35_224',
    )
    await initBackend()
    const { digest } = await readBackboneFolder(backboneDir)
    const work = mkdtempSync(join(tmpdir(), 'fedtune-close-'))
    const task = parseTaskFile(
      {
        name: 'close',
        backbone: { source: backboneDir, sha256: digest },
        head: { labels: ['a', 'b'] },
        training: { rounds: 1 },
        participation: { minParticipants: 3, gatherSeconds: 0 },
      },
      work,
    )
    const running = await startCoordinator({
      task,
      port: 0,
      outDir: join(work, 'run'),
      // a database of its own on the run's PostgreSQL server, cloned in milliseconds
      database: await testDatabase(),
      cacheDir: join(work, 'cache'),
      quiet: true,
      print: () => {},
    })
    const inner = running.federation.task.paramCount
    const outcomes: Promise<string>[] = []
    const sockets = ['x', 'y', 'z'].map((name) => {
      const socket = connect(running.url, {
        transports: ['websocket'],
        parser: packedParser,
        reconnection: false,
      })
      // listened for from the tick that creates the socket: it may come before the enrolment below is written
      challengeOf(socket)
      const seed = seedOf(name)
      const secure = new SecureRoundDriver({
        crypto: nodeCrypto,
        identitySeed: seed,
        emit: (_, message) => socket.emit('secagg', message, () => {}),
        report: () => {},
      })
      // as the hospital client does: read 'finished', then leave; or the connection is cut without it
      outcomes.push(
        new Promise((resolve) => {
          socket.once('finished', () => {
            resolve('finished')
            socket.disconnect()
          })
          socket.once('disconnect', (reason) => resolve(`disconnected: ${reason}`))
        }),
      )
      const joined = running.store.participants
        .enrolOpen({ task: 'close', name, kind: 'hospital', identityKey: nodeCrypto.ed25519PublicKey(seed) })
        .then(() => sayHello(socket, { participant: name, seed }))
      socket.on('round', async (raw: unknown) => {
        const ack = await joined
        if (!ack.ok) return
        secure.start(ack.task, parseRoundStart(raw, inner, 2), async (fixed) =>
          encodeSecureContribution(
            {
              delta: new Float32Array(inner),
              examples: 5,
              labelCounts: [2, 3],
              evaluation: emptyEvaluationCounts(2),
            },
            fixed,
          ),
        )
      })
      socket.on('secagg', (raw: unknown) => void secure.relay(raw))
      return socket
    })
    const done = await running.federation.done
    await running.close()
    expect(done.completed).toBe(1)
    expect(await Promise.all(outcomes)).toEqual(['finished', 'finished', 'finished'])
    for (const s of sockets) s.disconnect()
  })
})
