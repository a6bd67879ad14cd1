import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  emptyEvaluationCounts,
  flattenEvaluationCounts,
  PROTOCOL_VERSION,
  packedParser,
  revealedShareRecords,
  sealedShareRecords,
} from '@fedtune/protocol'
import * as fc from 'fast-check'
import type { Server } from 'socket.io'
import { io as connect, type Socket } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import {
  challengeOf,
  params,
  sayHello,
  startTestCoordinator,
  type TestCoordinator,
  testParticipant,
} from '../harness.ts'
import { awkwardNumbers, awkwardStrings, FUZZ_SEED, mutationsOf, objectKey } from './fuzz.ts'

/**
 * A live coordinator running a 3-hospital secure federation while attackers speak to its port:
 * socket.io clients and raw websockets sending random event names, random payloads and random binary
 * attachments, before a hello and after one of their own. The rounds must complete with global heads
 * byte-identical to a run nobody attacked (same seed, same inputs: the unmasked sum is exact, so the
 * coordinator's fresh per-round randomness does not show), and the process heap after a forced GC
 * must come back to within 10 % of the unattacked run's.
 *
 * The attackers that finish a hello join as browsers in a task that gives browsers no place
 * (maxBrowsersPerRound 0): enrolled, online, sending whatever they like, but never selected, so the
 * hospitals' rounds stay the same rounds. An attacker the coordinator disconnects reconnects and goes on.
 */
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const ROUNDS = 5
const taskId = 'socket-fuzz'

/** Every connection closed, as the coordinator sees it. */
function allClosed(io: Server): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (io.engine.clientsCount === 0) resolve()
    }
    const { clients } = io.engine as unknown as {
      clients: Record<string, { once(e: 'close', f: () => void): void }>
    }
    for (const client of Object.values(clients)) client.once('close', () => setImmediate(check))
    check()
  })
}

/** A hospital answering every secure stage with a fixed update, as the real client would. */
const hospital = (c: TestCoordinator, name: string, value: number, examples: number) =>
  testParticipant(c, name, {
    delta: new Float32Array(params).map((_, i) => value * ((i % 5) - 2)),
    examples,
  }).socket

type Run = { heads: Map<string, Buffer>; statuses: string[]; heapBytes: number; attack: AttackTally | null }

/**
 * One federation, attacked or not: the heads it wrote, each round's status, and the heap once the
 * run is over and every connection closed (the coordinator still listening).
 */
async function federate(attack: boolean): Promise<Run> {
  const c = await startTestCoordinator({
    name: taskId,
    realTime: true,
    rounds: ROUNDS,
    minParticipants: 3,
    participantsPerRound: 3,
    gatherMs: 300,
    browsers: { maxPerRound: 0 },
    // Generous: stages close as soon as everyone answered, so a deadline only matters if the
    // attack starved an honest participant — which would then show as a failed round.
    roundDeadlineMs: 60_000,
    joinTimeoutMs: 60_000,
    stageDeadlineMs: 30_000,
  })
  let warm: () => void = () => undefined
  const warmedUp = new Promise<void>((resolve) => {
    warm = resolve
  })
  const tally: AttackTally = {
    connections: 0,
    events: 0,
    attachments: 0,
    rawFrames: 0,
    hellos: 0,
    disconnected: 0,
    duringRounds: 0,
    onEvent: () => {
      if (tally.events === 60) warm()
    },
  }
  let over = false
  const attackers = attack
    ? [
        ...[1, 2, 3].map((i) => ioAttacker(c.url, i, tally, () => over)),
        ...[4, 5].map((i) => rawAttacker(c.url, i, tally, () => over)),
      ]
    : []
  // The hospitals come once the attack is under way, so that it runs before, between and during their rounds.
  if (attack) await warmedUp
  const hospitals = [hospital(c, 'a', 0.5, 10), hospital(c, 'b', -0.25, 30), hospital(c, 'c', 1, 60)]
  const done = await c.federation.done
  tally.duringRounds = tally.events
  over = true
  await Promise.all(attackers)
  for (const s of hospitals) s.disconnect()
  await allClosed(c.io)
  // Still serving, over real HTTP, after everything it was sent (/api/task: what participants may read).
  expect((await fetch(`${c.url}/api/task`)).status).toBe(200)
  for (let i = 0; i < 3; i++) gc()
  const heapBytes = process.memoryUsage().heapUsed
  const dir = join(c.runDir, 'heads')
  const heads = new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]))
  const statuses = c.records.map((r) => r.status)
  expect(done.completed, `rounds: ${JSON.stringify(c.records.map((r) => [r.status, r.reason]))}`).toBe(ROUNDS)
  await c.close()
  return { heads, statuses, heapBytes, attack: attack ? tally : null }
}

