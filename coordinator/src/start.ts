import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { escapeText, formatEpsilon, privacyStatement } from '@fedtune/protocol'
import type { FastifyInstance } from 'fastify'
import type { Server } from 'socket.io'
import { ConsoleFeed } from './console/console-feed.ts'
import { attachConsole, type ConsoleSockets } from './console/console-sockets.ts'
import { letHeapGrow } from './host/heap-growth.ts'
import type { LiveRun } from './host/live-run.ts'
import { runOf } from './host/run-rows.ts'
import { TaskHost } from './host/task-host.ts'
import { type AppOptions, buildApp } from './http/app.ts'
import { CONSOLE_PATH, consolePageProblem, DEFAULT_CONSOLE_DIR } from './http/console-page.ts'
import { runRoutes } from './http/run-routes.ts'
import type { TlsPair } from './http/tls-pair.ts'
import { DEFAULT_WEB_DIR, JOIN_PATH, webPageProblem } from './http/web-page.ts'
import { coordinatorMetrics } from './metrics/coordinator-metrics.ts'
import type { MetricsOptions } from './metrics/metrics-options.ts'
import { type MetricsServer, serveMetrics } from './metrics/metrics-server.ts'
import { metricsTokenProblem } from './metrics/metrics-token.ts'
import { onlineParticipants } from './metrics/online-participants.ts'
import { roundMetrics } from './metrics/round-metrics.ts'
import { countTraffic } from './metrics/socket-traffic.ts'
import { realClock } from './rounds/clock.ts'
import type { Federation } from './rounds/federation.ts'
import type { RoundLog, RoundRecord } from './rounds/round-log.ts'
import { afterQueuedSends, allObservers, type RoundObserver } from './rounds/round-observer.ts'
import type { ConnectionLimits } from './sockets/connection-limits.ts'
import type { ReadPacer, ReadPacing } from './sockets/read-pacer.ts'
import { attachSockets, type InboundTap, raiseMessageBytes } from './sockets/socket-shell.ts'
import { TurnQueue } from './sockets/turn-queue.ts'
import { openStore, type Run, type Store } from './store/index.ts'
import type { TaskFile } from './tasks/task-file.ts'

export type HostOptions = {
  readonly port?: number
  readonly host?: string
  /** Where the database and the run folders go unless named: `.fedtune` by default. */
  readonly dataDir?: string
  /**
   * The database (store/open-store.ts): a folder for embedded PGlite, or postgres://…; by default
   * `<outDir>/db` when `outDir` is given, else `<dataDir>/db`. A run's folder defaults to
   * `<dataDir>/runs/<task>-<run id>`.
   */
  readonly database?: string
  /** Which proxies' X-Forwarded-* headers to believe (fastify's `trustProxy`); none by default. */
  readonly trustProxy?: boolean | string | string[]
  /** Downloaded backbones and cached embeddings of the held-out set. */
  readonly cacheDir: string
  readonly tap?: InboundTap
  readonly httpTap?: AppOptions['httpTap']
  /** Operator output; defaults to stdout. Progress bars go to stderr. */
  readonly print?: (line: string) => void
  readonly quiet?: boolean
  /** client-web's build output, served under /join; defaults to client-web/dist in this repository. */
  readonly webDir?: string
  /** console's build output, served under /console; defaults to console/dist in this repository. */
  readonly consoleDir?: string
  /** What one connection may cost (connection-limits.ts); each limit defaults when absent. */
  readonly limits?: Partial<ConnectionLimits>
  /** How the event loop batches participants' messages while they pour in (sockets/read-pacer.ts). */
  readonly pacing?: Partial<ReadPacing>
  /** The most one event-loop turn spends handling participants' messages and sending to them, in ms (sockets/turn-queue.ts; default 10). */
  readonly sliceMs?: number
  /** Watches rounds and their stages as they happen: bench:load measures the coordinator with it. */
  readonly observer?: RoundObserver
  /** Prometheus metrics: GET /metrics on the main port for a token, or a port of their own (docs/metrics.md). */
  readonly metrics?: MetricsOptions
  /** Serve HTTPS and WSS with this certificate and key (readTlsPair); plain HTTP without (docs/tls-and-proxies.md). */
  readonly tls?: Pick<TlsPair, 'cert' | 'key'>
}

/** The coordinator started on one task file (`fedtune coordinator --task`), which it serves at once. */
export type StartOptions = HostOptions & {
  readonly task: TaskFile
  /**
   * The run's folder: the head after every round (written before its round commits) and a readable
   * copy of the rounds (rounds.jsonl, rounds.svg); the database is the source of truth.
   */
  readonly outDir?: string
  /** A task whose unfinished run has other settings: stop that run and start a new one (else refused). */
  readonly newRun?: boolean
}

/** A coordinator serving its tasks: every submitted one, each unfinished run carried on. */
export type RunningHost = {
  readonly url: string
  readonly store: Store
  readonly host: TaskHost
  readonly app: FastifyInstance
  readonly io: Server
  /** Where `metrics.address` serves /metrics (the port chosen when 0 was asked for); null without one. */
  readonly metricsUrl: string | null
  /** The operators' live console's socket server (console/console-sockets.ts). */
  readonly consoles: ConsoleSockets
  close(): Promise<void>
}

