import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTaskFile } from '@fedtune/coordinator'
import { type RunningCoordinator, startCoordinator } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { runDataSplit } from 'fedtune/data'
import { Decoder } from 'socket.io-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * The foundation's end-to-end run: a coordinator and three hospital client processes on real
 * sockets, federating on real PneumoniaMNIST chest X-rays written as PNG folders.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const shared = join(repo, '..', 'shared')
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const HOSPITALS = 3
const ROUNDS = 3

type Packet = { socket: string; participant: string | null; type: string; data: unknown }
type DecodedUpdate = { participant: string; round: number; delta: Float32Array; examples: number }

const packets: Packet[] = []
const http: { method: string; url: string; bodyBytes: number }[] = []
let coordinator: RunningCoordinator
const clientLogs: string[] = []
let exitCodes: number[] = []
let testLabels: number[] = []
let work: string

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-e2e-'))
  const data = join(work, 'data')
  await runDataSplit(
    [
      '--dataset',
      join(shared, 'datasets', 'pneumoniamnist.npz'),
      '--out',
      data,
      '--hospitals',
      String(HOSPITALS),
      '--per-hospital',
      '100',
      '--test-limit',
      '200',
      '--seed',
      '3',
    ],
    { log: () => {} },
  )
  const manifest = JSON.parse(readFileSync(join(data, 'split.json'), 'utf8')) as {
    test: { counts: Record<string, number> }
  }
  testLabels = Object.values(manifest.test.counts)
  await initBackend()
  const backboneDir = join(shared, 'backbones', 'mobilenet_v2_0.35_224')
  const { digest } = await readBackboneFolder(backboneDir)
  const task = parseTaskFile(
    {
      name: 'e2e',
      backbone: { source: backboneDir, sha256: digest },
      head: {
        layers: [
          { type: 'dense', units: 256, activation: 'relu' },
          { type: 'dropout', rate: 0.2 },
        ],
        labels: ['normal', 'pneumonia'],
        seed: 5,
      },
      training: { rounds: ROUNDS, localEpochs: 3, batchSize: 16, optimizer: 'adam', learningRate: 0.001 },
      participation: {
        minParticipants: HOSPITALS,
        participantsPerRound: HOSPITALS,
        roundDeadlineSeconds: 240,
        joinTimeoutSeconds: 240,
      },
      evaluation: { data: join(data, 'test') },
    },
    work,
  )
  coordinator = await startCoordinator({
    task,
    port: 0,
    outDir: join(work, 'run'),
    cacheDir: join(work, 'coordinator-cache'),
    quiet: true,
    print: () => {},
    tap: (e) =>
      packets.push({
        socket: e.socket,
        participant: e.participant,
        type: e.packet.type,
        data: e.packet.data,
      }),
    httpTap: (r) => http.push(r),
  })
  const clients: ChildProcess[] = []
  const exits = Array.from({ length: HOSPITALS }, (_, i) => {
    const child = spawn(
      process.execPath,
      [
        bin,
        'client',
        '--coordinator',
        coordinator.url,
        '--data',
        join(data, `hospital-${i + 1}`),
        '--cache',
        join(work, `cache-${i + 1}`),
        '--name',
        `hospital-${i + 1}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    clients.push(child)
    let log = ''
    child.stdout?.on('data', (b: Buffer) => {
      log += b.toString()
    })
    child.stderr?.on('data', (b: Buffer) => {
      log += b.toString()
    })
    return new Promise<number>((resolve) =>
      child.once('exit', (code) => {
        clientLogs[i] = log
        resolve(code ?? -1)
      }),
    )
  })
  // Drop one hospital's connection after round 1: it must reconnect and the run must go on.
  let dropped = false
  const dropAfterRound1 = setInterval(() => {
    if (dropped || coordinator.federation.state.round < 2) return
    const victim = [...coordinator.io.of('/').sockets.values()][0]
    if (!victim) return
    dropped = true
    victim.conn.close()
  }, 20)
  await coordinator.federation.done
  clearInterval(dropAfterRound1)
  exitCodes = await Promise.all(exits)
}, 600_000)

afterAll(async () => {
  await coordinator?.close()
})

/** Re-decodes the raw inbound engine.io packets with socket.io's own parser, per connection. */
function decodeInbound(): { events: { participant: string | null; name: string; args: unknown[] }[] } {
  const decoders = new Map<string, Decoder>()
  const events: { participant: string | null; name: string; args: unknown[] }[] = []
  for (const p of packets) {
    if (p.type !== 'message') continue
    let decoder = decoders.get(p.socket)
    if (!decoder) {
      decoder = new Decoder()
      const socket = p.socket
      decoder.on('decoded', (packet: { type: number; data?: unknown[] }) => {
        if (packet.type !== 2 && packet.type !== 5) return // EVENT, BINARY_EVENT
        const [name, ...args] = packet.data as [string, ...unknown[]]
        const last = packets.filter((q) => q.socket === socket).at(-1)
        events.push({ participant: last?.participant ?? null, name, args })
      })
      decoders.set(p.socket, decoder)
    }
    decoder.add(p.data as string | Buffer)
  }
  return { events }
}

function updatesByRound(): Map<number, DecodedUpdate[]> {
  const byRound = new Map<number, DecodedUpdate[]>()
  const seen = new Set<string>()
  for (const e of decodeInbound().events) {
    if (e.name !== 'update' || e.participant === null) continue
    const u = e.args[0] as { round: number; delta: Buffer; examples: number }
    const key = `${e.participant}/${u.round}`
    if (seen.has(key)) continue // a resend after a reconnect carries the same update
    seen.add(key)
    const bytes = new Uint8Array(u.delta)
    const delta = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
    const list = byRound.get(u.round) ?? []
    list.push({ participant: e.participant, round: u.round, delta, examples: u.examples })
    byRound.set(u.round, list)
  }
  return byRound
}

function head(round: number): Float32Array {
  const bytes = readFileSync(join(work, 'run', 'heads', `round-${String(round).padStart(4, '0')}.f32`))
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
}

describe('a federation of three hospitals on PneumoniaMNIST', () => {
  it('completes every round with all three hospitals, one of them reconnecting midway', () => {
    expect(exitCodes, clientLogs.join('\n----\n')).toEqual([0, 0, 0])
    expect(coordinator.records.map((r) => r.status)).toEqual(Array(ROUNDS).fill('aggregated'))
    expect(coordinator.records.every((r) => r.contributions.length === HOSPITALS)).toBe(true)
    expect(clientLogs.join('\n')).toMatch(/disconnected \(transport close\); reconnecting/)
  })

  it('the global head beats the majority-class baseline on the held-out set', () => {
    const majority = Math.max(...testLabels) / testLabels.reduce((a, b) => a + b, 0)
    const last = coordinator.records.at(-1)
    expect(last?.global?.examples).toBe(200)
    expect(last?.global?.accuracy).toBeGreaterThan(majority + 0.05)
    expect(last?.global?.auc).toBeGreaterThan(0.8)
  })

  it('each aggregate equals a FedAvg computed independently from what the clients sent', () => {
    const byRound = updatesByRound()
    expect([...byRound.keys()].sort()).toEqual([1, 2, 3])
    let previous = head(0)
    for (let round = 1; round <= ROUNDS; round++) {
      const updates = byRound.get(round) ?? []
      expect(updates.map((u) => u.participant).sort()).toEqual(['hospital-1', 'hospital-2', 'hospital-3'])
      const total = updates.reduce((n, u) => n + u.examples, 0)
      const expected = previous.map((w, i) =>
        Math.fround(w + updates.reduce((s, u) => s + u.examples * (u.delta[i] as number), 0) / total),
      )
      const actual = head(round)
      expect(actual.length).toBe(coordinator.federation.task.paramCount)
      let maxDiff = 0
      for (let i = 0; i < actual.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs((actual[i] as number) - (expected[i] as number)))
      expect(maxDiff).toBeLessThan(1e-6)
      previous = actual
    }
  })

  it('the coordinator received only head-sized updates and small metrics: no image, pixel array or embedding', () => {
    const params = coordinator.federation.task.paramCount
    expect(params).toBeGreaterThan(300_000)
    const binaries = packets.filter((p) => p.data instanceof Uint8Array)
    const texts = packets.filter((p) => typeof p.data === 'string')
    expect(packets.length).toBe(
      binaries.length + texts.length + packets.filter((p) => p.data === undefined).length,
    )
    // every binary payload is exactly one float32 head update
    expect(binaries.length).toBeGreaterThanOrEqual(HOSPITALS * ROUNDS)
    for (const b of binaries) expect((b.data as Buffer).byteLength).toBe(params * 4)
    // text payloads are envelopes and metrics, far too small to carry a 28x28 image or a 1280-d embedding
    for (const t of texts) expect((t.data as string).length).toBeLessThan(600)
    const names = new Set(decodeInbound().events.map((e) => e.name))
    expect([...names].sort()).toEqual(['hello', 'update'])
    for (const b of binaries) {
      const bytes = b.data as Buffer
      expect(bytes.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toBe(false) // PNG
      expect(bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(false) // JPEG
    }
    // over HTTP the hospitals only downloaded the backbone: GETs with empty bodies
    expect(http.length).toBeGreaterThan(0)
    for (const r of http) {
      expect(r.method).toBe('GET')
      expect(r.bodyBytes).toBe(0)
    }
  })
})
