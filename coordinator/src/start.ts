import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { accuracy, initHead, predictHead, rocAuc } from '@fedtune/model'
import { embedFolder, fetchBackboneFromUrl, loadBackbone, progressTo } from '@fedtune/model/node'
import { escapeText, paramCount, type TaskInfo } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { FastifyInstance } from 'fastify'
import type { Server } from 'socket.io'
import { type AppOptions, backbonePath, buildApp } from './http/app.ts'
import { DEFAULT_WEB_DIR, JOIN_PATH, webPageProblem } from './http/web-page.ts'
import { storeAdmission } from './participants/admission.ts'
import { type Evaluate, Federation } from './rounds/federation.ts'
import type { Progress } from './rounds/round.ts'
import { formatRecord, RoundLog, type RoundRecord } from './rounds/round-log.ts'
import type { RoundObserver } from './rounds/round-observer.ts'
import type { ConnectionLimits } from './sockets/connection-limits.ts'
import { attachSockets, type InboundTap } from './sockets/socket-shell.ts'
import { openStore, type Run, type Store, type StoredRound, StoreError } from './store/index.ts'
import { headFile, RunFolderError, serverStateFile } from './store/run-folder.ts'
import type { TaskFile } from './tasks/task-file.ts'

export type StartOptions = {
  readonly task: TaskFile
  readonly port?: number
  readonly host?: string
  /**
   * The run's folder: the head after every round (written before its round commits) and a readable
   * copy of the rounds (rounds.jsonl, rounds.svg); the database is the source of truth.
   */
  readonly outDir?: string
  /** Where the database and the run folders go unless named: `.fedtune` by default. */
  readonly dataDir?: string
  /**
   * The database (store/open-store.ts): a folder for embedded PGlite, or postgres://…; by default
   * `<outDir>/db` when `outDir` is given, else `<dataDir>/db`. The run folder defaults to
   * `<dataDir>/runs/<task>-<run id>`.
   */
  readonly database?: string
  /** Which proxies' X-Forwarded-* headers to believe (fastify's `trustProxy`); none by default. */
  readonly trustProxy?: boolean | string | string[]
  /** A task whose unfinished run has other settings: stop that run and start a new one (else refused). */
  readonly newRun?: boolean
  /** Downloaded backbones and cached embeddings of the held-out set. */
  readonly cacheDir: string
  readonly tap?: InboundTap
  readonly httpTap?: AppOptions['httpTap']
  /** Operator output; defaults to stdout. Progress bars go to stderr. */
  readonly print?: (line: string) => void
  readonly quiet?: boolean
  /** client-web's build output, served under /join; defaults to client-web/dist in this repository. */
  readonly webDir?: string
  /** What one connection may cost (connection-limits.ts); each limit defaults when absent. */
  readonly limits?: Partial<ConnectionLimits>
  /** Watches rounds and their stages as they happen: bench:load measures the coordinator with it. */
  readonly observer?: RoundObserver
}

export type RunningCoordinator = {
  readonly url: string
  /** The run's folder: its heads, and a readable copy of its rounds. */
  readonly outDir: string
  readonly store: Store
  readonly run: Run
  readonly federation: Federation
  readonly app: FastifyInstance
  readonly io: Server
  readonly records: RoundRecord[]
  close(): Promise<void>
}