type AttackTally = {
  connections: number
  events: number
  attachments: number
  rawFrames: number
  hellos: number
  disconnected: number
  /** Events sent before the last round ended. */
  duringRounds: number
  onEvent: () => void
}

/** A payload socket.io can carry (no BigInt, no cycles): JSON-ish values, byte arrays, mutated real messages. */
const bytes = fc.nat({ max: 4096 }).map((n) => new Uint8Array(n).map((_, i) => (i * 131 + n) & 0xff))
const wireValue: fc.Arbitrary<unknown> = fc.anything({
  key: objectKey,
  maxDepth: 3,
  maxKeys: 6,
  withTypedArray: true,
  withBoxedValues: true,
  withNullPrototype: true,
  values: [fc.integer(), fc.double(), fc.boolean(), awkwardStrings, awkwardNumbers, fc.constant(null), bytes],
})
const realMessages = [
  {
    taskId,
    round: 1,
    stage: 'advertise',
    cPublic: new Uint8Array(32),
    sPublic: new Uint8Array(32),
    signature: new Uint8Array(64),
  },
  {
    taskId,
    round: 1,
    stage: 'share-keys',
    shares: sealedShareRecords([{ to: 'ab'.repeat(16), ciphertext: new Uint8Array(137) }]),
  },
  { taskId, round: 1, stage: 'masked-input', masked: new Uint8Array((params + 5) * 4) },
  {
    taskId,
    round: 1,
    stage: 'unmask',
    shares: revealedShareRecords([{ of: 'ab'.repeat(16), kind: 'self-mask', share: new Uint8Array(32) }]),
  },
  {
    round: 1,
    delta: new Uint8Array(params * 4),
    examples: 10,
    labelCounts: [10, 0],
    metrics: { trainLoss: 0.5, evaluation: flattenEvaluationCounts(emptyEvaluationCounts(2)) },
  },
  {
    protocol: PROTOCOL_VERSION,
    participant: 'x',
    kind: 'hospital',
    agent: 'a',
    identityKey: new Uint8Array(32),
    proof: new Uint8Array(64),
  },
]
const payload = fc.oneof(wireValue, ...realMessages.map((m) => mutationsOf(m, wireValue)))
const eventName = fc.oneof(
  fc.constantFrom(
    'hello',
    'update',
    'secagg',
    'challenge',
    'round',
    'round-result',
    'finished',
    'error',
    'ping',
  ),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
)

type IoAction =
  | { readonly kind: 'emit'; readonly event: string; readonly args: unknown[]; readonly ack: boolean }
  | { readonly kind: 'hello'; readonly name: string }
  | { readonly kind: 'reconnect' }
const ioAction: fc.Arbitrary<IoAction> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('emit' as const),
      event: eventName,
      args: fc.array(payload, { maxLength: 3 }),
      ack: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('hello' as const), name: fc.stringMatching(/^[a-z]{1,12}$/) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reconnect' as const }) },
)

/** Resolves with the ack, or with null when the connection closes first. */
function ackOrClose(socket: Socket, send: (ack: (reply: unknown) => void) => void): Promise<unknown> {
  return new Promise((resolve) => {
    if (!socket.connected) return resolve(null)
    const closed = () => resolve(null)
    socket.once('disconnect', closed)
    send((reply) => {
      socket.off('disconnect', closed)
      resolve(reply)
    })
  })
}

