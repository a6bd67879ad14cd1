import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { issueInvite, parseTaskFile } from '@fedtune/coordinator'
import { type RunningCoordinator, startCoordinator } from '@fedtune/coordinator/start'
import { pooledMetrics } from '@fedtune/model'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import {
  addEvaluationCounts,
  type EvaluationCounts,
  MAX_CORRECTION_WORDS,
  PackedDecoder,
  REVEALED_RECORD_BYTES,
  SHARE_RECORD_BYTES,
  secureVectorLength,
} from '@fedtune/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness.ts'
import { splitPneumonia } from '../pneumonia-split.ts'

/**
 * The end-to-end run: a coordinator and three hospital client processes on real sockets,
 * federating on real PneumoniaMNIST chest X-rays written as PNG folders, through secure
 * aggregation (the default), with one hospital's connection dropped midway.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const shared = join(repo, '..', 'shared')
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const HOSPITALS = 3
const ROUNDS = 3

type Packet = { socket: string; participant: string | null; type: string; data: unknown }

const packets: Packet[] = []
const http: { method: string; url: string; bodyBytes: number }[] = []
let coordinator: RunningCoordinator
const clientLogs: string[] = []
let exitCodes: number[] = []
let testLabels: number[] = []
let work: string
/** The fixed-point scale of the task's secure aggregation. */
let scale = 0
/** The hospital whose connection is cut in round 2, and each participant's latest connection. */
let victim: string | undefined
const socketOf = new Map<string, string>()

/**
 * Cuts one hospital's connection at a fixed point of round 2, seen from the packets: when the first
 * masked input of the round arrives, another hospital that has shared its keys but not yet sent its
 * masked input is cut off (before any further packet is read). Its masks are in the others' inputs,
 * so the coordinator must rebuild them from the shares; the client must reconnect and carry on.
 */
function cutMidRound2(sender: string | null): void {
  const stage = coordinator?.federation.secureStage
  if (victim !== undefined || coordinator?.federation.state.round !== 2 || stage?.stage !== 'masked-input')
    return
  victim = stage.waitingFor.find((name) => name !== sender)
  const socket = coordinator.io.of('/').sockets.get(socketOf.get(victim ?? '') ?? '')
  // after the sender's packet is handled, before the next one is read
  queueMicrotask(() => socket?.conn.close())
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-e2e-'))
  const data = join(work, 'data')
  await splitPneumonia(data, { hospitals: HOSPITALS, perHospital: 100, testLimit: 200, seed: 3 })
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
        // A round survives one hospital dropping out of secure aggregation (k = 3, t = 2).
        minParticipants: HOSPITALS - 1,
        participantsPerRound: HOSPITALS,
        roundDeadlineSeconds: 240,
        joinTimeoutSeconds: 240,
      },
      evaluation: { test: join(data, 'test') },
    },
    work,
  )
  if (task.aggregation.mode !== 'secure') throw new Error('the end-to-end task must aggregate securely')
  scale = task.aggregation.fixedPoint.scale
  coordinator = await startCoordinator({
    task,
    port: 0,
    outDir: join(work, 'run'),
    // a database of its own on the run's PostgreSQL server, cloned in milliseconds
    database: await testDatabase(),
    cacheDir: join(work, 'coordinator-cache'),
    quiet: true,
    print: () => {},
    tap: (e) => {
      packets.push({
        socket: e.socket,
        participant: e.participant,
        type: e.packet.type,
        data: e.packet.data,
      })
      if (e.participant !== null) socketOf.set(e.participant, e.socket)
      cutMidRound2(e.participant)
    },
    httpTap: (r) => http.push(r),
  })
  // The operator's invites, one per hospital (issueInvite is what `fedtune participant invite` calls).
  const invites: string[] = []
  for (let i = 1; i <= HOSPITALS; i++)
    invites.push(
      (await issueInvite(coordinator.store, { task: 'e2e', participant: `hospital-${i}`, createdBy: 'test' }))
        .code,
    )
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
        '--invite',
        invites[i] as string,
        '--audit',
        join(work, `audit-${i + 1}`),
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
  await coordinator.federation.done
  exitCodes = await Promise.all(exits)
}, 600_000)

afterAll(async () => {
  await coordinator?.close()
})

