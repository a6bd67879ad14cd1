import type { Server as HttpServer } from 'node:http'
import {
  CONSOLE_NAMESPACE,
  CONSOLE_SOCKET_PATH,
  type ConsoleRefusal,
  type ConsoleToServerEvents,
  type ConsoleWatchReply,
  describe,
  escapeText,
  type ServerToConsoleEvents,
  TASK_NAME,
} from '@fedtune/protocol'
import { type Namespace, Server, type Socket } from 'socket.io'
import { AuditBudget, type Suppressed } from '../operators/audit-budget.ts'
import { authenticate } from '../operators/authenticate.ts'
import type { SignedIn } from '../operators/signed-in.ts'
import { AddressCap, addressOf } from '../sockets/address-cap.ts'
import { type Bucket, fullBucket, spend } from '../sockets/token-bucket.ts'
import type { Store } from '../store/index.ts'
import type { ConsoleFeed } from './console-feed.ts'
import { originProblem } from './console-origin.ts'

export type ConsoleSocketOptions = {
  readonly store: Store
  readonly feed: ConsoleFeed
  /** Believe X-Forwarded-Host for the Origin check (the app's trustProxy). */
  readonly trustProxy?: boolean
  readonly now?: () => Date
  /** How often every console's session is checked again (ms): one signed out or expired is disconnected. */
  readonly recheckMs?: number
  readonly maxConnectionsPerAddress?: number
  /** `watch` requests per second per console, and the burst it may spend at once. */
  readonly watchPerSecond?: number
  readonly watchBurst?: number
  readonly onWarning?: (message: string) => void
}

/** The console's socket server, and how to close it (its connections, its timers; not the HTTP server). */
export type ConsoleSockets = { readonly io: Server; close(): Promise<void> }

/** Events other than `watch` a console may send before it is disconnected (each is counted and ignored). */
const STRAY_EVENTS = 20
/** A console sends task names and acknowledgements, never more: a small bound on any message. */
const CONSOLE_MESSAGE_BYTES = 4096

type ConsoleSocket = Socket<ConsoleToServerEvents, ServerToConsoleEvents, Record<string, never>, ConsoleData>
type ConsoleData = {
  signedIn: SignedIn
  /** The credentials of the handshake, checked again while it is open. */
  headers: { authorization?: string | undefined; cookie?: string | undefined }
  watching: string | null
  bucket: Bucket
  strays: number
}

/**
 * The operators' live console: a socket.io server of its own on the coordinator's HTTP server
 * (path CONSOLE_SOCKET_PATH, namespace CONSOLE_NAMESPACE), apart from the participants' hardened
 * one, with socket.io's default parser and a small message bound. A handshake needs a usable session
 * cookie or API token and, from a browser, the coordinator's own Origin; a refusal is a connect_error
 * saying why, audited within an audit budget. Every signed-in operator (a viewer too) sees
 * everything and can change nothing: the only event taken is `watch`.
 */