/** Waits for a new socket.io client to connect, or to fail to. */
function opened(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    socket.once('connect', () => resolve(true))
    socket.once('connect_error', () => resolve(false))
  })
}

/**
 * A socket.io client going through its generated actions, round and round, until the federation
 * is over. After each event it waits for the ack of an update sent behind it (or for the socket's
 * close): a pace set by the server, not a timer.
 */
async function ioAttacker(
  url: string,
  index: number,
  tally: AttackTally,
  over: () => boolean,
): Promise<void> {
  const actions = fc.sample(ioAction, { seed: FUZZ_SEED + index, numRuns: 250 })
  let socket: Socket | undefined
  const fresh = async () => {
    socket?.disconnect()
    const s = connect(url, {
      transports: ['websocket'],
      parser: packedParser,
      reconnection: false,
      forceNew: true,
    })
    challengeOf(s)
    tally.connections++
    s.on('disconnect', (reason) => {
      if (reason === 'io server disconnect' || reason === 'transport close') tally.disconnected++
    })
    socket = (await opened(s)) ? s : undefined
    if (!socket) s.disconnect()
  }
  while (!over()) {
    for (const action of actions) {
      if (over()) break
      if (!socket?.connected) await fresh()
      const s = socket
      if (!s) continue
      if (action.kind === 'reconnect') await fresh()
      else if (action.kind === 'hello') {
        tally.hellos++
        await Promise.race([
          sayHello(s, { participant: `intruder-${index}-${action.name}`, kind: 'browser' }),
          new Promise((resolve) => s.once('disconnect', resolve)),
        ])
      } else {
        tally.events++
        tally.onEvent()
        tally.attachments += countBytes(action.args)
        // An unknown event's ack is never called, so the pace comes from an update the shell always
        // answers (a refusal), sent behind it on the same connection.
        if (action.ack) s.emit(action.event, ...action.args, () => undefined)
        else s.emit(action.event, ...action.args)
        await ackOrClose(s, (ack) => s.emit('update', null, ack))
      }
    }
  }
  socket?.disconnect()
}

function countBytes(value: unknown, depth = 0): number {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return 1
  if (depth > 5 || typeof value !== 'object' || value === null) return 0
  return Object.values(value).reduce<number>((n, v) => n + countBytes(v, depth + 1), 0)
}

type RawAction =
  | { readonly kind: 'text'; readonly data: string }
  | { readonly kind: 'binary'; readonly size: number }
  | {
      readonly kind: 'attachments'
      readonly announced: number
      readonly sent: number
      readonly size: number
      readonly event: string
    }
  | { readonly kind: 'close' }
const rawText = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc
    .tuple(
      fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '40', '41', '42', '43', '44', '45', '46', '4x'),
      fc.string({ maxLength: 40 }),
    )
    .map(([t, s]) => t + s),
  fc
    .tuple(
      eventName,
      fc.array(
        wireValue.filter((v) => !containsBytes(v)),
        { maxLength: 3 },
      ),
      fc.option(fc.nat({ max: 99 })),
    )
    .map(([e, args, id]) => `42${id ?? ''}${safeJson([e, ...args])}`),
  fc.constantFrom(
    '42["connect"]',
    '42["disconnect","io server disconnect"]',
    '42["newListener","hello"]',
    '40',
    '41',
    '4',
    '42',
    '42[',
    '42{}',
    '42[1,2,3]',
    '43999[]',
    '40/admin,',
    '40/nope,{}',
    '42["hello",{"__proto__":{"ok":true}}]',
  ),
)
const rawAction: fc.Arbitrary<RawAction> = fc.oneof(
  { weight: 8, arbitrary: rawText.map((data) => ({ kind: 'text' as const, data })) },
  { weight: 2, arbitrary: fc.nat({ max: 65_536 }).map((size) => ({ kind: 'binary' as const, size })) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('attachments' as const),
      announced: fc.oneof(fc.nat({ max: 8 }), fc.constantFrom(1000, 1_000_000)),
      sent: fc.nat({ max: 12 }),
      size: fc.nat({ max: 65_536 }),
      event: fc.constantFrom('hello', 'update', 'secagg', 'x'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'close' as const }) },
)