/** Re-decodes the raw inbound engine.io packets with the participants' own parser (packed frames), per connection. */
function decodeInbound(): { events: { participant: string | null; name: string; args: unknown[] }[] } {
  const decoders = new Map<string, PackedDecoder>()
  const events: { participant: string | null; name: string; args: unknown[] }[] = []
  for (const p of packets) {
    if (p.type !== 'message') continue
    let decoder = decoders.get(p.socket)
    if (!decoder) {
      decoder = new PackedDecoder()
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

/** What a hospital kept of its contribution to a round (client --audit): the exact masked-over input. */
function audited(
  hospital: number,
  round: number,
): { input: Uint32Array; delta: Float32Array; examples: number; evaluation: EvaluationCounts } {
  const base = join(work, `audit-${hospital}`, `round-${String(round).padStart(4, '0')}`)
  const words = readFileSync(`${base}.input.u32`)
  const floats = readFileSync(`${base}.delta.f32`)
  return {
    input: new Uint32Array(words.buffer.slice(words.byteOffset, words.byteOffset + words.byteLength)),
    delta: new Float32Array(floats.buffer.slice(floats.byteOffset, floats.byteOffset + floats.byteLength)),
    ...(() => {
      const kept = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as {
        examples: number
        metrics: { evaluation: EvaluationCounts }
      }
      return { examples: kept.examples, evaluation: kept.metrics.evaluation }
    })(),
  }
}

/** Every binary payload the coordinator received on the sockets, decoded per event. */
function inboundBinaries(): { name: string; stage: string | undefined; bytes: Buffer }[] {
  const out: { name: string; stage: string | undefined; bytes: Buffer }[] = []
  const walk = (name: string, stage: string | undefined, v: unknown) => {
    if (Buffer.isBuffer(v)) out.push({ name, stage, bytes: v })
    else if (Array.isArray(v)) for (const x of v) walk(name, stage, x)
    else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) walk(name, stage, x)
  }
  for (const e of decodeInbound().events) {
    const stage = (e.args[0] as { stage?: string } | undefined)?.stage
    walk(e.name, stage, e.args[0])
  }
  return out
}

function head(round: number): Float32Array {
  const bytes = readFileSync(join(work, 'run', 'heads', `round-${String(round).padStart(4, '0')}.f32`))
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
}

describe('a federation of three hospitals on PneumoniaMNIST', () => {
  it('completes every round securely, one hospital reconnecting midway', () => {
    expect(exitCodes, clientLogs.join('\n----\n')).toEqual([0, 0, 0])
    expect(coordinator.records.map((r) => r.status)).toEqual(Array(ROUNDS).fill('aggregated'))
    for (const r of coordinator.records) expect(r.survivors?.length).toBeGreaterThanOrEqual(HOSPITALS - 1)
    // every hospital took part in some round (a round starts once two are online)
    expect(new Set(coordinator.records.flatMap((r) => r.survivors ?? [])).size).toBe(HOSPITALS)
    expect(clientLogs.join('\n')).toMatch(/disconnected \(transport close\); reconnecting/)
    // round 2 lost the hospital cut off after sharing its keys, and rebuilt its masks from the shares
    expect(victim).toBeDefined()
    expect(coordinator.records[1]?.dropped).toEqual([victim])
    expect(coordinator.records[1]?.survivors).toHaveLength(HOSPITALS - 1)
  })

  it('the global head beats the majority-class baseline on the test set', () => {
    const majority = Math.max(...testLabels) / testLabels.reduce((a, b) => a + b, 0)
    const last = coordinator.records.at(-1)
    expect(last?.test?.examples).toBe(200)
    expect(last?.test?.accuracy).toBeGreaterThan(majority + 0.05)
    expect(last?.test?.auc).toBeGreaterThan(0.8)
  })

  it("each round's participants' figures are the pooled metrics of the surviving hospitals' own counts of the head they received", () => {
    for (const record of coordinator.records) {
      const survivors = (record.survivors ?? []).map((name) => Number(name.split('-')[1]))
      const own = survivors.map((h) => audited(h, record.round).evaluation)
      const pooled = own.reduce((a, b) => addEvaluationCounts(a, b))
      expect(record.participants).toEqual(pooledMetrics(pooled, 2))
      // every hospital holds out some of its images: the pooled figures count them all
      expect(record.participants?.examples).toBeGreaterThan(0)
    }
  })

  it('each aggregate is FedAvg of what the surviving hospitals put in, exactly, and of their updates within quantization error', () => {
    let previous = head(0)
    for (const record of coordinator.records) {
      const survivors = (record.survivors ?? []).map((name) => Number(name.split('-')[1]))
      const inputs = survivors.map((h) => audited(h, record.round))
      const params = coordinator.federation.task.paramCount
      // the unmasked sum must be the plain sum of the inputs mod 2^32: decode it the way the coordinator does
      const sum = new Uint32Array(inputs[0]?.input.length ?? 0)
      for (const { input } of inputs)
        for (let j = 0; j < sum.length; j++) sum[j] = (sum[j] as number) + (input[j] as number)
      const total = sum[params] as number
      expect(total).toBe(record.examples)
      const expected = previous.map((w, i) => Math.fround(w + ((sum[i] as number) | 0) / scale / total))
      const exact = inputs.reduce((n, u) => n + u.examples, 0)
      const float = previous.map(
        (w, i) => w + inputs.reduce((s, u) => s + u.examples * (u.delta[i] as number), 0) / exact,
      )
      const actual = head(record.round)
      let maxDiff = 0
      let quantization = 0
      for (let i = 0; i < actual.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs((actual[i] as number) - (expected[i] as number)))
        quantization = Math.max(quantization, Math.abs((actual[i] as number) - (float[i] as number)))
      }
      expect(maxDiff).toBe(0)
      // rounding n·Δ to 1/scale per hospital: at most (hospitals · 0.5 / scale) / Σn per weight
      expect(quantization).toBeLessThan((inputs.length * 0.5) / scale / exact + 1e-6)
      previous = actual
    }
  })

  it('the coordinator received only keys, sealed shares and masked vectors: no update, image, pixel array or embedding', () => {
    const params = coordinator.federation.task.paramCount
    const dim = secureVectorLength(params, 2)
    expect(params).toBeGreaterThan(300_000)
    const names = new Set(decodeInbound().events.map((e) => e.name))
    expect([...names].sort()).toEqual(['hello', 'secagg'])
    const binaries = inboundBinaries()
    const masked = binaries.filter((b) => b.stage === 'masked-input')
    expect(masked.length).toBeGreaterThanOrEqual((HOSPITALS - 1) * ROUNDS)
    // since fedtune/7 a stage's list is one field of fixed records: sealed shares (one per neighbour)
    // and revealed shares (at most two per round member); since fedtune/9 an unmask answer also
    // carries a correction (dim words of masks) when a neighbour dropped; everything else is a key
    // or a signature
    const corrections = binaries.filter((b) => b.stage === 'unmask' && b.bytes.byteLength === dim * 4)
    for (const b of binaries)
      if (b.stage === 'masked-input') expect(b.bytes.byteLength).toBe(dim * 4)
      else if (b.stage === 'share-keys') {
        expect(b.bytes.byteLength % SHARE_RECORD_BYTES).toBe(0)
        expect(b.bytes.byteLength).toBeLessThanOrEqual((HOSPITALS - 1) * SHARE_RECORD_BYTES)
      } else if (b.stage === 'unmask' && !corrections.includes(b)) {
        expect(b.bytes.byteLength % REVEALED_RECORD_BYTES).toBe(0)
        expect(b.bytes.byteLength).toBeLessThanOrEqual(HOSPITALS * REVEALED_RECORD_BYTES)
      } else if (b.stage !== 'unmask') expect(b.bytes.byteLength).toBeLessThanOrEqual(64) // keys 32, signatures 64
    // none here: this head's 328k-word vector is past MAX_CORRECTION_WORDS, so the coordinator rebuilt
    // the dropout's mask key instead (a small head's survivors send one: test/coordinator/secure-sockets)
    expect(dim).toBeGreaterThan(MAX_CORRECTION_WORDS)
    expect(corrections).toEqual([])
    // a masked vector, and a correction, looks uniform: every byte value about equally often (chi-square, 255 d.f.)
    for (const { bytes } of [...masked, ...corrections]) {
      const counts = new Array<number>(256).fill(0)
      for (const x of bytes) counts[x] = (counts[x] as number) + 1
      const expectedCount = bytes.length / 256
      const chi2 = counts.reduce((s, c) => s + (c - expectedCount) ** 2 / expectedCount, 0)
      expect(chi2).toBeLessThan(400) // p ≈ 1e-7 for a uniform source; an unmasked update scores in the millions
    }
    // and none of them is a hospital's own input or update
    const first = coordinator.records[0]?.survivors ?? []
    for (const h of first.map((name) => Number(name.split('-')[1]))) {
      const mine = audited(h, 1)
      const plain = Buffer.from(mine.input.buffer, mine.input.byteOffset, mine.input.byteLength)
      const floats = Buffer.from(mine.delta.buffer, mine.delta.byteOffset, mine.delta.byteLength)
      for (const { bytes } of masked) {
        expect(bytes.equals(plain)).toBe(false)
        expect(bytes.subarray(0, 64).equals(floats.subarray(0, 64))).toBe(false)
      }
    }
    for (const { bytes } of binaries) {
      expect(bytes.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toBe(false) // PNG
      expect(bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(false) // JPEG
    }
    // text payloads are envelopes, ids and counts, far too small to carry a 28x28 image or a 1280-d embedding
    for (const p of packets) if (typeof p.data === 'string') expect(p.data.length).toBeLessThan(4000)
    // over HTTP the hospitals only downloaded the backbone: GETs with empty bodies
    expect(http.length).toBeGreaterThan(0)
    for (const r of http) {
      expect(r.method).toBe('GET')
      expect(r.bodyBytes).toBe(0)
    }
  })
})
