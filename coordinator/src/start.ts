import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { accuracy, initHead, predictHead, rocAuc } from '@fedtune/model'
import { embedFolder, fetchBackboneFromUrl, loadBackbone, progressTo } from '@fedtune/model/node'
import { escapeText, paramCount, type TaskInfo } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { FastifyInstance } from 'fastify'
import type { Server } from 'socket.io'
import { type AppOptions, backbonePath, buildApp } from './http/app.ts'
import { DEFAULT_WEB_DIR, JOIN_PATH, webPageProblem } from './http/web-page.ts'
import { readEnrolment, writeEnrolment } from './participants/enrolment.ts'
import { readExclusions, writeExclusion } from './participants/exclusion.ts'
import { type Evaluate, Federation } from './rounds/federation.ts'
import { formatRecord, RoundLog, type RoundRecord } from './rounds/round-log.ts'
import type { RoundObserver } from './rounds/round-observer.ts'
import type { ConnectionLimits } from './sockets/connection-limits.ts'
import { attachSockets, type InboundTap } from './sockets/socket-shell.ts'
import { openRunFolder, RunFolderError } from './store/run-folder.ts'
import type { TaskFile } from './tasks/task-file.ts'

export type StartOptions = {
  readonly task: TaskFile
  readonly port?: number
  readonly host?: string
  /** Where rounds.jsonl and the per-round heads go. */
  readonly outDir: string
  /** Downloaded backbones and cached embeddings of the held-out set. */
  readonly cacheDir: string
  readonly tap?: InboundTap
  readonly httpTap?: AppOptions['httpTap']
  /** Operator output; defaults to stdout. Progress bars go to stderr. */
  readonly print?: (line: string) => void
  readonly quiet?: boolean
  /** Continue the run in `outDir` where it stopped (after a crash or a stop). */
  readonly resume?: boolean
  /** client-web's build output, served under /join; defaults to client-web/dist in this repository. */
  readonly webDir?: string
  /** What one connection may cost (connection-limits.ts); each limit defaults when absent. */
  readonly limits?: Partial<ConnectionLimits>
  /** Watches rounds and their stages as they happen: bench:load measures the coordinator with it. */
  readonly observer?: RoundObserver
}

export type RunningCoordinator = {
  readonly url: string
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
  mkdirSync(opts.outDir, { recursive: true })
  const resumed = openRunFolder(
    opts.outDir,
    {
      format: 'fedtune-run/1',
      task: task.name,
      backboneDigest: backbone.digest,
      head: spec,
      paramCount: params,
      createdAt: new Date().toISOString(),
    },
    opts.resume ?? false,
  )
  if (resumed) {
    if (resumed.round >= task.training.rounds)
      throw new RunFolderError(
        `${opts.outDir} already finished all ${resumed.round} rounds; raise training.rounds in the task file to continue it`,
      )
    if (task.training.server.optimizer === 'adam' && resumed.completed > 0 && !resumed.server)
      print(
        `note: ${opts.outDir} has no FedAdam state for its last head (it ran another server optimizer); Adam's moments start from zero`,
      )
    print(
      `resuming ${opts.outDir} after round ${resumed.round} (${resumed.completed} aggregated, ${resumed.failed} failed)${resumed.droppedPartialLine ? '; dropped a record the crash cut short' : ''}`,
    )
  }
  const log = new RoundLog(
    opts.outDir,
    resumed?.records ?? [],
    `task ${task.name}: the global head per round`,
  )
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
    enrolled: readEnrolment(opts.outDir),
    onEnrol: (name, key) => writeEnrolment(opts.outDir, name, key),
    excluded: readExclusions(opts.outDir),
    onExclude: (entry) => writeExclusion(opts.outDir, entry),
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
    log,
    evaluate,
    onRecord: (record) => print(escapeText(formatRecord(record, task.training.rounds), 2000)),
    onFinished: (f) =>
      print(`finished: ${f.reason}; ${f.completed} rounds aggregated, ${f.failed} failed; log in ${log.dir}`),
    // secure-round refusals quote what participants sent
    onWarning: (message) => print(`warning: ${escapeText(message)}`),
    observer: opts.observer,
  })

  const webDir = opts.webDir ?? DEFAULT_WEB_DIR
  const app = buildApp({
    backbone: { dir, digest: backbone.digest, files: backbone.files },
    federation,
    log,
    webDir,
    onError: (message) => print(`error: ${message}`),
    ...(opts.httpTap ? { httpTap: opts.httpTap } : {}),
  })
  const io = attachSockets(app.server, {
    federation,
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
  return {
    url: address,
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
    },
  }
}

async function allDisconnected(io: Server, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (io.of('/').sockets.size > 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
}

export function defaultOutDir(base: string, name: string): string {
  return join(base, 'runs', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
}
