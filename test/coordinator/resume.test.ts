import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { headFile, openRunFolder, RoundLog, type RunMeta } from '@fedtune/coordinator'
import { readBackboneFolder } from '@fedtune/model/node'
import {
  encodeWeights,
  PROTOCOL_VERSION,
  packedParser,
  parseChallenge,
  signHello,
  type TaskInfo,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { io as connect } from 'socket.io-client'
import { describe, expect, it } from 'vitest'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const backboneDir = join(repo, '..', 'shared', 'backbones', 'mobilenet_v2_0.35_224')

const meta: RunMeta = {
  format: 'fedtune-run/1',
  task: 't',
  backboneDigest: 'a'.repeat(64),
  head: { layers: [], labels: ['x', 'y'] },
  paramCount: 3,
  createdAt: '2026-01-01T00:00:00.000Z',
}

const record = (round: number, status: 'aggregated' | 'failed') => ({
  round,
  status,
  reason: null,
  startedAt: '',
  durationMs: 1,
  selected: [],
  contributions: [],
  dropped: [],
  examples: 1,
  global: null,
  local: null,
})

describe('the run folder', () => {
  it('a new folder gets run.json and nothing to resume', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedtune-run-'))
    expect(openRunFolder(dir, meta, false)).toBeNull()
    expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'))).toEqual(meta)
  })

  it('an existing run is never overwritten without --resume', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedtune-run-'))
    openRunFolder(dir, meta, false)
    expect(() => openRunFolder(dir, meta, false)).toThrow(/already holds a run of task "t".*pass --resume/)
  })

  it('resumes from the last recorded round with the last aggregated head, dropping a torn last line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedtune-run-'))
    openRunFolder(dir, meta, false)
    const log = new RoundLog(dir)
    log.writeHead(0, new Float32Array([0, 0, 0]))
    log.writeHead(1, new Float32Array([1, 2, 3]))
    log.append(record(1, 'aggregated'))
    log.append(record(2, 'failed'))
    appendFileSync(join(dir, 'rounds.jsonl'), '{"round":3,"sta') // the crash hit mid-write
    const resumed = openRunFolder(dir, meta, true)
    expect(resumed).toMatchObject({ round: 2, completed: 1, failed: 1, droppedPartialLine: true })
    expect(Array.from(resumed?.global ?? [])).toEqual([1, 2, 3])
    expect(readFileSync(join(dir, 'rounds.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2)
  })

  it('resumes FedAdam with the moments saved beside the last head, and the label mix of that round', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedtune-run-'))
    openRunFolder(dir, meta, false)
    const log = new RoundLog(dir)
    const server = { m: new Float32Array([0.1, 0.2, 0.3]), v: new Float32Array([1, 2, 3]) }
    log.writeHead(1, new Float32Array([1, 2, 3]), server)
    log.append({ ...record(1, 'aggregated'), labelCounts: [40, 60] })
    log.append(record(2, 'failed'))
    const resumed = openRunFolder(dir, meta, true)
    expect(Array.from(resumed?.server?.m ?? [])).toEqual(Array.from(server.m))
    expect(Array.from(resumed?.server?.v ?? [])).toEqual(Array.from(server.v))
    expect(resumed?.labelCounts).toEqual([40, 60])
  })

  it('refuses to resume a run of a different head or backbone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedtune-run-'))
    openRunFolder(dir, meta, false)
    new RoundLog(dir).writeHead(0, new Float32Array(3))
    expect(() => openRunFolder(dir, { ...meta, backboneDigest: 'b'.repeat(64) }, true)).toThrow(
      `its backbone digest is ${'a'.repeat(64)}, the task file now says ${'b'.repeat(64)}`,
    )
  })
})

type Coordinator = { child: ChildProcess; url: Promise<string>; exited: Promise<number>; lines: string[] }

function coordinator(args: string[]): Coordinator {
  const child = spawn(process.execPath, [bin, 'coordinator', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line)
      const match = / at (http:\/\/[^\s]+):/.exec(line)
      if (match?.[1]) resolve(match[1])
    })
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => lines.push(line))
    child.once('exit', () => reject(new Error(`the coordinator exited: ${lines.join('\n')}`)))
  })
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : 0))),
  )
  return { child, url, exited, lines }
}