/** The coordinator started on one task file: the host, and that task's run once it serves. */
export type RunningCoordinator = RunningHost & {
  /** The run's folder: its heads, and a readable copy of its rounds. */
  readonly outDir: string
  readonly run: Run
  readonly federation: Federation
  readonly records: RoundRecord[]
}

/**
 * Opens the store and the port, and serves every task the store holds, carrying each unfinished
 * run on; the port is open while runs still prepare (their participants hear `task-not-ready`).
 */
export async function startHost(opts: HostOptions): Promise<RunningHost> {
  return serve(opts)
}

/**
 * `fedtune coordinator --task`: submits the task file (a changed file under an unfinished run is
 * refused unless `newRun`), serves it (and every other task in the store) and resolves once its run
 * serves; its preparation's failure rejects, with the coordinator closed.
 */
export async function startCoordinator(opts: StartOptions): Promise<RunningCoordinator> {
  const { task } = opts
  if (opts.outDir !== undefined) mkdirSync(opts.outDir, { recursive: true })
  let run: Run | undefined
  const running = await serve(opts, async (store, print) => {
    run = await runOf(store, task, opts.newRun ?? false, print)
    return run
  })
  let live: LiveRun
  try {
    live = await running.host.ready(task.name)
  } catch (error) {
    await running.close()
    throw error
  }
  return {
    ...running,
    outDir: live.outDir,
    run: live.run,
    federation: live.federation,
    records: (live.log as RoundLog).records,
  }
}