export function attachConsole(server: HttpServer, opts: ConsoleSocketOptions): ConsoleSockets {
  const { store, feed } = opts
  const now = opts.now ?? (() => new Date())
  const warn = (message: string) => opts.onWarning?.(escapeText(message, 500))
  const cap = new AddressCap(opts.maxConnectionsPerAddress ?? 16)
  const perSecond = opts.watchPerSecond ?? 2
  const burst = opts.watchBurst ?? 10
  const budget = new AuditBudget()
  const io = new Server<ConsoleToServerEvents, ServerToConsoleEvents, Record<string, never>, ConsoleData>(
    server,
    {
      path: CONSOLE_SOCKET_PATH,
      serveClient: false,
      transports: ['websocket'],
      maxHttpBufferSize: CONSOLE_MESSAGE_BYTES,
      // a refused handshake's connection (no namespace joined) is closed this soon, freeing its slot
      connectTimeout: 5000,
      allowRequest: (req, callback) => {
        const address = addressOf(req.socket.remoteAddress)
        if (!cap.take(address))
          return callback(
            `too-many-connections: at most ${opts.maxConnectionsPerAddress ?? 16} consoles from ${address}`,
            false,
          )
        req.socket.once('close', () => cap.give(address))
        callback(null, true)
      },
    },
  )
  // The default namespace serves nothing: a console connects to CONSOLE_NAMESPACE.
  io.of('/').use((_socket, next) => next(new Error(`expected the namespace ${CONSOLE_NAMESPACE}`)))
  const consoles: Namespace<
    ConsoleToServerEvents,
    ServerToConsoleEvents,
    Record<string, never>,
    ConsoleData
  > = io.of(CONSOLE_NAMESPACE)

  /** Refusals past the budget: one summary row per address and window. */
  const summarize = async (ended: readonly Suppressed[]) => {
    for (const s of ended)
      await store.audit.append({
        actor: 'system',
        address: s.address,
        action: 'console.refused.summary',
        outcome: 'refused',
        detail: { refusals: s.count, since: new Date(s.since).toISOString() },
      })
  }
  const refused = async (address: string, refusal: ConsoleRefusal, actor: string) => {
    const { write, ended } = budget.take(address, now().getTime())
    await summarize(ended)
    if (write)
      await store.audit.append({
        actor,
        address,
        action: 'console.refused',
        outcome: 'refused',
        target: CONSOLE_NAMESPACE,
        detail: { code: refusal.code },
      })
  }

  consoles.use((socket, next) => {
    const headers = socket.handshake.headers
    const address = addressOf(socket.handshake.address)
    const refuse = (refusal: ConsoleRefusal, actor = 'anonymous') => {
      void refused(address, refusal, actor).then(
        () => next(Object.assign(new Error(refusal.message), { data: refusal })),
        (error: Error) => {
          warn(`console: auditing a refused connection from ${address}: ${error.message}`)
          next(Object.assign(new Error(refusal.message), { data: refusal }))
        },
      )
    }
    const foreign = originProblem(
      {
        origin: headers.origin,
        host: headers.host,
        'x-forwarded-host': headers['x-forwarded-host'],
      },
      opts.trustProxy === true,
    )
    if (foreign !== null) return refuse({ code: 'foreign-origin', message: foreign })
    const credentials = { authorization: headers.authorization, cookie: headers.cookie }
    authenticate(credentials, store, now()).then(
      (auth) => {
        if (!auth.ok)
          return refuse(
            { code: auth.refusal.code as ConsoleRefusal['code'], message: auth.refusal.message },
            auth.refusal.actor,
          )
        if (auth.signedIn === null)
          return refuse({
            code: 'unauthenticated',
            message:
              'the console needs a signed-in operator: sign in first (POST /api/session sets the session cookie) or send "Authorization: Bearer <API token>"',
          })
        socket.data = {
          signedIn: auth.signedIn,
          headers: credentials,
          watching: null,
          bucket: fullBucket(burst, now().getTime()),
          strays: 0,
        }
        next()
      },
      (error: Error) => {
        warn(`console: authenticating a connection from ${address}: ${error.message}`)
        next(
          Object.assign(
            new Error('the coordinator failed checking this connection; its log has the details'),
            { data: { code: 'internal' } },
          ),
        )
      },
    )
  })

  /** Checks the socket's session again; one no longer usable is told why and disconnected. */
  const recheck = async (socket: ConsoleSocket): Promise<boolean> => {
    const auth = await authenticate(socket.data.headers, store, now())
    if (auth.ok && auth.signedIn !== null) return true
    socket.emit(
      'signed-out',
      auth.ok
        ? { code: 'unauthenticated', message: 'the console needs a signed-in operator; sign in again' }
        : { code: auth.refusal.code as ConsoleRefusal['code'], message: auth.refusal.message },
    )
    socket.disconnect(true)
    return false
  }
  const sweep = () =>
    summarize(budget.sweep(now().getTime())).catch((error: Error) =>
      warn(`console: summarizing refused connections: ${error.message}`),
    )
  const recheckAll = () => {
    for (const socket of consoles.sockets.values())
      recheck(socket).catch((error: Error) => warn(`console: checking a session again: ${error.message}`))
  }
  const every = setInterval(() => {
    recheckAll()
    void sweep()
  }, opts.recheckMs ?? 30_000)
  every.unref()
  // A sign-out, a disabled operator or a revoked token: the consoles it concerns are disconnected at once.
  const unsubscribe = store.audit.subscribe((entry) => {
    if (/^(session|operator|token)\./.test(entry.action) && entry.outcome === 'ok') recheckAll()
  })

  consoles.on('connection', (socket) => {
    const { operator } = socket.data.signedIn
    socket.onAny((event: string) => {
      if (event === 'watch') return
      socket.data.strays++
      if (socket.data.strays === 1)
        warn(`console of ${operator.name}: ignored an event it may not send: ${describe(event)}`)
      if (socket.data.strays > STRAY_EVENTS) socket.disconnect(true)
    })
    socket.on('watch', (task: unknown, reply: unknown) => {
      if (typeof reply !== 'function') {
        socket.data.strays++
        return
      }
      const answer = reply as (r: ConsoleWatchReply) => void
      const spent = spend(socket.data.bucket, now().getTime(), perSecond, burst)
      if (spent === null)
        return answer({
          ok: false,
          error: 'rate-limited',
          message: `expected at most ${perSecond} watch requests a second (a burst of ${burst}), got more; wait a moment`,
        })
      socket.data.bucket = spent
      if (typeof task !== 'string' || !TASK_NAME.test(task))
        return answer({
          ok: false,
          error: 'bad-request',
          message: `watch: expected a task name ([A-Za-z0-9._-], at most 64), got ${describe(task)}`,
        })
      void (async () => {
        if (!(await recheck(socket))) return
        const watched = await feed.watch(task)
        if (watched.ok) {
          if (socket.data.watching !== null) await socket.leave(room(socket.data.watching))
          socket.data.watching = task
          await socket.join(room(task))
        }
        answer(watched)
      })().catch((error: Error) => {
        warn(`console: watch ${task}: ${error.message}`)
        answer({
          ok: false,
          error: 'internal',
          message: 'the coordinator failed on this request; its log has the details',
        })
      })
    })
    socket.emit('welcome', { operator: { name: operator.name, role: operator.role }, runs: feed.runs() })
  })

  feed.attach({
    watched: (task) => (consoles.adapter.rooms.get(room(task))?.size ?? 0) > 0,
    toAll: (event, ...args) => consoles.emit(event, ...args),
    toWatchers: (task, event, ...args) => consoles.to(room(task)).emit(event, ...args),
  })
  return {
    io,
    close: async () => {
      clearInterval(every)
      unsubscribe()
      feed.close()
      // the participants' server closes the HTTP server; this one only its own connections
      for (const socket of consoles.sockets.values()) socket.disconnect(true)
      io.engine.close()
      // every window still open is over: its refusals past the budget are written
      await summarize(budget.sweep(Number.POSITIVE_INFINITY)).catch((error: Error) =>
        warn(`console: summarizing refused connections: ${error.message}`),
      )
    },
  }
}

function room(task: string): string {
  return `task:${task}`
}