function containsBytes(value: unknown): boolean {
  return countBytes(value) > 0
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null'
  } catch (error) {
    return JSON.stringify(String(error))
  }
}

/** Opens a raw engine.io websocket and joins the default namespace: the point a socket.io client reaches. */
function rawSocket(url: string): Promise<WebSocket | null> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`)
  return new Promise((resolve) => {
    ws.on('message', (data, binary) => {
      const text = binary ? '' : data.toString()
      if (text.startsWith('0{')) ws.send('40')
      else if (text.startsWith('40')) resolve(ws)
      else if (text === '2') ws.send('3') // answer the server's ping like a client
    })
    ws.on('error', () => resolve(null))
    ws.on('close', () => resolve(null))
  })
}

const sent = (ws: WebSocket, data: string | Uint8Array) =>
  new Promise<void>((resolve) => {
    if (ws.readyState !== WebSocket.OPEN) return resolve()
    ws.send(data, () => resolve())
  })

/**
 * Raw websockets: malformed engine.io and socket.io packets, reserved event names, lone binary
 * frames, and binary events that announce many attachments (up to a million) and send a few.
 */
async function rawAttacker(
  url: string,
  index: number,
  tally: AttackTally,
  over: () => boolean,
): Promise<void> {
  const actions = fc.sample(rawAction, { seed: FUZZ_SEED + index, numRuns: 300 })
  let ws: WebSocket | null = null
  while (!over()) {
    for (const action of actions) {
      if (over()) break
      if (ws === null || ws.readyState !== WebSocket.OPEN) {
        if (ws !== null) tally.disconnected++
        tally.connections++
        ws = await rawSocket(url)
        if (ws === null) continue
      }
      const socket = ws
      if (action.kind === 'close') {
        socket.close()
        ws = null
      } else if (action.kind === 'text') {
        tally.rawFrames++
        await sent(socket, action.data)
      } else if (action.kind === 'binary') {
        tally.rawFrames++
        await sent(socket, new Uint8Array(action.size).fill(index))
      } else {
        tally.events++
        tally.onEvent()
        const placeholders = Array.from({ length: Math.min(action.announced, 4) }, (_, num) => ({
          _placeholder: true,
          num,
        }))
        await sent(socket, `45${action.announced}-${JSON.stringify([action.event, ...placeholders])}`)
        for (let i = 0; i < action.sent && socket.readyState === WebSocket.OPEN; i++) {
          tally.attachments++
          await sent(socket, new Uint8Array(action.size).fill(i))
        }
      }
    }
  }
  ws?.close()
}

describe('a live secure federation under random socket traffic', () => {
  it('random events, payloads and attachments, before and after a hello: the heads match an unattacked run byte for byte, and the heap comes back', async () => {
    const quiet = await federate(false)
    const attacked = await federate(true)
    console.info(
      `socket fuzz (seed ${FUZZ_SEED}): ${JSON.stringify(attacked.attack)}; heap after the quiet run ${(quiet.heapBytes / 1e6).toFixed(1)} MB, after the attacked run ${(attacked.heapBytes / 1e6).toFixed(1)} MB`,
    )
    expect(quiet.statuses).toEqual(Array(ROUNDS).fill('aggregated'))
    expect(attacked.statuses).toEqual(quiet.statuses)
    expect([...attacked.heads.keys()]).toEqual([...quiet.heads.keys()])
    for (const [file, bytes] of quiet.heads) expect(attacked.heads.get(file)?.equals(bytes), file).toBe(true)
    expect(attacked.attack?.duringRounds).toBeGreaterThan(100)
    expect(attacked.heapBytes).toBeLessThan(quiet.heapBytes * 1.1)
  })
})
