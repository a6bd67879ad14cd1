import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { maxMessageBytes } from '@fedtune/coordinator'
import {
  emptyEvaluationCounts,
  encodeWeights,
  flattenEvaluationCounts,
  type HeadSpec,
  type ParticipantKind,
  PROTOCOL_VERSION,
  packedParser,
  paramCount,
  parseHelloAck,
  signHello,
  type TrainingSettings,
  type UpdateAck,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { Server } from 'socket.io'
import { io as connect, type Socket } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import {
  challengeOf,
  connectTo,
  REAL_TIME,
  sayHello,
  seedOf,
  startTestCoordinator,
  type TestCoordinatorOverrides,
} from '../harness.ts'
import { storeWithViewer } from '../test-store.ts'

// A 1280 → 256 → 2 head: 328,450 parameters, 1.3 MB per update, above socket.io's 1 MB default.
const head: HeadSpec = { layers: [{ type: 'dense', units: 256, activation: 'relu' }], labels: ['a', 'b'] }
const params = paramCount(head, 1280)
const sha = (b: string) => createHash('sha256').update(b).digest('hex')

/** A plaintext task of two rounds over the large head, starting as soon as `minParticipants` are online. */
const start = (
  minParticipants = 2,
  labelPrior: 'local' | 'federation' = 'local',
  browsers?: { readonly maxPerRound: number },
  extra: TestCoordinatorOverrides = {},
) =>
  startTestCoordinator({
    ...REAL_TIME,
    roundDeadlineMs: 30_000,
    joinTimeoutMs: 30_000,
    name: 't',
    description: 'a test task',
    secure: false,
    head,
    embeddingDim: 1280,
    minParticipants,
    participantsPerRound: minParticipants,
    labelPrior,
    ...(browsers ? { browsers } : {}),
    ...extra,
  })

const client = connectTo

const hello = (
  socket: Socket,
  participant: string,
  protocol = PROTOCOL_VERSION,
  kind: ParticipantKind = 'hospital',
) => sayHello(socket, { participant, protocol, kind })

const nextRound = (socket: Socket) =>
  new Promise<{ round: number; weights: Uint8Array; deadlineMs: number; training: TrainingSettings }>(
    (resolve) => socket.once('round', resolve),
  )

const send = (socket: Socket, round: number, delta: Uint8Array, examples = 10, labelCounts = [examples, 0]) =>
  socket.emitWithAck('update', {
    round,
    delta,
    examples,
    labelCounts,
    metrics: { trainLoss: 0.3, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) },
  }) as Promise<UpdateAck>