/** Prepares the backbone and the held-out set, then serves the federation until its rounds are done. */
export async function startCoordinator(opts: StartOptions): Promise<RunningCoordinator> {
  const { task } = opts
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`))
  const bars = opts.quiet ? undefined : process.stderr

  const dir = /^https?:\/\//.test(task.backbone.source)
    ? await fetchBackboneFromUrl(task.backbone.source, opts.cacheDir, task.backbone.sha256)
    : task.backbone.source
  const backbone = await loadBackbone(dir, task.backbone.sha256)
  print(
    `backbone ${task.backbone.source}: ${backbone.embeddingDim}-d embedding, input ${backbone.inputSize}px, digest ${backbone.digest.slice(0, 12)}…`,
  )

  const spec = { layers: task.head.layers, labels: task.head.labels }
  const params = paramCount(spec, backbone.embeddingDim)
  let evaluate: Evaluate | undefined
  if (task.evaluation) {
    const bar = progressTo('embedding held-out set', bars)
    const { dataset, fromCache } = await embedFolder(backbone, task.evaluation.data, {
      cacheDir: opts.cacheDir,
      labels: task.head.labels,
      onProgress: (done, total) => bar.update(done, total),
    })
    bar.done(`${fromCache} from cache`)
    print(`held-out set ${task.evaluation.data}: ${dataset.n} images`)
    const classes = task.head.labels.length
    evaluate = (weights) => {
      const probs = predictHead(spec, backbone.embeddingDim, weights, dataset.x, dataset.n)
      return {
        accuracy: accuracy(probs, dataset.y, classes),
        auc: rocAuc(probs, dataset.y, classes),
        examples: dataset.n,
      }
    }
  }
  backbone.dispose()

  const info: TaskInfo = {
    taskId: task.name,
    name: task.name,
    description: task.description,
    rounds: task.training.rounds,
    backbone: {
      digest: backbone.digest,
      path: backbonePath(backbone.digest),
      files: backbone.files,
      inputSize: backbone.inputSize,
      embeddingDim: backbone.embeddingDim,
    },
    head: spec,
    paramCount: params,
    aggregation: task.aggregation.mode,
    browsers: task.participation.browsers,
  }
  const dataDir = opts.dataDir ?? '.fedtune'
  if (opts.outDir !== undefined) mkdirSync(opts.outDir, { recursive: true })
  const store = await openStore(opts.database ?? join(opts.outDir ?? dataDir, 'db'))
  let run: Run
  let resumed: Resumed | null
  let outDir: string
  try {
    run = await runOf(store, task, opts.newRun ?? false, print)
    outDir = opts.outDir ?? join(dataDir, 'runs', `${task.name}-${run.id}`)
    mkdirSync(outDir, { recursive: true })
    resumed = resumeFrom(outDir, await store.rounds.list<RoundRecord>(run.id), params)
  } catch (error) {
    await store.close()
    throw error
  }
  if (resumed) {
    if (task.training.server.optimizer === 'adam' && resumed.completed > 0 && !resumed.server)
      print(
        `note: run ${run.id} has no FedAdam state for its last head (it ran another server optimizer); Adam's moments start from zero`,
      )
    print(
      `continuing run ${run.id} of task ${task.name} after round ${resumed.round} (${resumed.completed} aggregated, ${resumed.failed} failed)`,
    )
  }
  const log = new RoundLog(outDir, resumed?.records ?? [], `task ${task.name}: the global head per round`)
  const warn = (message: string) => print(`warning: ${escapeText(message)}`)
  const federation = new Federation({
    task: info,
    config: {
      rounds: task.training.rounds,
      minParticipants: task.participation.minParticipants,
      participantsPerRound: task.participation.participantsPerRound,
      maxBrowsersPerRound: task.participation.browsers.enabled ? task.participation.browsers.maxPerRound : 0,
      seed: task.head.seed,
      server: task.training.server,
      secure: task.aggregation.mode === 'secure',
      gatherMs: task.participation.gatherSeconds * 1000,
    },
    secure:
      task.aggregation.mode === 'secure'
        ? {
            parameters: {
              neighbours: task.aggregation.neighbours,
              threshold: task.aggregation.threshold,
              stageDeadlineMs: task.aggregation.stageDeadlineSeconds * 1000,
              minSurvivors: task.participation.minParticipants,
            },
            fixedPoint: task.aggregation.fixedPoint,
            crypto: nodeCrypto,
          }
        : null,
    onExclude: (entry) =>
      void store.participants
        .exclude(
          task.name,
          entry.participant,
          'system',
          `round ${entry.round}: ${entry.reason} (complaint by ${entry.by})`,
        )
        .then(() =>
          store.audit.append({
            actor: 'system',
            action: 'participant.excluded',
            outcome: 'ok',
            task: task.name,
            run: run.id,
            target: entry.participant,
            detail: { round: entry.round, by: entry.by, reason: entry.reason },
          }),
        )
        .catch((error: Error) => warn(`recording the exclusion of ${entry.participant}: ${error.message}`)),
    initial: initHead(spec, backbone.embeddingDim, task.head.seed),
    resumed: resumed ?? undefined,
    training: {
      epochs: task.training.localEpochs,
      batchSize: task.training.batchSize,
      optimizer: task.training.optimizer,
      learningRate: task.training.learningRate,
      classWeights: task.training.classWeights,
      loss: task.training.loss,
    },
    labelPrior: task.training.labelPrior,
    roundDeadlineMs: task.participation.roundDeadlineSeconds * 1000,
    joinTimeoutMs: task.participation.joinTimeoutSeconds * 1000,
    recorder: {
      writeHead: (round, weights, server) => log.writeHead(round, weights, server ?? null),
      commit: async (record) => {
        await commitRound(
          store,
          run.id,
          record,
          record.status === 'aggregated' ? headFile(outDir, record.round) : null,
        )
        try {
          log.append(record)
        } catch (error) {
          warn(
            `round ${record.round} is kept in the database; its copy in ${outDir} failed: ${(error as Error).message}`,
          )
        }
      },
    },
    evaluate,
    onRecord: (record) => print(escapeText(formatRecord(record, task.training.rounds), 2000)),
    onFinished: (f) => {
      print(`finished: ${f.reason}; ${f.completed} rounds aggregated, ${f.failed} failed; log in ${log.dir}`)
      const state =
        f.reason === 'coordinator closed'
          ? null
          : f.reason.startsWith('all ')
            ? 'finished'
            : f.reason.startsWith('only ')
              ? 'failed'
              : 'stopped'
      if (state !== null)
        void endRun(store, run.id, state, f.reason).catch((error: Error) =>
          warn(`recording the end of run ${run.id}: ${error.message}`),
        )
    },
    // secure-round refusals quote what participants sent
    onWarning: warn,
    observer: opts.observer,
  })

  const webDir = opts.webDir ?? DEFAULT_WEB_DIR
  const app = buildApp({
    backbone: { dir, digest: backbone.digest, files: backbone.files },
    federation,
    log,
    webDir,
    store,
    ...(opts.trustProxy === undefined ? {} : { trustProxy: opts.trustProxy }),
    onError: (message) => print(`error: ${message}`),
    ...(opts.httpTap ? { httpTap: opts.httpTap } : {}),
  })
  const io = attachSockets(app.server, {
    federation,
    admission: storeAdmission({ store, task: task.name, enrolment: task.enrolment }),
    tap: opts.tap,
    limits: opts.limits,
    neighbours: task.aggregation.mode === 'secure' ? task.aggregation.neighbours : undefined,
    // the shell escapes what participants sent; escaping again here changes nothing and keeps it so
    onWarning: (message) => print(`warning: ${escapeText(message)}`),
    onJoin: (p, agent) => print(`joined: ${escapeText(p, 80)} (${escapeText(agent, 200)})`),
    onLeave: (p, reason) => print(`left: ${escapeText(p, 80)} (${escapeText(reason, 200)})`),
  })
  const address = await app.listen({ port: opts.port ?? 8080, host: opts.host ?? '127.0.0.1' })
  print(
    `coordinator for task "${task.name}" at ${address}: head of ${params} parameters, ${task.training.rounds} rounds, waiting for ${task.participation.minParticipants} participants`,
  )
  const agg = task.aggregation
  print(
    agg.mode === 'secure'
      ? `secure aggregation (SecAgg+): neighbourhoods of ${agg.neighbours}, threshold ${agg.threshold}, updates clipped to L2 ${agg.clipNorm}, fixed point 1/${agg.fixedPoint.scale}, at most ${agg.maxExamples} examples per participant`
      : 'WARNING: plaintext-debug aggregation: the coordinator sees every update in the clear. Never use this with real data.',
  )
  if (task.participation.browsers.enabled) {
    const problem = await webPageProblem(webDir)
    print(
      problem === null
        ? `browser participants: up to ${task.participation.browsers.maxPerRound} per round, from the page at ${address}${JOIN_PATH}`
        : `browser participants: enabled, but ${JOIN_PATH} is unavailable: ${problem}`,
    )
  }
  await store.runs.setState(run.id, 'running')
  await store.audit.append({
    actor: 'system',
    action: 'run.started',
    outcome: 'ok',
    task: task.name,
    run: run.id,
    detail: { round: resumed?.round ?? 0 },
  })
  return {
    url: address,
    outDir,
    store,
    run,
    federation,
    app,
    io,
    records: log.records,
    async close() {
      federation.stop('coordinator closed')
      // 'finished' is emitted, not yet written: participants leave once they read it, so wait for
      // them (briefly) rather than cut the connections with the message still buffered.
      await allDisconnected(io, 3000)
      io.close()
      await app.close()
      // a round being committed finishes first
      await federation.done.catch(() => undefined)
      await store.close()
    },
  }
}

