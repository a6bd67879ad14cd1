import {
  type ClientToServerEvents,
  emptyEvaluationCounts,
  encodeSecureContribution,
  type FixedPoint,
  PROTOCOL_VERSION,
  packedParser,
  parseChallenge,
  parseHelloAck,
  parseRoundResult,
  parseRoundStart,
  parseUpdateAck,
  type SecaggContext,
  SecaggParticipant,
  type ServerToClientEvents,
  secureRoundContext,
  signHello,
  type TaskInfo,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { io, type Socket } from 'socket.io-client'
import { benchName, benchSeed, type ParticipantsConfig, type ParticipantsReport } from './load-messages.ts'

/**
 * bench:load's participants: `count` of them in this process, each with its own websocket, its own
 * Ed25519 identity and the real SecaggParticipant on node:crypto; local training is replaced by one
 * fixed contribution. In every round the participants whose index falls on the dropout pattern
 * share their keys, then close their connection (the costliest dropout: their pair masks must be
 * removed, here by the survivors' corrections); they come back once the round's result is out.
 *
 * The hello and stage dispatch are written plainly here, in the order client-node/src/participant.ts
 * runs them, so they can move to protocol's shared participant driver when it lands.
 */

type Member = {
  readonly index: number
  readonly name: string
  readonly seed: Uint8Array
  readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>
  party: SecaggParticipant | undefined
  round: number
  input: Uint32Array | undefined
  joined: boolean
}

const config = JSON.parse(process.argv[2] ?? '') as ParticipantsConfig
const report = (message: ParticipantsReport) => process.send?.(message)
let task: TaskInfo | undefined
let refusals = 0
let problems = 0
const problem = (message: string) => {
  problems++
  if (problems <= 5) report({ type: 'problem', message })
}

/** Every participant in a round builds the same context from the same setup: built once per process. */
const contexts = new Map<number, SecaggContext>()
/** The fixed contribution, encoded once per fixed-point scale. */
const inputs = new Map<number, Uint32Array>()
/** Rounds whose result came in, so that the dropouts of each come back once. */
const resulted = new Set<number>()
const dropped: Member[] = []

const dropEvery = config.dropout > 0 ? Math.round(1 / config.dropout) : 0
const drops = (index: number, round: number) => dropEvery > 0 && (index + round * 7) % dropEvery === 0

// Handshakes in flight are bounded so that a thousand hellos do not all wait on one another.
const queue: Member[] = []
let inFlight = 0
const pump = () => {
  while (inFlight < config.concurrency && queue.length > 0) {
    const member = queue.shift() as Member
    inFlight++
    member.socket.connect()
  }
}
const handshakeDone = () => {
  inFlight--
  pump()
}

/**
 * Each participant's stage work runs as one job, one job at a time, with the event loop polled
 * between jobs: hundreds of participants' crypto chained as promise continuations would otherwise
 * hold this process's loop for seconds, past socket.io's 20 s ping timeout on a loaded machine,
 * where a real participant has a process of its own.
 */
const jobs: (() => Promise<void> | void)[] = []
let working = false
function enqueue(job: () => Promise<void> | void): void {
  jobs.push(job)
  if (!working) void work()
}
async function work(): Promise<void> {
  working = true
  while (jobs.length > 0) {
    const job = jobs.shift() as () => Promise<void> | void
    try {
      await job()
    } catch (error) {
      problem(`a participant's stage failed: ${(error as Error).message}`)
    }
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  working = false
}

const started = performance.now()
let ready = 0

function contribution(task: TaskInfo, fixedPoint: FixedPoint): Uint32Array {
  let input = inputs.get(fixedPoint.scale)
  if (input === undefined) {
    const delta = new Float32Array(task.paramCount).map((_, j) => 0.001 * Math.sin(j))
    const classes = task.head.labels.length
    input = encodeSecureContribution(
      {
        delta,
        examples: 10 * classes,
        labelCounts: Array(classes).fill(10),
        // the vector's length is what loads the coordinator; the counts' values do not matter here
        evaluation: emptyEvaluationCounts(classes),
      },
      fixedPoint,
    )
    inputs.set(fixedPoint.scale, input)
  }
  return input
}

function emitSecagg(member: Member, message: unknown): void {
  member.socket.emit('secagg', message, (raw: unknown) => {
    const ack = parseUpdateAck(raw)
    if (!ack.ok) {
      refusals++
      problem(`${member.name}: the coordinator refused a secagg message: ${ack.reason} (${ack.code})`)
    }
  })
}

function hello(member: Member, raw: unknown): void {
  const challenge = parseChallenge(raw)
  const signed = signHello(nodeCrypto, member.seed, challenge, {
    protocol: PROTOCOL_VERSION,
    participant: member.name,
    kind: 'hospital',
    agent: 'bench-load',
  })
  member.socket.emit('hello', signed, (rawAck: unknown) => {
    handshakeDone()
    const ack = parseHelloAck(rawAck)
    if (!ack.ok) {
      problem(`${member.name}: hello refused: ${ack.reason} (${ack.code})`)
      return
    }
    task ??= ack.task
    if (!member.joined) {
      member.joined = true
      if (++ready === config.count) report({ type: 'ready', count: ready, ms: performance.now() - started })
    }
  })
}

function onRound(member: Member, raw: unknown): void {
  if (!task) {
    problem(`${member.name}: a round before the task`)
    return
  }
  const round = parseRoundStart(raw, task.paramCount, task.head.labels.length)
  let context = contexts.get(round.round)
  if (context === undefined) {
    context = secureRoundContext(task, round)
    contexts.set(round.round, context)
  }
  member.party?.abandon()
  member.party = new SecaggParticipant({ crypto: nodeCrypto, identitySeed: member.seed, context })
  member.round = round.round
  member.input = contribution(task, round.secagg?.fixedPoint as FixedPoint)
  emitSecagg(member, member.party.advertise())
}

async function onSecagg(member: Member, raw: unknown): Promise<void> {
  const party = member.party
  if (!party || !task) {
    problem(`${member.name}: a secagg message outside a round`)
    return
  }
  const stage = typeof raw === 'object' && raw !== null ? (raw as { stage?: unknown }).stage : undefined
  try {
    if (stage === 'advertise') emitSecagg(member, await party.shareKeys(raw))
    else if (stage === 'share-keys') {
      if (drops(member.index, member.round)) {
        party.abandon()
        dropped.push(member)
        member.socket.disconnect()
        return
      }
      emitSecagg(member, await party.maskedInput(raw, member.input as Uint32Array))
    } else if (stage === 'unmask') emitSecagg(member, await party.unmask(raw))
    else problem(`${member.name}: a secagg message for stage ${String(stage)}`)
  } catch (error) {
    party.abandon()
    problem(`${member.name}: refused the coordinator's ${String(stage)}: ${(error as Error).message}`)
  }
}

function onResult(member: Member, raw: unknown): void {
  const result = parseRoundResult(raw)
  if (member.round === result.round) member.party?.abandon()
  if (resulted.has(result.round)) return
  resulted.add(result.round)
  // This round's dropouts come back for the next one, through the same bounded handshakes.
  queue.push(...dropped.splice(0))
  pump()
}

const members: Member[] = Array.from({ length: config.count }, (_, i) => {
  const index = config.from + i
  const name = benchName(index)
  const member: Member = {
    index,
    name,
    seed: benchSeed(name),
    socket: io(config.url, {
      transports: ['websocket'],
      parser: packedParser,
      forceNew: true,
      autoConnect: false,
      reconnection: false,
    }),
    party: undefined,
    round: 0,
    input: undefined,
    joined: false,
  }
  const { socket } = member
  socket.on('challenge', (raw) => hello(member, raw))
  socket.on('round', (raw) => enqueue(() => onRound(member, raw)))
  socket.on('secagg', (raw) => enqueue(() => onSecagg(member, raw)))
  socket.on('round-result', (raw) => onResult(member, raw))
  socket.on('finished', () => socket.disconnect())
  socket.on('connect_error', (error) => {
    handshakeDone()
    problem(`${name}: cannot connect: ${error.message}`)
  })
  socket.on('disconnect', (reason) => {
    if (reason === 'io client disconnect' || reason === 'io server disconnect') return
    // A connection lost on an overloaded machine: a dropout of this round, back for the next.
    problem(`${name}: disconnected (${reason})`)
    member.party?.abandon()
    dropped.push(member)
  })
  return member
})
queue.push(...members)
pump()

process.on('message', (raw) => {
  if ((raw as { type: string }).type !== 'stop') return
  for (const member of members) {
    member.party?.abandon()
    member.socket.disconnect()
  }
  report({ type: 'stopped', refusals, problems })
  process.exit(0)
})
