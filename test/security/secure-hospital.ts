import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTaskFile } from '@fedtune/coordinator'
import { type RunningCoordinator, startCoordinator } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import {
  encodeSecureContribution,
  type FixedPoint,
  type HelloAck,
  type NeighbourAdvertisements,
  parseRoundStart,
  type ReceivedRefusalCode,
  roundContext,
  type SecaggContext,
  SecaggParticipant,
  type UpdateAck,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { io as connect, type Socket } from 'socket.io-client'
import { challengeOf, sayHello, seedOf } from '../coordinator/hello.ts'

/**
 * A real coordinator (startCoordinator: run folder, enrolment file, sockets on port 0) for the
 * attacks on its secure rounds, and honest hospitals that speak the SecAgg+ protocol in-process.
 */
const backboneDir = join(
  fileURLToPath(new URL('../../../shared/', import.meta.url)),
  'backbones',
  'mobilenet_v2_0.35_224',
)

export type Coordinator = RunningCoordinator & { readonly outDir: string; readonly lines: string[] }

/**
 * A secure task of `rounds` with room for `places` participants per round, which starts the
 * moment all of them are online (a long gather window) and needs `minParticipants` to aggregate.
 */
export async function startSecureCoordinator(opts: {
  readonly places: number
  readonly minParticipants: number
  readonly neighbours: number
  readonly threshold: number
  readonly stageDeadlineSeconds: number
  readonly rounds?: number
}): Promise<Coordinator> {
  await initBackend()
  const { digest } = await readBackboneFolder(backboneDir)
  const work = mkdtempSync(join(tmpdir(), 'fedtune-security-'))
  const task = parseTaskFile(
    {
      name: 'security',
      backbone: { source: backboneDir, sha256: digest },
      head: { labels: ['a', 'b'] },
      training: { rounds: opts.rounds ?? 1 },
      participation: {
        minParticipants: opts.minParticipants,
        participantsPerRound: opts.places,
        gatherSeconds: 3600,
      },
      aggregation: {
        neighbours: opts.neighbours,
        threshold: opts.threshold,
        stageDeadlineSeconds: opts.stageDeadlineSeconds,
      },
    },
    work,
  )
  const outDir = join(work, 'run')
  const lines: string[] = []
  const running = await startCoordinator({
    task,
    port: 0,
    outDir,
    cacheDir: join(work, 'cache'),
    quiet: true,
    print: (line) => lines.push(line),
  })
  return { ...running, outDir, lines }
}

/** A socket to `url` whose challenge is awaited from the start (hello.ts). */
export function socketTo(url: string, sockets: Socket[]): Socket {
  const socket = connect(url, { transports: ['websocket'], reconnection: false })
  challengeOf(socket)
  sockets.push(socket)
  return socket
}

export type Hospital = {
  readonly socket: Socket
  readonly joined: Promise<HelloAck<ReceivedRefusalCode>>
  /** The ids of the advertisements the coordinator relayed to it, per round. */
  readonly relayed: string[][]
  /** What it refused of the coordinator's relays; it then stays silent, as the real clients do. */
  readonly refused: Error[]
}

/**
 * An honest hospital: answers every secure stage with a fixed contribution of `examples`.
 * `onRound` sees each round's context first (an attacker builds its own messages from it).
 */
export function secureHospital(
  c: Coordinator,
  name: string,
  sockets: Socket[],
  onRound?: (context: SecaggContext, party: SecaggParticipant, socket: Socket) => boolean,
): Hospital {
  const socket = socketTo(c.url, sockets)
  const params = c.federation.task.paramCount
  const relayed: string[][] = []
  const refused: Error[] = []
  let party: SecaggParticipant | undefined
  let fixedPoint: FixedPoint | undefined
  const emit = (message: unknown) =>
    (socket.emitWithAck('secagg', message) as Promise<UpdateAck>).catch(() => null)
  socket.on('round', (raw: unknown) => {
    const round = parseRoundStart(raw, params, 2)
    if (!round.secagg) throw new Error('expected a secure round')
    const context = roundContext(round.secagg.setup)
    party = new SecaggParticipant({ crypto: nodeCrypto, identitySeed: seedOf(name), context })
    fixedPoint = round.secagg.fixedPoint
    if (onRound?.(context, party, socket)) return
    void emit(party.advertise())
  })
  const answer = async (raw: { stage: string }, at: SecaggParticipant, scale: FixedPoint) => {
    if (raw.stage === 'advertise') {
      relayed.push((raw as unknown as NeighbourAdvertisements).advertisements.map((a) => a.id))
      await emit(await at.shareKeys(raw))
    } else if (raw.stage === 'share-keys') {
      const input = encodeSecureContribution(
        { delta: new Float32Array(params), examples: 5, labelCounts: [2, 3], valExamples: 0, valCorrect: 0 },
        scale,
      )
      await emit(await at.maskedInput(raw, input))
    } else if (raw.stage === 'unmask') await emit(at.unmask(raw))
  }
  socket.on('secagg', (raw: { stage: string }) => {
    if (party && fixedPoint) answer(raw, party, fixedPoint).catch((error: Error) => refused.push(error))
  })
  return { socket, joined: sayHello(socket, { participant: name }), relayed, refused }
}
