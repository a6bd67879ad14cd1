import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type Admission,
  type AppOptions,
  attachSockets,
  buildApp,
  type Clock,
  type ConnectionLimits,
  type Enrolment,
  type Evaluate,
  type ExcludedEntry,
  FEDAVG,
  Federation,
  type FederationOptions,
  issueInvite,
  type PrivateRun,
  type ReadPacer,
  type ReadPacing,
  RoundLog,
  type RoundRecord,
  type RoundRecorder,
  runRoutes,
  singleTask,
  storeAdmission,
  type TaskFile,
  TaskHost,
  TurnQueue,
  writeUnmaskingMark,
} from '@fedtune/coordinator'
import type { RunningCoordinator, StartOptions } from '@fedtune/coordinator/start'
import { openStore, type Store, StoreError } from '@fedtune/coordinator/store'
import {
  type Challenge,
  type EvaluationCounts,
  emptyEvaluationCounts,
  encodeExamplePrivateContribution,
  encodeSecureContribution,
  type FixedPoint,
  fixedPointFor,
  flattenEvaluationCounts,
  type HeadSpec,
  type HelloAck,
  helloHandshake,
  type ParticipantKind,
  packedParser,
  paramCount,
  parseChallenge,
  parseHelloAck,
  parseRoundStart,
  type ReceivedRefusalCode,
  readAdvertisements,
  type SecaggAnswer,
  type SecaggCrypto,
  SecureRoundDriver,
  type SecureRoundReport,
  type TaskInfo,
  type UpdateAck,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import type { Server } from 'socket.io'
import { io as connect, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client'
import { Encoder } from 'socket.io-parser'
import { inject, onTestFinished } from 'vitest'
import { getCurrentTest } from 'vitest/suite'

/**
 * The one test harness: a real coordinator on port 0 with its temp folder (`startTestCoordinator`,
 * or `startMainCoordinator` for the whole `startCoordinator` path with the real backbone), and the
 * one scripted participant (`testParticipant`), which says hello through `helloHandshake` and
 * answers secure rounds through `SecureRoundDriver`, as the hospital client and the browser worker
 * do. A dishonest participant is the same participant with a hook: `heard` changes what it is
 * relayed, `alter` what it sends (or silences it). A coordinator started in a test closes when the
 * test ends, its participants' sockets and its temp folder with it.
 */

/** The local training the socket tests hand out: one plain SGD epoch (only its validity matters). */
export const ONE_SGD_EPOCH: FederationOptions['training'] = {
  epochs: 1,
  batchSize: 8,
  optimizer: 'sgd',
  learningRate: 0.1,
  classWeights: 'none',
  loss: 'cross-entropy',
}

export const head: HeadSpec = { layers: [], labels: ['a', 'b'] }
export const params = paramCount(head, 8)
export const fixedPoint: FixedPoint = fixedPointFor({ participants: 3, maxExamples: 1000, clipNorm: 10 })

/** A delta of `params` weights all equal to `value`. */
export const filled = (value: number) => new Float32Array(params).fill(value)

/** Each timer's length, distinct so that a test steering the clock can name the one it fires. */
export const MS = { join: 60_000, deadline: 50_000, gather: 40_000, stage: 30_000 } as const

/** A fixed identity seed per name, as a real client keeps one in its cache. */
export const seedOf = (name: string) => new Uint8Array(createHash('sha256').update(`seed ${name}`).digest())

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

/**
 * `close` runs when the test that started the coordinator ends, passed or failed, so no test needs
 * an afterEach of its own; one started outside a test (a beforeAll) is the caller's to close.
 */
function closedWithTest<T extends { close(): Promise<void> }>(coordinator: T): T {
  if (getCurrentTest() !== undefined) onTestFinished(() => coordinator.close())
  return coordinator
}

export type SteerableClock = Clock & {
  /** Fires the most recently armed pending timer of `ms` (the masked-input stage's is `MS.deadline`). */
  fire(ms: number): void
  /** The next call of `now` or `after` throws: a clock that fails once, inside whoever calls it. */
  failNext(): void
}

/** A clock whose time stands still and whose timers fire only when the test says. */
export function steerableClock(): SteerableClock {
  const timers: { ms: number; fn: () => void; live: boolean }[] = []
  let failures = 0
  const check = () => {
    if (failures === 0) return
    failures -= 1
    throw new Error('the clock failed')
  }
  return {
    now() {
      check()
      return 0
    },
    after(ms, fn) {
      check()
      const timer = { ms, fn, live: true }
      timers.push(timer)
      return () => {
        timer.live = false
      }
    },
    fire(ms) {
      const timer = [...timers].reverse().find((t) => t.live && t.ms === ms)
      if (!timer) throw new Error(`no pending timer of ${ms} ms`)
      timer.live = false
      timer.fn()
    },
    failNext() {
      failures += 1
    },
  }
}

/**
 * Where participants connect: a coordinator's URL, the list of sockets its close disconnects, and how
 * a test enrols a name (as an operator's approval would) before its hello.
 */
export type Target = {
  readonly url: string
  readonly sockets: Socket[]
  enrol(name: string, kind: ParticipantKind, identityKey: Uint8Array): Promise<void>
  /** The task its connections name (socket.io's `auth.task`); none: the coordinator's only open task. */
  readonly task?: string
}

/** The task's name in the test's store: enrolled (approved) with `identityKey`, unless the name or key is taken. */
export async function enrolIn(
  store: Store,
  task: string,
  name: string,
  kind: ParticipantKind,
  identityKey: Uint8Array,
) {
  try {
    await store.participants.enrolOpen({ task, name, kind, identityKey })
  } catch (error) {
    // taken: the hello meets the admission's own refusal (identity-mismatch, identity-in-use, excluded…)
    if (!(error instanceof StoreError && error.code === 'conflict')) throw error
  }
}

let databases = 0

/**
 * A database of its own on the run's PostgreSQL server (test/global-postgres.ts), cloned from the
 * migrated template: the store every test coordinator keeps its task, run, rounds and participants in.
 */
export async function testDatabase(): Promise<string> {
  const socket = inject('postgresSocket')
  const url = (db: string) => `postgres://postgres@localhost/${db}?host=${encodeURIComponent(socket)}`
  // unique across the run's worker processes and the files one of them runs
  const name = `t_${process.pid}_${randomBytes(4).toString('hex')}_${++databases}`
  const admin = new pg.Client({ connectionString: url('postgres') })
  await admin.connect()
  try {
    await admin.query(`create database ${name} template fedtune_template`)
  } finally {
    await admin.end()
  }
  return url(name)
}

export type TestCoordinator = Target & {
  readonly store: Store
  readonly runId: number
  readonly app: FastifyInstance
  readonly io: Server
  readonly federation: Federation
  /** The steered clock; with `realTime` its timers are never armed. */
  readonly clock: SteerableClock
  /** The run folder: rounds.jsonl, heads, exclusions. */
  readonly runDir: string
  /** The backbone's digest, as its URLs name it. */
  readonly digest: string
  readonly records: readonly RoundRecord[]
  /** The coordinator's warnings and HTTP errors, as the operator would read them. */
  readonly warnings: string[]
  /** Resolves with the first warning matching `pattern`, once the coordinator has given it. */
  warned(pattern: RegExp): Promise<string>
  readonly httpErrors: string[]
  /** A one-time enrolment code for `name`, as `fedtune participant invite` issues one. */
  invite(name: string): Promise<string>
  /** The names the store keeps excluded, once every exclusion so far is written. */
  excluded(): Promise<string[]>
  /** The names admitted at a hello, in order, once each. */
  readonly enrolled: string[]
  /** Resolves with round `n`'s record once it is written. */
  recorded(round: number): Promise<RoundRecord>
  /** Disconnects the participants, stops the federation and removes the temp folder; idempotent. */
  close(): Promise<void>
}

export type TestCoordinatorOverrides = {
  /** The task's name and id. */
  readonly name?: string
  readonly description?: string
  /** The head trained on the backbone's `embeddingDim` features; `head` over 8 unless given. */
  readonly head?: HeadSpec
  /** Whether the head's labels are grades (`TaskInfo.ordinal`); false unless given. */
  readonly ordinal?: boolean
  readonly embeddingDim?: number
  readonly labelPrior?: FederationOptions['labelPrior']
  readonly secure?: boolean
  readonly rounds?: number
  readonly minParticipants?: number
  readonly participantsPerRound?: number
  readonly gatherMs?: number
  /** Real timers instead of the steered clock (the test then waits for rounds to run by themselves). */
  readonly realTime?: boolean
  readonly roundDeadlineMs?: number
  readonly joinTimeoutMs?: number
  readonly stageDeadlineMs?: number
  /** Browsers may enrol, and take up to `maxPerRound` places in a round (0: enrolled, never selected). */
  readonly browsers?: { readonly maxPerRound: number }
  readonly crypto?: SecaggCrypto
  /** Wraps where rounds are kept (a test that makes keeping fail). */
  readonly recorder?: (recorder: RoundRecorder) => RoundRecorder
  readonly evaluate?: Evaluate
  /** How the best round is chosen and when patience ends the run (default: validation AUC, no patience). */
  readonly selection?: FederationOptions['selection']
  /** The label mix a logit-adjusted head predicts with (default "federation"). */
  readonly predictionPrior?: FederationOptions['predictionPrior']
  /** The local loss (default: logit-adjusted with the federation's label prior, else cross-entropy). */
  readonly loss?: 'logit-adjusted' | 'cross-entropy'
  /** Wraps who may join (a test that makes admission fail). */
  readonly admission?: (admission: Admission) => Admission
  /** How the task enrols (default: hospitals by approval, which the harness gives at each hello; volunteers open). */
  readonly enrolment?: Enrolment
  readonly onInfo?: (message: string) => void
  /** Where operators' actions on the run are reported (pause, resume, abort, extend, stop). */
  readonly onControl?: FederationOptions['onControl']
  /** A resumed run's progress (its heads are the test's to write into `runDir`). */
  readonly resumed?: FederationOptions['resumed']
  /** Lays out a browser page under the temp folder `dir` (which holds `backbone/` and `run/`) and returns its folder (undefined: no page built). */
  readonly web?: (dir: string) => string | undefined
  /** The operator console's folder, under the coordinator's temp folder (none: /console answers 503). */
  readonly console?: (dir: string) => string | undefined
  /** Participants in the store before the coordinator starts: enrolled, and excluded earlier. */
  readonly enrolled?: ReadonlyMap<string, Uint8Array>
  readonly excluded?: ReadonlyMap<string, ExcludedEntry>
  /** The operators' store (test/test-store.ts): without one every non-public route answers 401. */
  readonly store?: Store
  readonly operators?: AppOptions['operators']
  readonly trustProxy?: AppOptions['trustProxy']
  /** Serve HTTPS and WSS with this certificate and key (PEM text). */
  readonly https?: AppOptions['https']
  /**
   * A private task (privacySettingsFor's answer): its settings go to participants, its budget to
   * the rounds, its fixed point (when it has one) to the secure sum.
   */
  readonly privacy?: PrivateRun
  /** The task's input centre (one number per embedding dimension), sent to participants; none by default. */
  readonly inputCentre?: readonly number[]
  /** The socket shell's read pacing (sockets/read-pacer.ts); its default when absent. */
  readonly pacing?: Partial<ReadPacing>
  /** Handed the socket shell's pacer, to see how long it blocked. */
  readonly onPacer?: (pacer: ReadPacer) => void
  /** The socket shell's slice of work per turn (sockets/turn-queue.ts); its default when absent. */
  readonly sliceMs?: number
  /** The queue the socket shell works through instead of its own. */
  readonly turns?: TurnQueue
}

/** Real timers, short enough that rounds run by themselves within a test. */
export const REAL_TIME = {
  realTime: true,
  gatherMs: 0,
  roundDeadlineMs: 20_000,
  joinTimeoutMs: 20_000,
  stageDeadlineMs: 5000,
} as const satisfies TestCoordinatorOverrides

/** A coordinator (fastify + socket.io on port 0, a real Federation) over a one-file fake backbone. */
export async function startTestCoordinator(o: TestCoordinatorOverrides = {}): Promise<TestCoordinator> {
  const dir = mkdtempSync(join(tmpdir(), 'fedtune-test-'))
  const backboneDir = join(dir, 'backbone')
  mkdirSync(backboneDir)
  const modelJson = '{"format":"layers-model"}'
  writeFileSync(join(backboneDir, 'model.json'), modelJson)
  const files = [{ name: 'model.json', sha256: sha(modelJson), bytes: modelJson.length }]
  const digest = sha(`${files[0]?.sha256}  model.json\n`)
  const rounds = o.rounds ?? 2
  const secure = o.secure ?? true
  const embeddingDim = o.embeddingDim ?? 8
  const taskHead = o.head ?? head
  const taskParams = paramCount(taskHead, embeddingDim)
  const task: TaskInfo = {
    taskId: o.name ?? 'test-task',
    name: o.name ?? 'test-task',
    description: o.description ?? '',
    rounds,
    backbone: {
      digest,
      path: `/backbone/${digest}/`,
      files,
      inputSize: 224,
      embeddingDim,
      views: ['original'],
    },
    head: taskHead,
    ordinal: o.ordinal ?? false,
    paramCount: taskParams,
    aggregation: secure ? 'secure' : 'plaintext-debug',
    browsers: { enabled: o.browsers !== undefined, maxPerRound: Math.max(1, o.browsers?.maxPerRound ?? 1) },
    privacy: o.privacy?.settings ?? null,
    inputCentre: o.inputCentre ?? null,
  }
  const runDir = join(dir, 'run')
  const log = new RoundLog(runDir)
  const store = o.store ?? (await openStore(await testDatabase()))
  await store.tasks.submit({ name: task.name, file: { test: true }, submittedBy: 'test' })
  const run = await store.runs.create({ task: task.name, settings: { test: true } })
  for (const [name, key] of o.enrolled ?? []) await enrolIn(store, task.name, name, 'hospital', key)
  for (const [name, entry] of o.excluded ?? []) {
    await enrolIn(
      store,
      task.name,
      name,
      'hospital',
      o.enrolled?.get(name) ?? nodeCrypto.ed25519PublicKey(seedOf(name)),
    )
    await store.participants.exclude(task.name, name, 'system', entry.reason)
  }
  const recorder: RoundRecorder = {
    writeHead: (round, weights, server) => log.writeHead(round, weights, server ?? null),
    async commit(record) {
      await store.rounds.commit(run.id, record, null)
      log.append(record)
    },
    // as the coordinator keeps it: in the run folder, before any share is asked for
    markUnmasking: (mark) => writeUnmaskingMark(runDir, mark),
  }
  const clock = steerableClock()
  const warnings: string[] = []
  const warningWaiters: { pattern: RegExp; resolve: (warning: string) => void }[] = []
  const warn = (warning: string) => {
    warnings.push(warning)
    for (const waiter of warningWaiters.filter((w) => w.pattern.test(warning))) {
      warningWaiters.splice(warningWaiters.indexOf(waiter), 1)
      waiter.resolve(warning)
    }
  }
  const httpErrors: string[] = []
  const enrolled: string[] = []
  const records = new Map<number, RoundRecord>()
  const waiting = new Map<number, (record: RoundRecord) => void>()
  const minParticipants = o.minParticipants ?? 2
  const exclusions: Promise<void>[] = []
  let federation: Federation
  try {
    federation = new Federation({
      task,
      config: {
        rounds,
        minParticipants,
        participantsPerRound: o.participantsPerRound ?? 3,
        maxBrowsersPerRound: o.browsers?.maxPerRound ?? 0,
        seed: 1,
        server: FEDAVG,
        secure,
        gatherMs: o.gatherMs ?? MS.gather,
        privacy: o.privacy?.budget ?? null,
      },
      initial: new Float32Array(taskParams),
      resumed: o.resumed,
      labelPrior: o.labelPrior ?? 'local',
      // a federation-wide label prior goes with the logit-adjusted loss, as the task file requires
      training: {
        ...ONE_SGD_EPOCH,
        loss: o.loss ?? (o.labelPrior === 'federation' ? 'logit-adjusted' : 'cross-entropy'),
      },
      roundDeadlineMs: o.roundDeadlineMs ?? MS.deadline,
      joinTimeoutMs: o.joinTimeoutMs ?? MS.join,
      recorder: o.recorder ? o.recorder(recorder) : recorder,
      evaluate: o.evaluate,
      ...(o.selection ? { selection: o.selection } : {}),
      ...(o.predictionPrior ? { predictionPrior: o.predictionPrior } : {}),
      ...(o.realTime ? {} : { clock }),
      secure: secure
        ? {
            parameters: {
              neighbours: 3,
              threshold: 2,
              stageDeadlineMs: o.stageDeadlineMs ?? MS.stage,
              minSurvivors: minParticipants,
            },
            fixedPoint: o.privacy?.fixedPoint ?? fixedPoint,
            crypto: o.crypto ?? nodeCrypto,
          }
        : null,
      onWarning: warn,
      // Told once the round is kept and the effects held behind its commit have run (the next
      // round's gather window armed, say), so that a test can go on from there.
      onRecord: (record) =>
        setImmediate(() => {
          records.set(record.round, record)
          waiting.get(record.round)?.(record)
        }),
      onExclude: (entry) =>
        void exclusions.push(
          store.participants.exclude(task.name, entry.participant, 'system', entry.reason).then(
            () => undefined,
            (error: Error) => void warnings.push(`recording the exclusion: ${error.message}`),
          ),
        ),
      ...(o.onInfo ? { onInfo: o.onInfo } : {}),
      ...(o.onControl ? { onControl: o.onControl } : {}),
    })
  } catch (error) {
    // a federation that refuses to be built leaves no folder behind
    rmSync(dir, { recursive: true, force: true })
    if (o.store === undefined) await store.close()
    throw error
  }
  const admitted = storeAdmission({
    store,
    task: task.name,
    enrolment: o.enrolment ?? {
      hospitals: 'approval',
      volunteers: { mode: 'open', maxParticipants: 1000, perAddressPerHour: 1000 },
    },
  })
  const admission: Admission = {
    async admit(claim, address) {
      await (o.admission ? o.admission(admitted) : admitted).admit(claim, address)
      if (!enrolled.includes(claim.participant)) enrolled.push(claim.participant)
    },
  }
  const tasks = singleTask({
    info: task,
    federation,
    admission,
    log,
    backbone: { dir: backboneDir, digest, files },
    neighbours: secure ? 3 : undefined,
  })
  const app = buildApp({
    tasks,
    // the run routes over a host of the test's store (the test's own task is not one it serves: its
    // actions answer 404), so that the route table holds every route the coordinator declares
    ...(o.store
      ? {
          routes: (app: FastifyInstance) =>
            runRoutes(
              app,
              store,
              new TaskHost({ store, dataDir: dir, cacheDir: join(dir, 'cache'), print: () => {} }),
              dir,
            ),
        }
      : {}),
    webDir: o.web?.(dir),
    consoleDir: o.console?.(dir),
    onError: (message) => httpErrors.push(message),
    ...(o.store ? { store: o.store } : {}),
    ...(o.operators ? { operators: o.operators } : {}),
    ...(o.trustProxy === undefined ? {} : { trustProxy: o.trustProxy }),
    ...(o.https === undefined ? {} : { https: o.https }),
  })
  const io = attachSockets(app.server, {
    tasks,
    onWarning: warn,
    pacing: o.pacing,
    onPacer: o.onPacer,
    turns:
      o.turns ??
      (o.sliceMs === undefined
        ? undefined
        : new TurnQueue((error) => warn(`internal: ${(error as Error).message}`), o.sliceMs)),
  }) as unknown as Server
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  // as the task host does once a run is wired and listening
  federation.open()
  const sockets: Socket[] = []
  let closed: Promise<void> | undefined
  return closedWithTest<TestCoordinator>({
    url,
    store,
    runId: run.id,
    invite: async (name) =>
      (await issueInvite(store, { task: task.name, participant: name, createdBy: 'test' })).code,
    async excluded() {
      await Promise.all(exclusions)
      return (await store.participants.byTask(task.name, { state: 'excluded' })).map((p) => p.name)
    },
    enrol: (name, kind, key) => enrolIn(store, task.name, name, kind, key),
    app,
    io,
    federation,
    clock,
    runDir,
    digest,
    records: log.records,
    warnings,
    warned(pattern) {
      const found = warnings.find((w) => pattern.test(w))
      if (found !== undefined) return Promise.resolve(found)
      return new Promise((resolve) => warningWaiters.push({ pattern, resolve }))
    },
    httpErrors,
    enrolled,
    sockets,
    recorded(round) {
      const record = records.get(round)
      if (record) return Promise.resolve(record)
      return new Promise((resolve) => waiting.set(round, resolve))
    },
    close() {
      closed ??= (async () => {
        for (const s of sockets) s.disconnect()
        federation.stop('test over')
        io.close()
        await app.close()
        // a round being committed is kept first
        await Promise.race([federation.done, new Promise((resolve) => setTimeout(resolve, 2000))])
        if (o.store === undefined) await store.close()
        rmSync(dir, { recursive: true, force: true })
      })()
      return closed
    },
  })
}

const backboneDir = join(
  fileURLToPath(new URL('../../shared/', import.meta.url)),
  'backbones',
  'mobilenet_v2_0.35_224',
)

export type MainCoordinator = RunningCoordinator &
  Target & {
    readonly running: RunningCoordinator
    readonly outDir: string
    /** Every line the coordinator printed, in order. */
    readonly lines: string[]
    /** The first printed line (past or future) matching `pattern`. */
    line(pattern: RegExp): Promise<string>
  }

/** What a test's task file says beyond its name, backbone and head. */
export type TaskFileOverrides = {
  /** Besides source and sha256, which are the test backbone's (views, say). */
  readonly backbone?: Record<string, unknown>
  readonly training?: Record<string, unknown>
  readonly participation?: Record<string, unknown>
  readonly aggregation?: Record<string, unknown>
  readonly enrolment?: Record<string, unknown>
  readonly evaluation?: Record<string, unknown>
  readonly head?: Record<string, unknown>
  readonly privacy?: Record<string, unknown>
}

/**
 * The coordinator as `fedtune coordinator` starts it (`startCoordinator`: task file, real backbone,
 * run folder, enrolment file, connection limits, printed lines) on port 0; close removes its folder.
 */
export async function startMainCoordinator(
  file: TaskFileOverrides = {},
  limits: Partial<ConnectionLimits> = {},
  /**
   * Metrics, the operator console's build to serve at /console (the browser test builds its own),
   * TLS, and the proxies to believe.
   */
  more: Pick<StartOptions, 'metrics' | 'consoleDir' | 'tls' | 'trustProxy'> = {},
): Promise<MainCoordinator> {
  // Loaded here, not at the top: tfjs costs the files that only need startTestCoordinator seconds.
  const { startCoordinator } = await import('@fedtune/coordinator/start')
  const work = mkdtempSync(join(tmpdir(), 'fedtune-main-'))
  const task = await realTaskFile('main', file, work)
  const outDir = join(work, 'run')
  const lines: string[] = []
  const waiting: { pattern: RegExp; resolve: (line: string) => void }[] = []
  const running = await startCoordinator({
    task,
    port: 0,
    outDir,
    // a database of its own on the run's PostgreSQL server: cloned in milliseconds, where a fresh
    // PGlite folder takes seconds to create and migrate
    database: await testDatabase(),
    cacheDir: join(work, 'cache'),
    quiet: true,
    limits,
    ...more,
    print: (line) => {
      lines.push(line)
      for (const w of waiting.splice(0))
        if (w.pattern.test(line)) w.resolve(line)
        else waiting.push(w)
    },
  })
  const sockets: Socket[] = []
  let closed: Promise<void> | undefined
  return closedWithTest<MainCoordinator>({
    ...running,
    running,
    sockets,
    enrol: (name, kind, key) => enrolIn(running.store, task.name, name, kind, key),
    outDir,
    lines,
    line: (pattern) =>
      new Promise((resolve) => {
        const seen = lines.find((l) => pattern.test(l))
        if (seen !== undefined) resolve(seen)
        else waiting.push({ pattern, resolve })
      }),
    close() {
      closed ??= (async () => {
        for (const s of sockets) s.disconnect()
        await running.close()
        rmSync(work, { recursive: true, force: true })
      })()
      return closed
    },
  })
}

/**
 * `startCoordinator` on `task` and `database` that prints nothing, its run and cache under `work`
 * (`more` adds or overrides options): a test that restarts a coordinator on the same folders.
 */
export async function startQuietCoordinator(
  task: StartOptions['task'],
  work: string,
  database: string,
  more: Partial<StartOptions> = {},
): Promise<RunningCoordinator> {
  // Loaded here, not at the top: tfjs costs the files that only need startTestCoordinator seconds.
  const { startCoordinator } = await import('@fedtune/coordinator/start')
  return startCoordinator({
    task,
    port: 0,
    outDir: join(work, 'run'),
    database,
    cacheDir: join(work, 'cache'),
    quiet: true,
    print: () => {},
    ...more,
  })
}

/** A task file's JSON named `name` on the real backbone in ../shared (one round unless overridden). */
export async function realTaskJson(
  name: string,
  file: TaskFileOverrides = {},
): Promise<Record<string, unknown>> {
  const { initBackend, readBackboneFolder } = await import('@fedtune/model/node')
  await initBackend()
  const { digest } = await readBackboneFolder(backboneDir)
  return {
    name,
    backbone: { source: backboneDir, sha256: digest, ...file.backbone },
    head: file.head ?? { labels: ['a', 'b'] },
    training: { rounds: 1, ...file.training },
    ...(file.participation ? { participation: file.participation } : {}),
    ...(file.aggregation ? { aggregation: file.aggregation } : {}),
    ...(file.enrolment ? { enrolment: file.enrolment } : {}),
    ...(file.evaluation ? { evaluation: file.evaluation } : {}),
    ...(file.privacy ? { privacy: file.privacy } : {}),
  }
}

/** `realTaskJson` parsed as `fedtune coordinator` reads a task file in `dir`. */
export async function realTaskFile(name: string, file: TaskFileOverrides, dir: string): Promise<TaskFile> {
  const { parseTaskFile } = await import('@fedtune/coordinator')
  return parseTaskFile(await realTaskJson(name, file), dir)
}

/** Connections to `c` that name `task` (auth.task), enrolled in that task. */
export function taskTarget(c: MainCoordinator, task: string): Target {
  return {
    url: c.url,
    sockets: c.sockets,
    task,
    enrol: (name, kind, key) => enrolIn(c.store, task, name, kind, key),
  }
}

const challenges = new WeakMap<Socket, Promise<Challenge>>()

/**
 * The challenge `socket`'s coordinator opens with. The first call must come before it can arrive:
 * in the tick that creates the socket, or in its 'connect' handler.
 */
export function challengeOf(socket: Socket): Promise<Challenge> {
  let challenge = challenges.get(socket)
  if (challenge === undefined) {
    challenge = new Promise((resolve) => socket.once('challenge', (raw) => resolve(parseChallenge(raw))))
    challenges.set(socket, challenge)
  }
  return challenge
}

/**
 * A socket to `target` that has not said hello yet; its challenge is listened for from the first tick.
 * It frames the binary events it sends as fedtune's participants do (`packed`, one frame each), or as
 * plain socket.io v5 does (`v5`, a header and a frame per attachment); it reads packed frames either way.
 * `options` go to socket.io's client (reconnection, for instance).
 */
export function connectTo(
  target: Target,
  framing: 'packed' | 'v5' = 'packed',
  options: Partial<ManagerOptions & SocketOptions> = {},
): Socket {
  const socket = connect(target.url, {
    transports: ['websocket'],
    reconnection: false,
    parser: framing === 'packed' ? packedParser : { ...packedParser, Encoder },
    ...(target.task === undefined ? {} : { auth: { task: target.task } }),
    ...options,
  })
  challengeOf(socket)
  target.sockets.push(socket)
  targets.set(socket, target)
  return socket
}

const targets = new WeakMap<Socket, Target>()

export type HelloFields = {
  readonly participant: string
  readonly kind?: ParticipantKind
  readonly protocol?: string
  /** The identity key's seed; `seedOf(participant)` unless given. */
  readonly seed?: Uint8Array
  /** Called with the task, synchronously, when the coordinator lets it join. */
  readonly onJoined?: (task: TaskInfo) => void
  /** An enrolment code said in the hello (docs/protocol.md, "Tasks and enrolment"). */
  readonly invite?: string
  /**
   * Enrol the name with its key first, as an operator's approval would (default); false leaves the
   * hello to the task's enrolment alone (a test of enrolment itself).
   */
  readonly enrol?: boolean
}

/**
 * Says hello through `helloHandshake` once the challenge has come; resolves with the coordinator's
 * ack parsed as a participant reads it (a code outside REFUSAL_CODES reads as 'unknown').
 */
export async function sayHello(socket: Socket, fields: HelloFields): Promise<HelloAck<ReceivedRefusalCode>> {
  const target = targets.get(socket)
  if (target !== undefined && fields.enrol !== false)
    await target.enrol(
      fields.participant,
      fields.kind ?? 'hospital',
      nodeCrypto.ed25519PublicKey(fields.seed ?? seedOf(fields.participant)),
    )
  const challenge = await challengeOf(socket)
  return new Promise((resolve, reject) => {
    let raw: unknown
    helloHandshake(
      challenge,
      {
        crypto: nodeCrypto,
        identitySeed: fields.seed ?? seedOf(fields.participant),
        participant: fields.participant,
        kind: fields.kind ?? 'hospital',
        agent: 'test',
        ...(fields.protocol === undefined ? {} : { protocol: fields.protocol }),
        ...(fields.invite === undefined ? {} : { invite: fields.invite }),
        // the test, not the participant, judges a plaintext task
        allowPlaintext: true,
        joined: undefined,
      },
      (hello, waitMs, answer) =>
        socket.timeout(waitMs).emit('hello', hello, (error: Error | null, ack: unknown) => {
          raw = ack
          answer(error, ack)
        }),
      (outcome) => {
        if (outcome.type === 'unanswered') return reject(new Error(outcome.message))
        if (outcome.type === 'joined') fields.onJoined?.(outcome.task)
        try {
          resolve(parseHelloAck(raw))
        } catch (error) {
          reject(error)
        }
      },
    )
  })
}

/** A fresh connection saying hello under `name` (with its usual identity key unless `seed`); resolves with the ack. */
export function helloAgain(
  target: Target,
  name: string,
  seed = seedOf(name),
): Promise<HelloAck<ReceivedRefusalCode>> {
  return sayHello(connectTo(target), { participant: name, seed })
}

/** What a participant sends: a secure stage's message, or a plaintext round's update. */
export type Sent = SecaggAnswer | PlainUpdate
type PlainUpdate = {
  readonly stage: 'update'
  readonly round: number
  readonly delta: Uint8Array
  readonly examples: number
  readonly labelCounts: readonly number[]
  readonly metrics: { trainLoss: number; evaluation: readonly number[] }
}
export type SentStage = Sent['stage']

export type TestParticipantOptions = {
  /** The identity key's seed; `seedOf(name)` unless given. */
  readonly seed?: Uint8Array
  readonly kind?: ParticipantKind
  /** Its training result: `delta` (zeros unless given) over `examples` (10 unless given), all of label a. */
  readonly delta?: Float32Array
  readonly examples?: number
  /** Its counts of the received head on its validation data (none unless given). */
  readonly evaluation?: EvaluationCounts
  /** Changes a relayed stage message before the driver sees it. */
  readonly heard?: (raw: { stage: string } & Record<string, unknown>) => unknown
  /** Changes what it sends in `round`; undefined keeps it silent instead. */
  readonly alter?: (message: Sent, round: number) => unknown
}

export type TestParticipant = {
  readonly socket: Socket
  readonly joined: Promise<HelloAck<ReceivedRefusalCode>>
  /** Every message it sent (by the stage the driver answered), with the coordinator's ack (null: closed first). */
  readonly sent: { readonly round: number; readonly stage: SentStage; ack: UpdateAck | null }[]
  /** The ids of the advertisements the coordinator relayed to it, per round. */
  readonly relayed: string[][]
  /** What the driver reported: refusals and complaints among them. */
  readonly reports: SecureRoundReport[]
  /** The coordinator's ack of its message of `stage` in `round`. */
  acked(round: number, stage: SentStage): Promise<UpdateAck>
  /** Resolves with the round number when it is next selected for a round. */
  selected(): Promise<number>
}

/**
 * A participant over a real socket: says hello, then answers every round with its fixed training
 * result, through `SecureRoundDriver` in a secure task and as an update in a plaintext one.
 */
export function testParticipant(
  target: Target,
  name: string,
  opts: TestParticipantOptions = {},
): TestParticipant {
  const socket = connectTo(target)
  const seed = opts.seed ?? seedOf(name)
  const examples = opts.examples ?? 10
  const sent: TestParticipant['sent'] = []
  const relayed: string[][] = []
  const reports: SecureRoundReport[] = []
  const acks = ackBook()
  let task: TaskInfo | undefined
  const send = async (round: number, message: Sent) => {
    const out = opts.alter ? opts.alter(message, round) : message
    if (out === undefined) return
    const entry: TestParticipant['sent'][number] = { round, stage: message.stage, ack: null }
    sent.push(entry)
    const event = message.stage === 'update' ? 'update' : 'secagg'
    // A participant the coordinator disconnects loses its pending acknowledgements: null then.
    entry.ack = ((await socket.emitWithAck(event, out).catch(() => null)) as UpdateAck | null) ?? null
    if (entry.ack) acks.resolve(`${round}/${message.stage}`, entry.ack)
  }
  const driver = new SecureRoundDriver({
    crypto: nodeCrypto,
    identitySeed: seed,
    emit: (round, message) => void send(round, message),
    report: (report) => reports.push(report),
  })
  const contribution = (paramCount: number, classes: number) => ({
    delta: opts.delta ?? new Float32Array(paramCount),
    examples,
    labelCounts: [examples, ...new Array<number>(classes - 1).fill(0)],
    evaluation: opts.evaluation ?? emptyEvaluationCounts(classes),
  })
  socket.on('round', (raw: unknown) => {
    if (task === undefined) throw new Error(`${name}: a round before its hello was answered`)
    const start = parseRoundStart(raw, task.paramCount, task.head.labels.length)
    const result = contribution(task.paramCount, task.head.labels.length)
    // a private task's participant masks [Δ…, 1]: no counts (its noise is its own affair, not the sum's)
    const encode = (fixedPoint: FixedPoint) =>
      task?.privacy
        ? encodeExamplePrivateContribution(result.delta, fixedPoint)
        : encodeSecureContribution(result, fixedPoint)
    if (task.aggregation === 'secure') driver.start(task, start, async (fixedPoint) => encode(fixedPoint))
    else
      void send(start.round, {
        stage: 'update',
        round: start.round,
        delta: new Uint8Array(result.delta.buffer.slice(0)),
        examples,
        labelCounts: result.labelCounts,
        metrics: { trainLoss: 0, evaluation: flattenEvaluationCounts(result.evaluation) },
      })
  })
  socket.on('secagg', (raw: { stage: string } & Record<string, unknown>) => {
    if (raw.stage === 'advertise' && raw.advertisements instanceof Uint8Array)
      relayed.push(readAdvertisements(raw.advertisements, 'relay').map((a) => a.id))
    void driver.relay(opts.heard ? opts.heard(raw) : raw)
  })
  const joined = sayHello(socket, {
    participant: name,
    seed,
    ...(opts.kind ? { kind: opts.kind } : {}),
    onJoined: (t) => {
      task = t
    },
  })
  return {
    socket,
    joined,
    sent,
    relayed,
    reports,
    acked: (round, stage) => acks.wait(`${round}/${stage}`),
    selected: () =>
      new Promise<number>((resolve) => socket.once('round', (r: { round: number }) => resolve(r.round))),
  }
}

/** An `alter` that keeps a participant connected but silent from its message of `stage` in `round` on (that round only). */
export function silentFrom(round: number, stage: SentStage): NonNullable<TestParticipantOptions['alter']> {
  let quiet = false
  return (message, at) => {
    if (at !== round) return message
    if (message.stage === stage) quiet = true
    return quiet ? undefined : message
  }
}

function ackBook(): { resolve(key: string, ack: UpdateAck): void; wait(key: string): Promise<UpdateAck> } {
  const book = new Map<string, { promise: Promise<UpdateAck>; resolve: (ack: UpdateAck) => void }>()
  const entry = (key: string) => {
    let found = book.get(key)
    if (!found) {
      let resolve!: (ack: UpdateAck) => void
      const promise = new Promise<UpdateAck>((r) => {
        resolve = r
      })
      found = { promise, resolve }
      book.set(key, found)
    }
    return found
  }
  return { resolve: (key, ack) => entry(key).resolve(ack), wait: (key) => entry(key).promise }
}

/** A record with its survivors in name order (they are recorded in the order of their secagg ids). */
export function sorted(record: RoundRecord): RoundRecord {
  return record.survivors ? { ...record, survivors: [...record.survivors].sort() } : record
}

/**
 * Participants a, b and c adding 0.5, −0.25 and 1 to every weight, through round 2 of `h`: that
 * round's record (survivors sorted) and its head's bytes, to compare two ways of running a federation.
 */
export async function federateConstants(h: TestCoordinator): Promise<{ record: RoundRecord; head: Buffer }> {
  for (const [name, value] of [
    ['a', 0.5],
    ['b', -0.25],
    ['c', 1],
  ] as const)
    testParticipant(h, name, { delta: new Float32Array(h.federation.task.paramCount).fill(value) })
  return {
    record: sorted(await h.recorded(2)),
    head: readFileSync(join(h.runDir, 'heads', 'round-0002.f32')),
  }
}