type Resumed = Progress & {
  readonly global: Float32Array
  readonly records: readonly RoundRecord[]
}

/**
 * The task's run to serve: its unfinished run when there is one with the same settings (a restart
 * carries on by itself), else a new one. An unfinished run with other settings is refused unless
 * `newRun` (then it is stopped, saying why).
 */
async function runOf(
  store: Store,
  task: TaskFile,
  newRun: boolean,
  print: (line: string) => void,
): Promise<Run> {
  const file = JSON.parse(JSON.stringify(task)) as TaskFile
  const stored = await store.tasks.get<TaskFile>(task.name)
  if (stored === null) await store.tasks.submit({ name: task.name, file, submittedBy: 'coordinator' })
  else if (canonical(stored.file) !== canonical(file))
    await store.sql.query('update tasks set file = $2 where name = $1', [task.name, JSON.stringify(file)])
  const unfinished = (await store.runs.unfinished<TaskFile>()).filter((r) => r.task === task.name)
  for (const run of unfinished) {
    if (canonical(run.settings) === canonical(file) && !newRun) return run
    if (!newRun)
      throw new RunFolderError(
        `task "${task.name}" has an unfinished run (${run.id}) with other settings than this task file (${settingsDiff(run.settings, file).join(', ')}); pass --new-run to stop it and start a new one, or restore the file`,
      )
    await endRun(store, run.id, 'stopped', 'replaced by a new run with other settings')
    print(`stopped run ${run.id} of task ${task.name}: replaced by a new run`)
  }
  const run = await store.runs.create({ task: task.name, settings: file })
  await store.audit.append({
    actor: 'system',
    action: 'run.created',
    outcome: 'ok',
    task: task.name,
    run: run.id,
  })
  return run
}

