import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  appendSpentRound,
  checkRound,
  openPrivacyBudget,
  privacyLedgerFile,
  readPrivacyLedger,
  releaseRound,
} from '@fedtune/client-node'
import type { LocalResult } from '@fedtune/model'
import {
  decodeSecureSum,
  emptyEvaluationCounts,
  encodeSecaggSetup,
  encodeWeights,
  epsilonOf,
  type Finished,
  formatEpsilon,
  type HeadSpec,
  NONCE_BYTES,
  type PrivacySettings,
  packedParser,
  paramCount,
  type RandomSource,
  type RoundResult,
  ringScale,
  roundPrivacyEvent,
  type SpentRound,
  seededSource,
  type TaskInfo,
  type WireRoundStart,
} from '@fedtune/protocol'
import { Server } from 'socket.io'
import { afterAll, describe, expect, it } from 'vitest'
import { fedtuneProcess } from '../cli/fedtune-process.ts'
import { examplePrivacy as example, participantPrivacy as participant } from '../privacy-fixture.ts'

/**
 * `fedtune client` against a coordinator that says just enough of the protocol on a real socket (port
 * 0): a challenge, a hello acknowledged with a task, then one round. The backbone's files are never
 * served (their requests are held open, or answered 404), so each test ends where the hospital's
 * privacy decides, before any image is read.
 */
