import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  attachSockets,
  buildApp,
  type ExcludedEntry,
  FEDAVG,
  Federation,
  RoundLog,
  type RoundRecord,
  writeExclusion,
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
 * A coordinator running secure rounds on port 0, with its run folder, and scripted participants
 * that speak SecAgg+ honestly except where a test makes them lie: for the blame tests (complaints
 * named in the round record, exclusion from the run).
 */
const head: HeadSpec = { layers: [], labels: ['a', 'b'] }
export const params = paramCount(head, 8)
const fixedPoint: FixedPoint = fixedPointFor({ participants: 4, maxExamples: 1000, clipNorm: 10 })
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

export type BlameHarness = {
  readonly url: string
  readonly app: FastifyInstance
  readonly federation: Federation
  readonly runDir: string
  readonly records: RoundRecord[]
  readonly warnings: string[]
  readonly sockets: Socket[]
  close(): Promise<void>
}

export async function startBlameCoordinator(opts: {
  rounds: number
  minParticipants: number
  participantsPerRound: number
  /** How long a round waits for a full selection once enough are online (0: it starts at once). */
  gatherMs?: number
  /** A resumed run's folder: its exclusions and enrolments (read as start.ts reads them). */
  resume?: {
    readonly excluded: ReadonlyMap<string, ExcludedEntry>
    readonly enrolled: ReadonlyMap<string, Uint8Array>
  }
}): Promise<BlameHarness> {
  const backboneDir = mkdtempSync(join(tmpdir(), 'fedtune-blame-backbone-'))
  const modelJson = '{"format":"layers-model"}'
  writeFileSync(join(backboneDir, 'model.json'), modelJson)
  const files = [{ name: 'model.json', sha256: sha(modelJson), bytes: modelJson.length }]
  const digest = sha(`${files[0]?.sha256}  model.json\n`)
  const task: TaskInfo = {
    taskId: 'blame-test',
    name: 'blame-test',
    description: '',
    rounds: opts.rounds,
    backbone: { digest, path: `/backbone/${digest}/`, files, inputSize: 224, embeddingDim: 8 },
    head,
    paramCount: params,
    aggregation: 'secure',
    browsers: { enabled: false, maxPerRound: 1 },
  }
  const runDir = mkdtempSync(join(tmpdir(), 'fedtune-blame-run-'))
  const log = new RoundLog(runDir)
  const warnings: string[] = []
  const federation = new Federation({
    task,
    config: {
      rounds: opts.rounds,
      minParticipants: opts.minParticipants,
      participantsPerRound: opts.participantsPerRound,
      maxBrowsersPerRound: 0,
      seed: 1,
      server: FEDAVG,
      secure: true,
      gatherMs: opts.gatherMs ?? 0,
    },
    initial: new Float32Array(params),
    labelPrior: 'local',
    training: ONE_SGD_EPOCH,
    roundDeadlineMs: 20_000,
    joinTimeoutMs: 20_000,
    log,
    secure: {
      parameters: {
        neighbours: 3,
        threshold: 2,
        stageDeadlineMs: 5000,
        minSurvivors: opts.minParticipants,
      },
      fixedPoint,
      crypto: nodeCrypto,
    },
    onWarning: (w) => warnings.push(w),
    onExclude: (entry) => writeExclusion(runDir, entry),
    ...(opts.resume ? { excluded: opts.resume.excluded, enrolled: opts.resume.enrolled } : {}),
  })
  const app = buildApp({ backbone: { dir: backboneDir, digest, files }, federation, log })
  attachSockets(app.server, { federation })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const sockets: Socket[] = []
  return {
    url,
    app,
    federation,
    runDir,
    records: log.records,
    warnings,
    sockets,
    async close() {
      for (const s of sockets) s.disconnect()
      federation.stop('test over')
      await app.close()
      rmSync(runDir, { recursive: true, force: true })
      rmSync(backboneDir, { recursive: true, force: true })
    },
  }
}

/** Where a dishonest participant lies: the relay it answers, or the message it sends. */
export type Lie = {
  /** Changes a relayed stage message before the participant's SecaggParticipant sees it. */
  readonly heard?: (raw: { stage: string } & Record<string, unknown>) => unknown
  /** Changes the participant's own stage message before it goes out. */
  readonly said?: (message: { stage: string } & Record<string, unknown>) => unknown
}

export type ScriptedParticipant = {
  readonly socket: Socket
  readonly joined: Promise<HelloAck<ReceivedRefusalCode>>
  /** Every stage message it sent, with the coordinator's acknowledgement. */
  readonly sent: { readonly round: number; readonly stage: string; readonly ack: UpdateAck | null }[]
  /** Resolves with the round number when it is selected for a round. */
  selected(): Promise<number>
}

/** A participant answering every secure stage with `delta` (weight `examples`), lying as `lie` says. */
export function scriptedParticipant(
  h: BlameHarness,
  name: string,
  delta: Float32Array,
  examples: number,
  lie: Lie = {},
): ScriptedParticipant {
  const socket = connect(h.url, { transports: ['websocket'], reconnection: false })
  challengeOf(socket)
  h.sockets.push(socket)
  let party: SecaggParticipant | undefined
  let round = 0
  const sent: ScriptedParticipant['sent'] = []
  const emit = async (message: { stage: string } & Record<string, unknown>) => {
    const out = lie.said ? lie.said(message) : message
    const entry = { round, stage: message.stage, ack: null as UpdateAck | null }
    sent.push(entry)
    // An excluded participant's socket closes under its pending acknowledgements: null then.
    entry.ack = (await (socket.emitWithAck('secagg', out) as Promise<UpdateAck>).catch(() => null)) ?? null
  }
  socket.on('round', (raw: unknown) => {
    const start = parseRoundStart(raw, params, 2)
    if (!start.secagg) throw new Error('expected a secure round')
    party?.abandon()
    round = start.round
    party = new SecaggParticipant({
      crypto: nodeCrypto,
      identitySeed: seedOf(name),
      context: roundContext(start.secagg.setup),
    })
    void emit(party.advertise())
  })
  socket.on('secagg', async (relayed: { stage: string } & Record<string, unknown>) => {
    const current = party
    if (current === undefined || current.stage === 'done') return
    const raw = lie.heard ? lie.heard(relayed) : relayed
    if (relayed.stage === 'advertise') await emit(await current.shareKeys(raw))
    else if (relayed.stage === 'share-keys') {
      const input = encodeSecureContribution(
        { delta, examples, labelCounts: [examples, 0], valExamples: 4, valCorrect: 3 },
        fixedPoint,
      )
      await emit(await current.maskedInput(raw, input))
    } else if (relayed.stage === 'unmask') await emit(current.unmask(raw))
  })
  const joined = sayHello(socket, { participant: name })
  const selected = () =>
    new Promise<number>((resolve) => socket.once('round', (r: { round: number }) => resolve(r.round)))
  return { socket, joined, sent, selected }
}

/** A fresh connection saying hello under `name` (with its usual identity key); resolves with the ack. */
export async function helloAgain(
  h: BlameHarness,
  name: string,
  seed = seedOf(name),
): Promise<HelloAck<ReceivedRefusalCode>> {
  const socket = connect(h.url, { transports: ['websocket'], reconnection: false })
  challengeOf(socket)
  h.sockets.push(socket)
  return sayHello(socket, { participant: name, seed })
}

export const filled = (v: number) => new Float32Array(params).fill(v)