/** JSON with every object's keys sorted: the database's jsonb keeps its own key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

/** The top-level fields (and their first level) in which two task files differ. */
function settingsDiff(a: unknown, b: unknown, prefix = '', depth = 0): string[] {
  if (canonical(a) === canonical(b)) return []
  if (depth > 1 || typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return [prefix || 'the file']
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].flatMap((k) =>
    settingsDiff(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      prefix ? `${prefix}.${k}` : k,
      depth + 1,
    ),
  )
}

/** One round, kept: its row commits, or it was committed by an attempt whose answer was lost. */
async function commitRound(
  store: Store,
  runId: number,
  record: RoundRecord,
  head: string | null,
): Promise<void> {
  try {
    await store.rounds.commit(runId, record, head)
  } catch (error) {
    if (!(error instanceof StoreError && error.code === 'conflict')) throw error
    const kept = await store.rounds.get<RoundRecord>(runId, record.round)
    if (kept === null || JSON.stringify(kept.record.startedAt) !== JSON.stringify(record.startedAt))
      throw error
  }
}

async function endRun(
  store: Store,
  runId: number,
  state: 'finished' | 'stopped' | 'failed',
  reason: string,
): Promise<void> {
  const run = await store.runs.setState(runId, state, reason)
  await store.audit.append({
    actor: 'system',
    action: `run.${state}`,
    outcome: 'ok',
    task: run.task,
    run: runId,
    detail: { reason },
  })
}

/** Where a run stopped, from its kept rounds and the head files beside them; null before its first round. */
function resumeFrom(
  dir: string,
  rounds: readonly StoredRound<RoundRecord>[],
  paramCount: number,
): Resumed | null {
  if (rounds.length === 0) return null
  const records = rounds.map((r) => r.record)
  const last = [...records].reverse().find((r) => r.status === 'aggregated')
  const lastAggregated = last?.round ?? 0
  const file = headFile(dir, lastAggregated)
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (error) {
    throw new RunFolderError(
      `cannot continue: the head after round ${lastAggregated} (${file}) cannot be read: ${(error as Error).message}`,
    )
  }
  if (bytes.byteLength !== paramCount * 4)
    throw new RunFolderError(
      `cannot continue: ${file} holds ${bytes.byteLength} bytes, expected ${paramCount * 4}`,
    )
  let server: Progress['server'] = null
  try {
    const state = readFileSync(serverStateFile(dir, lastAggregated))
    if (state.byteLength === paramCount * 8) {
      const both = new Float32Array(state.buffer.slice(state.byteOffset, state.byteOffset + state.byteLength))
      server = { m: both.subarray(0, paramCount), v: both.subarray(paramCount) }
    }
  } catch {
    // no FedAdam state beside this head: the run used another server optimizer
  }
  return {
    round: records.at(-1)?.round ?? 0,
    server,
    labelCounts: last?.labelCounts ?? null,
    completed: records.filter((r) => r.status === 'aggregated').length,
    failed: records.filter((r) => r.status === 'failed').length,
    global: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
    records,
  }
}

async function allDisconnected(io: Server, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (io.of('/').sockets.size > 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
}