const work = mkdtempSync(join(tmpdir(), 'fedtune-client-privacy-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const head: HeadSpec = { layers: [], labels: ['normal', 'pneumonia'] }
const embeddingDim = 8
const params = paramCount(head, embeddingDim)

function taskInfo(name: string, privacy: PrivacySettings | null): TaskInfo {
  const file = 'cd'.repeat(32)
  // the digest of the file list, which the client checks before it downloads anything
  const digest = createHash('sha256').update(`${file}  model.json\n`).digest('hex')
  return {
    taskId: name,
    name,
    description: '',
    rounds: 20,
    ordinal: false,
    backbone: {
      digest,
      path: `/backbone/${digest}/`,
      files: [{ name: 'model.json', sha256: file, bytes: 10 }],
      inputSize: 224,
      embeddingDim,
      views: ['original'],
    },
    head,
    paramCount: params,
    aggregation: 'secure',
    browsers: { enabled: false, maxPerRound: 1 },
    privacy,
    inputCentre: null,
  }
}

/** A secure round as the coordinator hands it out, at fixed point `scale` clipping to `clipNorm`. */
function secureRound(task: TaskInfo, round: number, clipNorm: number, scale: number): WireRoundStart {
  return {
    round,
    weights: encodeWeights(new Float32Array(params)),
    training: {
      epochs: 1,
      batchSize: 8,
      optimizer: 'sgd',
      learningRate: 0.1,
      classWeights: 'none',
      loss: 'cross-entropy',
      prior: null,
      seed: 1,
    },
    deadlineMs: 60_000,
    secagg: {
      setup: encodeSecaggSetup({
        taskId: task.taskId,
        round,
        identityKeys: [1, 2, 3].map((i) => new Uint8Array(32).fill(i)),
        neighbourCount: 2,
        neighbourSeed: new Uint8Array(32),
        threshold: 2,
        dim: params + 1,
      }),
      fixedPoint: { clipNorm, scale, maxExamples: 1 },
    },
    predictionPrior: null,
  }
}

/**
 * The coordinator's side, scripted: every hello is let in with `task`, and `round` (if any) follows,
 * then `told` (if any): round results, and the run's end.
 * `backbone`: what a backbone download gets, held open (the client never gets past it) or a 404.
 */
async function scriptedCoordinator(
  task: TaskInfo,
  round: WireRoundStart | null,
  backbone: 'held' | 'missing',
  told: { readonly results: readonly RoundResult[]; readonly finished: Finished } | null = null,
): Promise<{ url: string; close: () => Promise<void> }> {
  const held: ServerResponse[] = []
  const http = createServer((_request, response) => {
    if (backbone === 'held') held.push(response)
    else response.writeHead(404).end()
  })
  const io = new Server(http, { parser: packedParser, transports: ['websocket'] })
  io.on('connection', (socket) => {
    socket.emit('challenge', { taskId: task.taskId, nonce: randomBytes(NONCE_BYTES) })
    socket.on('hello', (_hello: unknown, ack: (reply: unknown) => void) => {
      ack({ ok: true, task })
      if (round) socket.emit('round', round)
      if (told) {
        for (const result of told.results) socket.emit('round-result', result)
        socket.emit('finished', told.finished)
      }
    })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const response of held) response.destroy()
      io.close()
      http.closeAllConnections()
    },
  }
}

function client(url: string, cache: string, name: string, ...more: string[]) {
  return fedtuneProcess([
    'client',
    '--coordinator',
    url,
    '--data',
    join(work, 'no-images'),
    '--cache',
    cache,
    '--name',
    name,
    ...more,
  ])
}

/** `k` rounds of `task` in the hospital's ledger, as a client that trained them would have kept them. */
function kept(cache: string, name: string, task: TaskInfo, events: SpentRound['event'][]): void {
  const file = privacyLedgerFile(cache, task.taskId, name)
  for (const [i, event] of events.entries())
    appendSpentRound(file, { task: task.taskId, round: i + 1, time: '2026-12-03T10:00:00.000Z', event })
}

describe('the hospital client and the task’s privacy', () => {
  it('prints the privacy statement before anything else of the task, also that a task without privacy has no guarantee', async () => {
    const task = taskInfo('plain', null)
    const coordinator = await scriptedCoordinator(task, null, 'missing')
    try {
      const { code, stdout } = await client(coordinator.url, join(work, 'cache-plain'), 'hospital-a')
      expect(code).toBe(1) // then the backbone cannot be downloaded here
      const lines = stdout.split('\n')
      const joined = lines.findIndex((l) => l.startsWith('joined task "plain" as hospital-a'))
      expect(joined).toBeGreaterThan(-1)
      expect(lines[joined + 1]).toBe('This task gives no differential-privacy guarantee.')
      expect(lines[joined + 2]).toMatch(/^Updates are securely aggregated/)
    } finally {
      await coordinator.close()
    }
  })

  it('unit "participant": a round past the target is refused with the figures, and the client leaves the run (exit 4) with its ledger as it was', async () => {
    const task = taskInfo('volunteers', participant)
    const cache = join(work, 'cache-participant')
    const scale = ringScale({
      participants: 10,
      minParticipants: 4,
      clip: participant.clipNorm,
      noiseMultiplier: participant.noiseMultiplier,
      dimension: params,
    }).scale
    const round = roundPrivacyEvent(participant, { steps: 0, scale, dimension: params })
    // as many rounds as fit the target, kept by an earlier run of this client
    let fits = 0
    while (epsilonOf(Array(fits + 1).fill(round), participant.delta) <= participant.epsilon) fits++
    kept(cache, 'hospital-b', task, Array(fits).fill(round))
    const coordinator = await scriptedCoordinator(task, secureRound(task, fits + 1, 0.5, scale), 'held')
    try {
      const { code, stdout, stderr } = await client(coordinator.url, cache, 'hospital-b')
      const spent = formatEpsilon(epsilonOf(Array(fits).fill(round), 1e-5))
      const after = formatEpsilon(epsilonOf(Array(fits + 1).fill(round), 1e-5))
      expect(stdout).toContain(
        'Differential privacy for each participant (a whole hospital or volunteer): (ε = 8.00, δ = 1e-5)',
      )
      expect(stdout).toContain(
        `privacy budget: ε spent ${spent} of 8.00 (δ 1e-5), ${fits} rounds trained before (${privacyLedgerFile(cache, 'volunteers', 'hospital-b')})`,
      )
      expect(stdout).toContain(
        `round ${fits + 1} would take this participant's privacy budget to ε ${after}, past the task's target ε 8.00 (δ 1e-5); ${fits} rounds trained so far spent ε ${spent}: leaving the run\n`,
      )
      expect(stdout).toMatch(
        /left the run: this hospital's privacy budget for the task does not allow another round \(exit status 4\)\n$/,
      )
      expect(stderr).toBe('')
      expect(code).toBe(4)
      expect(readPrivacyLedger(privacyLedgerFile(cache, 'volunteers', 'hospital-b'))).toHaveLength(fits)
    } finally {
      await coordinator.close()
    }
  })

  it('unit "example": a budget that cannot take another round leaves at the join, before any download, in json lines too', async () => {
    const task = taskInfo('hospitals', example)
    const cache = join(work, 'cache-example')
    const round = roundPrivacyEvent(example, { steps: example.stepsPerRound, scale: 1, dimension: params })
    let fits = 0
    while (epsilonOf(Array(fits + 1).fill(round), example.delta) <= example.epsilon) fits++
    kept(cache, 'hospital-c', task, Array(fits).fill(round))
    const coordinator = await scriptedCoordinator(task, null, 'missing')
    try {
      const { code, stdout } = await client(coordinator.url, cache, 'hospital-c', '--log-format', 'json')
      const events = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      const statement = events.filter((e) => e.event === 'privacy-statement')
      expect(statement[0]).toMatchObject({
        part: 1,
        unit: 'example',
        epsilon: 3,
        delta: 1e-5,
        samplingRate: 0.05,
      })
      expect(statement[0]?.message).toMatch(/^Differential privacy for each example/)
      const refusal = events.find((e) => e.event === 'privacy-budget-spent')
      expect(refusal).toMatchObject({ level: 'warn', rounds: fits, target: 3, delta: 1e-5 })
      expect(refusal?.after as number).toBeGreaterThan(3)
      expect(refusal?.message).toMatch(/^another round would take this participant's privacy budget to ε/)
      expect(events.at(-1)).toMatchObject({ event: 'left', exitStatus: 4 })
      // it left before fetching the backbone: no download failure, no error
      expect(events.some((e) => e.level === 'error')).toBe(false)
      expect(code).toBe(4)
    } finally {
      await coordinator.close()
    }
  })
})

describe('the coordinator’s ε beside this hospital’s', () => {
  it('after a round both are printed, labelled, and a coordinator that reports more over rounds the hospital all released is warned about loudly', async () => {
    const task = taskInfo('reported', participant)
    const cache = join(work, 'cache-reported')
    const round = roundPrivacyEvent(participant, { steps: 0, scale: 2 ** 20, dimension: params })
    // this hospital released rounds 1 and 2 (kept in its ledger)
    kept(cache, 'hospital-r', task, [round, round])
    const own = epsilonOf([round, round], participant.delta)
    const result = (n: number, epsilon: number): RoundResult => ({
      round: n,
      status: 'aggregated',
      reason: null,
      participants: 5,
      accuracy: null,
      auc: null,
      epsilon,
    })
    // round 2: the coordinator says 1 more than the ledger over rounds 1 and 2, which it all released;
    // round 3 (not released here) may well cost the federation more
    const coordinator = await scriptedCoordinator(task, null, 'held', {
      results: [result(2, own + 1), result(3, own + 2)],
      finished: { rounds: 3, completed: 3 },
    })
    try {
      const { stdout, stderr } = await client(coordinator.url, cache, 'hospital-r')
      for (const [n, reported] of [
        [2, own + 1],
        [3, own + 2],
      ] as const)
        expect(stdout).toContain(
          `round ${n}: ε spent ${formatEpsilon(own)} of 8.00 (δ 1e-5) by this hospital's ledger (2 rounds it released, each at the worst case of 4 survivors) · the coordinator reports ε ${formatEpsilon(reported)} (every round the federation released, with its survivors)\n`,
        )
      expect(stdout.match(/WARNING/g)).toHaveLength(1)
      expect(stdout).toContain(
        `WARNING: round 2: the coordinator reports ε ${formatEpsilon(own + 1)} spent, more than this hospital's ledger's ε ${formatEpsilon(own)}, although this hospital released an update in each of the 2 rounds: its ledger may have missed a release`,
      )
      expect(stderr).toBe('')
    } finally {
      await coordinator.close()
    }
  })
})

describe('this hospital’s budget for a task', () => {
  const task = taskInfo('in-process', participant)
  const scale = 2 ** 20
  const fixedPoint = { clipNorm: participant.clipNorm, scale, maxExamples: 1 }
  const result: LocalResult = {
    delta: new Float32Array(params).fill(0.01),
    examples: 36,
    labelCounts: [10, 26],
    metrics: { trainLoss: 0.5, evaluation: emptyEvaluationCounts(2) },
    received: null,
    privateSteps: null,
  }
  /** A seeded source that counts its draws. */
  const counted = () => {
    const source = seededSource(5)
    const counter = { draws: 0 }
    const random: RandomSource = {
      nextUint32: () => {
        counter.draws++
        return source.nextUint32()
      },
    }
    return { random, counter }
  }

  it('keeps a round in the ledger before it hands out the vector to mask: the update and its noise, no counts', () => {
    const cache = join(work, 'in-process-a')
    const budget = openPrivacyBudget(task, participant, cache, 'h')
    expect(budget).toMatchObject({ spent: [], epsilon: 0 })
    const { random } = counted()
    const { input, budget: after } = releaseRound(budget, 1, result, fixedPoint, random, () => new Date(0))
    const file = privacyLedgerFile(cache, 'in-process', 'h')
    const event = roundPrivacyEvent(participant, { steps: 0, scale, dimension: params })
    expect(readPrivacyLedger(file)).toEqual([
      { task: 'in-process', round: 1, time: '1970-01-01T00:00:00.000Z', event },
    ])
    expect(after.epsilon).toBe(epsilonOf([event], participant.delta))
    // a restart reads the same budget
    expect(openPrivacyBudget(task, participant, cache, 'h')).toEqual(after)
    expect(input).toHaveLength(params + 1)
    expect(input[params]).toBe(1)
    const decoded = decodeSecureSum(input, params, 2, fixedPoint, true).weightedSum
    // Δ plus one participant's share of the noise: σ_i = z·C·s/√m grid units, 0.325 here
    const words = Array.from(decoded.subarray(0, params))
    expect(words.some((w) => Math.abs(w - 0.01) > 0.01)).toBe(true)
    expect(words.every((w) => Math.abs(w - 0.01) < 6 * 0.325)).toBe(true)
  })

  it('sends nothing when the round cannot be kept: no noise drawn, no vector', () => {
    const cache = join(work, 'in-process-b')
    const budget = openPrivacyBudget(task, participant, cache, 'h')
    // the ledger's folder is a file: nothing can be written under it
    appendSpentRound(join(cache, 'privacy', 'in-process'), {
      task: 'x',
      round: 1,
      time: 'now',
      event: { kind: 'subsampled-gaussian', steps: 1, samplingRate: 1, noiseMultiplier: 1 },
    })
    const { random, counter } = counted()
    expect(() => releaseRound(budget, 1, result, fixedPoint, random)).toThrow(/EEXIST|ENOTDIR/)
    expect(counter.draws).toBe(0)
  })

  it('decides a round of unit "example" at the join (its steps are public), of unit "participant" only with the round’s scale', () => {
    const cache = join(work, 'in-process-c')
    expect(checkRound(openPrivacyBudget(task, participant, cache, 'h'), null, 'another round')).toBeNull()
    const forExample = openPrivacyBudget(taskInfo('in-process', example), example, cache, 'h')
    expect(checkRound(forExample, null, 'another round')).toMatchObject({ train: true, rounds: 0 })
    const decision = checkRound(
      openPrivacyBudget(task, participant, cache, 'h'),
      { epochs: 1, scale },
      'round 1',
    )
    expect(decision).toMatchObject({
      train: true,
      after: epsilonOf([roundPrivacyEvent(participant, { steps: 0, scale, dimension: params })], 1e-5),
    })
  })
})