describe('coordinator over real sockets', () => {
  it('sizes the socket.io message limit from the model, not the 1 MB default', () => {
    expect(params * 4).toBeGreaterThan(1_000_000)
    expect(maxMessageBytes(params)).toBeGreaterThan(params * 4)
  })

  it('with socket.io’s 1 MB default the same update would silently cost the client its connection', async () => {
    const server = createServer()
    const io = new Server(server, { transports: ['websocket'], parser: packedParser })
    let received = false
    io.on('connection', (socket) => socket.on('update', () => (received = true)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const socket = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
      transports: ['websocket'],
      parser: packedParser,
      reconnection: false,
    })
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    const reason = new Promise<string>((resolve) => socket.once('disconnect', resolve))
    socket.emit('update', { delta: encodeWeights(new Float32Array(params)) })
    expect(await reason).toBe('transport close')
    expect(received).toBe(false)
    io.close()
  })

  it('hands out the federation’s label mix from the last aggregate as the prior, uniform before the first', async () => {
    const h = await start(2, 'federation')
    const [a, b] = [client(h), client(h)]
    const first = [nextRound(a), nextRound(b)]
    await hello(a, 'hospital-a')
    await hello(b, 'hospital-b')
    const [ra] = await Promise.all(first)
    expect(ra?.training.prior).toEqual([0.5, 0.5])
    const second = nextRound(a)
    const zero = encodeWeights(new Float32Array(params))
    expect(await send(a, 1, zero, 10, [10, 0])).toEqual({ ok: true })
    expect(await send(b, 1, zero, 30, [5, 25])).toEqual({ ok: true })
    const prior = (await second).training.prior ?? []
    expect(prior[0]).toBeCloseTo(15 / 40, 9)
    expect(prior[1]).toBeCloseTo(25 / 40, 9)
  })

  it('carries 1.3 MB updates both ways and aggregates them with FedAvg', async () => {
    const h = await start()
    const [a, b] = [client(h), client(h)]
    const roundA = nextRound(a)
    const roundB = nextRound(b)
    expect((await hello(a, 'hospital-a')).ok).toBe(true)
    expect((await hello(b, 'hospital-b')).ok).toBe(true)
    const [ra, rb] = await Promise.all([roundA, roundB])
    expect(ra.round).toBe(1)
    expect(new Uint8Array(ra.weights).byteLength).toBe(params * 4)
    expect(rb.deadlineMs).toBeGreaterThan(0)
    const result = new Promise<{ status: string }>((resolve) => a.once('round-result', resolve))
    expect(await send(a, 1, encodeWeights(new Float32Array(params).fill(1)), 30)).toEqual({ ok: true })
    expect(await send(b, 1, encodeWeights(new Float32Array(params).fill(-1)), 10)).toEqual({ ok: true })
    expect((await result).status).toBe('aggregated')
    expect(h.federation.global[0]).toBeCloseTo((30 - 10) / 40)
    expect(h.federation.global[params - 1]).toBeCloseTo(0.5)
  })

  it('refuses a client speaking another protocol version and says both versions', async () => {
    const h = await start()
    const ack = await hello(client(h), 'old-client', 'fedtune/0')
    expect(ack).toEqual({
      ok: false,
      code: 'wrong-version',
      reason: `hello.protocol: expected "${PROTOCOL_VERSION}", got "fedtune/0"`,
    })
  })

  it('refuses an update of the wrong size or with NaN, and the round still completes', async () => {
    const h = await start()
    const [a, b] = [client(h), client(h)]
    const ready = Promise.all([nextRound(a), nextRound(b)])
    await hello(a, 'hospital-a')
    await hello(b, 'hospital-b')
    await ready
    const short = await send(a, 1, encodeWeights(new Float32Array(10)))
    expect(short).toMatchObject({ ok: false, code: 'wrong-size' })
    expect(short.ok === false && short.reason).toContain(`expected ${params} float32 values`)
    const nan = new Float32Array(params)
    nan[7] = Number.NaN
    expect(await send(a, 1, encodeWeights(nan))).toMatchObject({ ok: false, code: 'not-finite' })
    expect(await send(a, 1, encodeWeights(new Float32Array(params)))).toEqual({ ok: true })
    expect(await send(b, 1, encodeWeights(new Float32Array(params)))).toEqual({ ok: true })
    expect(h.federation.state.completed).toBe(1)
  })

  it('opens every connection with a fresh challenge for this task', async () => {
    const h = await start()
    const [a, b] = [client(h), client(h)]
    const [first, second] = await Promise.all([challengeOf(a), challengeOf(b)])
    expect(first.taskId).toBe(h.federation.task.taskId)
    expect(first.nonce).toHaveLength(32)
    expect(Buffer.from(first.nonce).equals(Buffer.from(second.nonce))).toBe(false)
  })

  it('refuses a hello that does not prove its identity key: unsigned, signed by another key, or replayed', async () => {
    const h = await start()
    const proofRefused = {
      ok: false,
      code: 'bad-proof',
      reason:
        "hello.proof: expected a signature by hello.identityKey over this connection's challenge and the hello, got one that does not verify (signed for another connection, or without the private key)",
    }
    const signed = async (socket: Socket, seed: Uint8Array) =>
      signHello(nodeCrypto, seed, await challengeOf(socket), {
        protocol: PROTOCOL_VERSION,
        participant: 'hospital-a',
        kind: 'hospital',
        agent: 'test',
      })

    const unsigned = client(h)
    await challengeOf(unsigned)
    const { proof: _, ...noProof } = await signed(client(h), seedOf('hospital-a'))
    expect(await unsigned.emitWithAck('hello', noProof)).toMatchObject({
      ok: false,
      code: 'malformed',
      reason: 'hello.proof: expected 64 bytes, got undefined',
    })

    // Someone who knows hospital-a's public key, but not its private key.
    const squatter = client(h)
    const own = await signed(squatter, seedOf('squatter'))
    const claimed = { ...own, identityKey: nodeCrypto.ed25519PublicKey(seedOf('hospital-a')) }
    expect(await squatter.emitWithAck('hello', claimed)).toEqual(proofRefused)

    // hospital-a's genuine hello, recorded on one connection and replayed on another.
    const [recorded, replayer] = [client(h), client(h)]
    const genuine = await signed(recorded, seedOf('hospital-a'))
    await challengeOf(replayer)
    expect(await replayer.emitWithAck('hello', genuine)).toEqual(proofRefused)
    expect(h.federation.state.online.size).toBe(0)

    // Once an operator approved hospital-a, its own connection is accepted.
    expect(await h.store.participants.byTask('test-task')).toEqual([])
    await h.enrol('hospital-a', 'hospital', nodeCrypto.ed25519PublicKey(seedOf('hospital-a')))
    expect(await recorded.emitWithAck('hello', genuine)).toMatchObject({ ok: true })
  })

  it('an update before hello is refused: a small one with no-hello, one with a delta by closing the connection', async () => {
    const h = await start()
    const a = client(h)
    await new Promise<void>((resolve) => a.once('connect', () => resolve()))
    expect(await a.emitWithAck('update', { round: 1 })).toMatchObject({ ok: false, code: 'no-hello' })
    const refused = new Promise((resolve) => a.once('refused', resolve))
    send(a, 1, encodeWeights(new Float32Array(params))).catch(() => null)
    expect(await refused).toMatchObject({ ok: false, code: 'no-hello' })
  })

  it('serves backbone files under their digest with the SHA-256 as ETag, and 304 when unchanged', async () => {
    const h = await start()
    const task = h.federation.task
    const file = task.backbone.files[0]
    const res = await h.app.inject({ method: 'GET', url: `${task.backbone.path}model.json` })
    expect(res.statusCode).toBe(200)
    expect(res.headers.etag).toBe(`"${file?.sha256}"`)
    expect(sha(res.body)).toBe(file?.sha256)
    const again = await h.app.inject({
      method: 'GET',
      url: `${task.backbone.path}model.json`,
      headers: { 'if-none-match': `"${file?.sha256}"` },
    })
    expect(again.statusCode).toBe(304)
    const traversal = await h.app.inject({
      method: 'GET',
      url: `${task.backbone.path}..%2F..%2Fetc%2Fpasswd`,
    })
    expect(traversal.statusCode).toBe(404)
  })

  it('reports the run’s status over HTTP', async () => {
    const { store, viewer } = await storeWithViewer()
    const h = await start(1, 'local', undefined, { store })
    const a = client(h)
    const round = nextRound(a)
    await hello(a, 'hospital-a')
    await round
    const status = (await h.app.inject({ method: 'GET', url: '/api/status', headers: viewer })).json()
    expect(status).toMatchObject({
      phase: 'training',
      round: 1,
      rounds: 2,
      online: ['hospital-a'],
      selected: ['hospital-a'],
    })
  })

  it('acknowledges the update that ends the run before announcing the end', async () => {
    const h = await start(1)
    const a = client(h)
    const order: string[] = []
    a.on('finished', () => order.push('finished'))
    let round = nextRound(a)
    await hello(a, 'hospital-a')
    await round
    round = nextRound(a)
    await send(a, 1, encodeWeights(new Float32Array(params)))
    await round
    const finished = new Promise<void>((resolve) => a.once('finished', () => resolve()))
    // a callback, not a promise: it records the order in which the packets arrived
    a.emit(
      'update',
      {
        round: 2,
        delta: encodeWeights(new Float32Array(params)),
        examples: 1,
        labelCounts: [0, 1],
        metrics: { trainLoss: 0, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) },
      },
      (ack: UpdateAck) => order.push(`ack ${ack.ok}`),
    )
    await finished
    expect(order).toEqual(['ack true', 'finished'])
  })

  it('refuses a browser when the task file leaves browser participation off, and still takes hospitals', async () => {
    const { store, viewer } = await storeWithViewer()
    const h = await start(1, 'local', undefined, { store })
    const volunteer = client(h)
    const closed = new Promise<string>((resolve) => volunteer.once('disconnect', resolve))
    expect(await hello(volunteer, 'volunteer', PROTOCOL_VERSION, 'browser')).toEqual({
      ok: false,
      code: 'browsers-disabled',
      reason: 'task "t" does not take browser participants (its task file leaves participation.browsers off)',
    })
    expect(await closed).toBe('io server disconnect')
    const a = client(h)
    const round = nextRound(a)
    expect((await hello(a, 'hospital-a')).ok).toBe(true)
    await round
    expect((await h.app.inject({ method: 'GET', url: '/api/status', headers: viewer })).json()).toMatchObject(
      {
        online: ['hospital-a'],
        browsers: [],
        selected: ['hospital-a'],
      },
    )
  })

  it('takes a browser when the task turns browsers on, and lists it among the online browsers', async () => {
    const { store, viewer } = await storeWithViewer()
    const h = await start(3, 'local', { maxPerRound: 1 }, { store })
    const ack = parseHelloAck(await hello(client(h), 'volunteer', PROTOCOL_VERSION, 'browser'))
    expect(ack).toMatchObject({
      ok: true,
      task: { description: 'a test task', browsers: { enabled: true, maxPerRound: 1 } },
    })
    expect((await hello(client(h), 'hospital-a')).ok).toBe(true)
    expect((await h.app.inject({ method: 'GET', url: '/api/status', headers: viewer })).json()).toMatchObject(
      {
        phase: 'waiting',
        online: ['hospital-a', 'volunteer'],
        browsers: ['volunteer'],
      },
    )
    expect((await h.app.inject({ method: 'GET', url: '/api/task' })).json()).toEqual(h.federation.task)
  })

  it('marks the backbone and /api/* as same-origin resources, so the isolated /join page may load them', async () => {
    const h = await start()
    const path = `${h.federation.task.backbone.path}model.json`
    for (const url of [path, '/api/task', '/api/status', '/api/rounds'])
      expect((await h.app.inject({ method: 'GET', url })).headers['cross-origin-resource-policy']).toBe(
        'same-origin',
      )
  })
})