describe('a coordinator that crashes mid-run', () => {
  it('continues with --resume from the last round it recorded, and participants carry on', async () => {
    const work = mkdtempSync(join(tmpdir(), 'fedtune-crash-'))
    const { digest } = await readBackboneFolder(backboneDir)
    const taskFile = join(work, 'task.json')
    writeFileSync(
      taskFile,
      JSON.stringify({
        name: 'crash',
        backbone: { source: backboneDir, sha256: digest },
        head: { labels: ['x', 'y'] },
        training: { rounds: 3 },
        participation: { minParticipants: 1, roundDeadlineSeconds: 60 },
        // A scripted participant sends plain deltas; resuming does not depend on how they arrive.
        aggregation: { mode: 'plaintext-debug' },
      }),
    )
    const out = join(work, 'run')
    const first = coordinator(['--task', taskFile, '--port', '0', '--out', out])
    const url = await first.url
    const port = new URL(url).port

    // A participant that says hello on every (re)connect and answers each round with Δ = round,
    // except round 2 of the first coordinator, which it holds: that round cannot end before the kill
    // (one participant, minParticipants 1, a 60 s deadline), so the kill lands after round 1 for certain.
    let task: TaskInfo | undefined
    const answered: number[] = []
    let killed = false
    let round2Held: () => void = () => {}
    const round2Opened = new Promise<void>((resolve) => {
      round2Held = resolve
    })
    // It connects again once the second coordinator listens, not on a timer: retries against a port
    // with no listener could even connect to themselves (a TCP self-connect) and take the port.
    const socket = connect(url, { transports: ['websocket'], parser: packedParser, reconnection: false })
    // As the hospital client does: a hello signing each connection's challenge.
    socket.on('challenge', (raw: unknown) => {
      const hello = signHello(nodeCrypto, new Uint8Array(32).fill(7), parseChallenge(raw), {
        protocol: PROTOCOL_VERSION,
        participant: 'h1',
        kind: 'hospital',
        agent: 'test',
      })
      socket.emit('hello', hello, (ack: { task: TaskInfo }) => {
        task = ack.task
      })
    })
    socket.on('round', (r: { round: number }) => {
      if (!task) return
      if (r.round === 2 && !killed) return round2Held()
      const delta = new Float32Array(task.paramCount).fill(r.round)
      const metrics = { trainLoss: 0.1, valAccuracy: null, valAuc: null, valExamples: 0 }
      socket.emit(
        'update',
        { round: r.round, delta: encodeWeights(delta), examples: 1, labelCounts: [1, 0], metrics },
        () => {
          answered.push(r.round)
        },
      )
    })
    let finished = false
    socket.on('finished', () => {
      finished = true
      // as the hospital client does: leave on 'finished', which lets the coordinator exit at once
      socket.disconnect()
    })
    // Round 2 opens only after round 1's record is appended to rounds.jsonl.
    await round2Opened
    expect(readFileSync(join(out, 'rounds.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1)

    const cut = new Promise((resolve) => socket.once('disconnect', resolve))
    first.child.kill('SIGKILL')
    expect(await first.exited).toBe(-1)
    expect(await cut).toBe('transport close')
    killed = true
    const second = coordinator(['--task', taskFile, '--port', port, '--out', out, '--resume'])
    await second.url
    socket.connect()
    expect(await second.exited).toBe(0)
    // the coordinator exits only after its 'finished' has reached the participants still connected
    expect(finished).toBe(true)

    const rounds = readFileSync(join(out, 'rounds.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { round: number; status: string })
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3])
    expect(second.lines.join('\n')).toMatch(/resuming .* after round 1/)
    // Each round adds Δ = round to the head: 1 + 2 + 3 from the initial one.
    const initial = new Float32Array(readFileSync(headFile(out, 0)).buffer.slice(0))
    const final = new Float32Array(readFileSync(headFile(out, 3)).buffer.slice(0))
    expect(final[0]).toBeCloseTo((initial[0] as number) + 6, 5)
    expect(answered).toEqual([1, 2, 3])
  }, 300_000)
})
