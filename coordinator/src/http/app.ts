import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, ProtocolError, TASK_NAME } from '@fedtune/protocol'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import type { OpenTask, TaskDirectory } from '../host/task-directory.ts'
import { type MetricsExposure, metricsRoute } from '../metrics/metrics-route.ts'
import { type OperatorsOptions, registerOperators } from '../operators/register-operators.ts'
import { bestSummary } from '../rounds/best-summary.ts'
import { roundChart } from '../rounds/round-chart.ts'
import type { Store } from '../store/open-store.ts'
import { headFile } from '../store/run-folder.ts'
import { serveConsolePage } from './console-page.ts'
import { participantRoutes } from './participant-routes.ts'
import { serveWebPage } from './web-page.ts'

export type { ServedBackbone } from '../host/task-directory.ts'

export type AppOptions = {
  /** The tasks hosted: their runs' federations and logs, and the backbones they serve. */
  readonly tasks: TaskDirectory
  /** Adds routes of the coordinator's own (a task host's run control), after the operators' hooks. */
  readonly routes?: (app: FastifyInstance) => void
  readonly logger?: boolean
  /**
   * client-web's build output (index.html, assets/), served under /join; undefined serves no page
   * (/join then answers 503 saying so).
   */
  readonly webDir?: string | undefined
  /** console's build output, served under /console; undefined serves no page (/console answers 503). */
  readonly consoleDir?: string | undefined
  /** A handler that failed (answered 500): for the operator's log, once per failure. */
  readonly onError?: (message: string) => void
  /** Sees every inbound HTTP request (method, URL, body bytes): for audits and the traffic test. */
  readonly httpTap?: (request: { method: string; url: string; bodyBytes: number }) => void
  /**
   * The operators' accounts, sessions, tokens and audit log. Without one the app has no accounts and
   * refuses every route that is not public (401), never silently open.
   */
  readonly store?: Store | null
  /**
   * Which proxies to believe about the client's address and whether it came over TLS (fastify's
   * trustProxy: true, or addresses and CIDRs); by default none. The audit log's addresses,
   * the sign-in limits and the session cookie's Secure flag follow it.
   */
  readonly trustProxy?: boolean | string | string[]
  /** Session length, cookie and sign-in settings, and the clock (see registerOperators). */
  readonly operators?: Omit<OperatorsOptions, 'store'>
  /** The coordinator's metrics and the token that reads them at GET /metrics (without: 404 saying how). */
  readonly metrics?: MetricsExposure
  /** Serve HTTPS (and so WSS) with this certificate and key, PEM (http/tls-pair.ts); plain HTTP without. */
  readonly https?: { readonly cert: string; readonly key: string }
  /** What GET /api/status adds about a task's run (the console feed's waiting, times, metrics, ETA). */
  readonly status?: (task: string) => Readonly<Record<string, unknown>>
}

/** Participants fetch these without an account; what operators read needs one (operators/access.ts). */
const PUBLIC = { config: { access: 'public' } } as const
const VIEWER = { config: { access: 'viewer' } } as const

export { backbonePath } from './backbone-path.ts'

/**
 * The coordinator's HTTP side, built apart from `listen()` so tests drive it with `inject()`:
 * backbone files (with SHA-256 ETags), read-only JSON about the run for operators, and the browser
 * participants' page under /join.
 */