async function serve(
  opts: HostOptions & { readonly outDir?: string },
  before?: (store: Store, print: (line: string) => void) => Promise<Run>,
): Promise<RunningHost> {
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`))
  letHeapGrow()
  const dataDir = opts.dataDir ?? '.fedtune'
  // refused before anything is opened
  const token = opts.metrics?.token
  const tokenProblem = token === undefined ? null : metricsTokenProblem(token)
  if (tokenProblem !== null) throw new Error(`the metrics token: ${tokenProblem}`)
  const store = await openStore(opts.database ?? join(opts.outDir ?? dataDir, 'db'))
  const webDir = opts.webDir ?? DEFAULT_WEB_DIR
  // read at each scrape, once the host exists
  let pacer: ReadPacer | undefined
  const metrics = coordinatorMetrics(
    () => onlineParticipants(host),
    () => pacer?.blocked.ms ?? 0,
  )
  let address = ''
  let io: Server | undefined
  let host: TaskHost
  // The socket shell's work, a slice a turn; the rounds' observers hear of what it has sent.
  const turns = new TurnQueue(
    (error) => print(`warning: internal: ${escapeText((error as Error).message)}`),
    opts.sliceMs,
  )
  // The operators' live console (console/): fed by every run's observer, the sockets and the host.
  const feed = new ConsoleFeed({
    store,
    host: {
      list: () => host.list(),
      open: (task, ended) => host.open(task, ended),
      runOf: (task) => host.runOf(task),
      preparingOf: (task) => host.preparingOf(task),
    },
    onWarning: (message) => print(`warning: ${escapeText(message)}`),
  })
  try {
    const first = await before?.(store, print)
    host = new TaskHost({
      store,
      dataDir,
      cacheDir: opts.cacheDir,
      print,
      bars: opts.quiet ? undefined : process.stderr,
      // Every part that watches rounds adds its observer of a run here.
      observerOf: (run) =>
        afterQueuedSends(
          allObservers([opts.observer, roundMetrics(metrics, run.task), feed.observerOf(run)]),
          (fn) => turns.push(fn),
          realClock.now,
        ),
      onRunChanged: (task) => feed.runChanged(task),
      runFolder: (run) => (run.id === first?.id ? opts.outDir : undefined),
      onReady: (live) => {
        if (io) raiseMessageBytes(io, live.info.paramCount)
      },
      onOpen: (live) => describeRun(live, print, webDir, address),
    })
    await host.load()
  } catch (error) {
    feed.close()
    await store.close()
    throw error
  }
  const app = buildApp({
    tasks: host,
    routes: (app) => runRoutes(app, store, host, process.cwd()),
    status: (task) => feed.status(task),
    webDir,
    consoleDir: opts.consoleDir ?? DEFAULT_CONSOLE_DIR,
    store,
    ...(opts.trustProxy === undefined ? {} : { trustProxy: opts.trustProxy }),
    ...(opts.tls === undefined ? {} : { https: opts.tls }),
    onError: (message) => print(`error: ${message}`),
    ...(opts.httpTap ? { httpTap: opts.httpTap } : {}),
    metrics: { metrics, token },
    operators: { onSignInFailed: (reason) => metrics.signInFailures.inc({ reason }) },
  })
  io = attachSockets(app.server, {
    tasks: host,
    tap: opts.tap,
    limits: opts.limits,
    pacing: opts.pacing,
    turns,
    onPacer: (made) => {
      pacer = made
    },
    // the shell escapes what participants sent; escaping again here changes nothing and keeps it so
    onWarning: (message) => print(`warning: ${escapeText(message)}`),
    onJoin: (p, agent) => print(`joined: ${escapeText(p, 80)} (${escapeText(agent, 200)})`),
    onLeave: (p, reason) => print(`left: ${escapeText(p, 80)} (${escapeText(reason, 200)})`),
    onRefused: (code) => metrics.refused.inc({ code }),
    onParticipant: (event) => feed.participant(event),
  })
  const consoles: ConsoleSockets = attachConsole(app.server, {
    store,
    feed,
    trustProxy: opts.trustProxy !== undefined && opts.trustProxy !== false,
    onWarning: (message) => print(`warning: ${escapeText(message)}`),
  })
  countTraffic(io, metrics)
  const server = io
  address = await app.listen({ port: opts.port ?? 8080, host: opts.host ?? '127.0.0.1' })
  let metricsServer: MetricsServer | null = null
  if (opts.metrics?.address !== undefined) {
    try {
      metricsServer = await serveMetrics(metrics.registry, opts.metrics.address)
    } catch (error) {
      await host.close()
      server.close()
      await app.close()
      await store.close()
      throw new Error(
        `serving the metrics at ${opts.metrics.address.host}:${opts.metrics.address.port}: ${(error as Error).message}`,
      )
    }
    print(
      `metrics at ${metricsServer.url} (no token: reachable by Prometheus alone, as the operator binds it)`,
    )
  }
  if (token !== undefined) print(`metrics at ${address}/metrics for "Authorization: Bearer <metrics token>"`)
  const tasks = host.list()
  print(
    `coordinator at ${address}: ${tasks.length === 0 ? 'no tasks yet (operators submit them: fedtune task submit)' : tasks.map((t) => `${t.name} (${t.phase})`).join(', ')}`,
  )
  const consoleDir = opts.consoleDir ?? DEFAULT_CONSOLE_DIR
  const consoleProblem = await consolePageProblem(consoleDir)
  print(
    consoleProblem === null
      ? `operator console at ${address}${CONSOLE_PATH}`
      : `operator console unavailable: ${consoleProblem}`,
  )
  // runs that became ready before the port opened
  for (const t of tasks)
    if (t.phase === 'serving') await describeRun(host.open(t.name, true) as LiveRun, print, webDir, address)
  let closed: Promise<void> | undefined
  return {
    url: address,
    store,
    host,
    app,
    io: server,
    metricsUrl: metricsServer?.url ?? null,
    consoles,
    close() {
      closed ??= (async () => {
        const stopping = host.close()
        // 'finished' is emitted, not yet written: participants leave once they read it, so wait for
        // them (briefly) rather than cut the connections with the message still buffered.
        await allDisconnected(server, 3000)
        await consoles.close()
        server.close()
        await app.close()
        await metricsServer?.close()
        // a round being committed finishes first
        await stopping
        await store.close()
      })()
      return closed
    },
  }
}

/** What the operator reads when a run opens to participants. */
async function describeRun(
  live: LiveRun,
  print: (line: string) => void,
  webDir: string,
  address: string,
): Promise<void> {
  if (address === '') return // said once the port is open
  const task = live.run.settings as TaskFile
  print(
    `task "${task.name}" (run ${live.run.id}) serving at ${address}: head of ${live.info.paramCount} parameters, ${task.training.rounds} rounds, waiting for ${task.participation.minParticipants} participants`,
  )
  const agg = task.aggregation
  const fp = live.fixedPoint
  const privacy = live.info.privacy
  print(
    agg.mode === 'secure' && fp !== null
      ? `secure aggregation (SecAgg+): neighbourhoods of ${agg.neighbours}, threshold ${agg.threshold}, updates clipped to L2 ${fp.clipNorm}, fixed point 1/${fp.scale}, ${privacy === null ? `at most ${fp.maxExamples} examples per participant` : 'every participant weighs 1'}`
      : 'WARNING: plaintext-debug aggregation: the coordinator sees every update in the clear. Never use this with real data.',
  )
  // what every participant is told before it joins, and where the budget stands
  for (const line of privacyStatement(privacy)) print(`privacy: ${line}`)
  const spent = live.federation.privacy
  if (spent !== null)
    print(
      `privacy budget: ε ${formatEpsilon(spent.epsilon)} of ${formatEpsilon(spent.target)} spent (δ = ${spent.delta.toExponential(0)}) over ${spent.rounds} rounds accounted; the run ends before a round that could pass it`,
    )
  if (!task.participation.browsers.enabled) return
  const problem = await webPageProblem(webDir)
  print(
    problem === null
      ? `browser participants: up to ${task.participation.browsers.maxPerRound} per round, from the page at ${address}${JOIN_PATH}/${task.name}`
      : `browser participants: enabled, but ${JOIN_PATH} is unavailable: ${problem}`,
  )
}

async function allDisconnected(io: Server, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (io.of('/').sockets.size > 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
}