export function buildApp(opts: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ?? false,
    trustProxy: opts.trustProxy ?? false,
    // the same routes and sockets over TLS: socket.io attaches to whichever server this is
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key } } : {}),
  }) as unknown as FastifyInstance
  // First: its onRoute hook must see every route, and refuses one that declares no access.
  registerOperators(app, { ...opts.operators, store: opts.store ?? null })
  metricsRoute(app, opts.metrics)
  const { tasks } = opts
  const httpTap = opts.httpTap
  if (httpTap)
    app.addHook('onRequest', async (request) => {
      httpTap({
        method: request.method,
        url: request.url,
        bodyBytes: Number(request.headers['content-length'] ?? 0),
      })
    })
  // The /join page is cross-origin isolated (COEP require-corp): what it loads from here, the
  // backbone and /api/* included, must say it may be embedded by its own origin.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cross-origin-resource-policy', 'same-origin')
    return payload
  })
  // A handler that throws answers 500 saying what failed, is logged once, and ends nothing else.
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500)
      opts.onError?.(`${request.method} ${JSON.stringify(request.url)} failed: ${error.message}`)
    return reply.code(status).send(
      status >= 500
        ? // The details (a path, an errno) are in the operator's log, not for whoever asked.
          { error: 'internal', message: 'the coordinator failed on this request; its log has the details' }
        : { error: 'bad-request', message: error.message },
    )
  })
  if (opts.store) participantRoutes(app, opts.store, tasks)
  opts.routes?.(app)
  serveWebPage(app, opts.webDir)
  serveConsolePage(app, opts.consoleDir)

  app.get<{ Params: { digest: string; '*': string } }>(
    '/backbone/:digest/*',
    PUBLIC,
    async (request, reply) => {
      const { digest } = request.params
      if (!/^[0-9a-f]{64}$/.test(digest))
        return reply.code(400).send({
          error: 'bad-request',
          message: `expected a backbone digest of 64 lowercase hex digits, got ${describe(digest)}`,
        })
      const backbone = tasks.backbone(digest)
      if (backbone === undefined)
        return reply.code(404).send({
          error: 'not-found',
          message: `no task of this coordinator uses backbone ${digest}`,
        })
      const file = backbone.files.find((f) => f.name === request.params['*'])
      if (file === undefined)
        return reply.code(404).send({
          error: 'not-found',
          message: `backbone ${digest} has the files ${backbone.files.map((f) => f.name).join(', ')}`,
        })
      const etag = `"${file.sha256}"`
      reply.header('etag', etag)
      reply.header('cache-control', 'public, max-age=31536000, immutable')
      reply.header('x-content-sha256', file.sha256)
      if (request.headers['if-none-match'] === etag) return reply.code(304).send()
      reply.header('content-length', file.bytes)
      reply.type(file.name.endsWith('.json') ? 'application/json' : 'application/octet-stream')
      return reply.send(createReadStream(join(backbone.dir, file.name)))
    },
  )

  /**
   * The task a request names (`?task=`; without one, the only task open), or the refusal it gets:
   * 400 for a malformed name, 404 for a task not hosted, 503 for one still preparing.
   */
  const taskOf = (query: unknown, reply: FastifyReply): OpenTask | undefined => {
    const name = (query as { task?: unknown } | undefined)?.task
    if (name !== undefined && (typeof name !== 'string' || !TASK_NAME.test(name))) {
      void reply.code(400).send({
        error: 'bad-request',
        message: `?task: expected a task name ([A-Za-z0-9._-], at most 64), got ${describe(name)}`,
      })
      return undefined
    }
    try {
      return tasks.open(name as string | undefined, true)
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error
      void reply
        .code(error.code === 'task-not-ready' ? 503 : 404)
        .send({ error: error.code, message: error.message })
      return undefined
    }
  }

  // The volunteers' page reads the task it joins.
  app.get('/api/task', PUBLIC, async (request, reply) => taskOf(request.query, reply)?.info)

  // Every task hosted, and what its run is doing.
  app.get('/api/tasks', VIEWER, async () => ({ tasks: tasks.list() }))

  app.get('/api/status', VIEWER, async (request, reply) => {
    const open = taskOf(request.query, reply)
    if (open === undefined) return reply
    const { federation } = open
    const s = federation.state
    return {
      task: federation.task.name,
      phase: s.phase,
      // no round starts while paused (one running ends as usual)
      paused: s.paused,
      round: s.round,
      // the running round's deadline (epoch ms), which an operator may extend
      deadlineAt: s.deadlineAt,
      rounds: s.config.rounds,
      online: [...s.online.keys()].sort(),
      // those of them who joined from the /join page (the rest are hospitals)
      browsers: [...s.online]
        .filter(([, kind]) => kind === 'browser')
        .map(([name]) => name)
        .sort(),
      selected: s.selected,
      received: [...s.received.keys()].sort(),
      aggregation: federation.task.aggregation,
      // the secure round's stage (advertise, share-keys, masked-input, unmask) and who it waits for
      secure: federation.secureStage,
      completed: s.completed,
      failed: s.failed,
      // the best round by the task's validation metric and its test figures: what to quote of the run
      best: bestSummary(open.log.records, federation.metric),
      // a private task's budget: ε spent so far (the rounds accounted) of the target, at δ; null: no privacy
      privacy: federation.privacy,
      ...opts.status?.(federation.task.name),
    }
  })

  app.get('/api/rounds', VIEWER, async (request, reply) => taskOf(request.query, reply)?.log.records)

  // The volunteers' page shows this chart: held-out and mean local accuracy per round, which every
  // participant is sent after each round anyway; no counts. The records themselves are for operators.
  app.get('/api/rounds.svg', PUBLIC, async (request, reply) => {
    const log = taskOf(request.query, reply)?.log
    return log && reply.type('image/svg+xml').send(roundChart(log.records, log.title))
  })

  app.get<{ Params: { round: string } }>('/api/rounds/:round/head', VIEWER, async (request, reply) => {
    const open = taskOf(request.query, reply)
    if (open === undefined) return reply
    const { federation, log } = open
    const round = roundNumber(request.params.round)
    if (round === undefined)
      return reply.code(400).send({
        error: 'bad-request',
        message: `expected a round number in decimal digits (no sign, spaces or leading zeros), got ${describe(request.params.round)}`,
      })
    if (round > federation.state.round)
      return reply.code(404).send({
        error: 'not-found',
        message: `expected a round from 0 to ${federation.state.round}, got ${round}`,
      })
    try {
      const bytes = await readFile(headFile(log.dir, round))
      return reply.type('application/octet-stream').send(bytes)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      return reply
        .code(404)
        .send({ error: 'not-found', message: `round ${round} produced no head (it failed or is running)` })
    }
  })

  return app
}

/** A route's round number: canonical decimal only, so "", "-0", "1e2", "0x1" and " 1" are refused. */
function roundNumber(text: string): number | undefined {
  return /^(0|[1-9][0-9]*)$/.test(text) ? Number(text) : undefined
}
