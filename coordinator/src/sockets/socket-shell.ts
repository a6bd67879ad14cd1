import type { Server as HttpServer } from 'node:http'
import {
  type Challenge,
  type ClientToServerEvents,
  checkHelloProof,
  encodeSecaggSetup,
  escapeText,
  type HelloAck,
  NONCE_BYTES,
  ProtocolError,
  parseConnectionAuth,
  parseHello,
  parseUpdate,
  type Refusal,
  type RefusalCode,
  type ServerToClientEvents,
  sharedPayload,
  type UpdateAck,
  type WireRoundStart,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { Server } from 'socket.io'
import type { OpenTask, TaskDirectory } from '../host/task-directory.ts'
import type { Link } from '../rounds/federation.ts'
import type { OutgoingRound } from '../rounds/link.ts'
import { AddressCap, addressOf } from './address-cap.ts'
import { boundedParser, handOver } from './bounded-parser.ts'
import { ConnectionGuard, type GuardedConnection } from './connection-guard.ts'
import { type ConnectionLimits, connectionLimits } from './connection-limits.ts'
import { type MessageBounds, messageBounds } from './message-bounds.ts'
import type { ParticipantEvent, Traffic } from './participant-event.ts'
import { ReadPacer, type ReadPacing } from './read-pacer.ts'
import { TurnQueue } from './turn-queue.ts'

/** Everything a participant sent, as it arrived: for audits and for the traffic test. */
export type InboundTap = (entry: {
  readonly socket: string
  readonly participant: string | null
  /** A raw engine.io packet: its type and its payload (string or bytes). */
  readonly packet: { readonly type: string; readonly data: unknown }
}) => void

export type SocketShellOptions = {
  /** The tasks a connection may name (its handshake's `auth.task`), each with its federation and admission. */
  readonly tasks: TaskDirectory
  readonly tap?: InboundTap | undefined
  readonly onWarning?: (message: string) => void
  readonly onJoin?: (participant: string, agent: string) => void
  readonly onLeave?: (participant: string, reason: string) => void
  /** What one connection may cost (connection-limits.ts); each limit defaults when absent. */
  readonly limits?: Partial<ConnectionLimits> | undefined
  /** How the event loop batches participants' messages while they pour in (read-pacer.ts). */
  readonly pacing?: Partial<ReadPacing> | undefined
  /** The pacer made from `pacing`, for a caller that reports how long it blocked. */
  readonly onPacer?: ((pacer: ReadPacer) => void) | undefined
  /**
   * The queue its handlers and sends go through, a slice of each event-loop turn (turn-queue.ts);
   * one of its own with the default slice when absent. start.ts shares it with the rounds' observers.
   */
  readonly turns?: TurnQueue | undefined
  /**
   * Told of every refusal given, by code: an acknowledgement with ok false, a connection closed by
   * its guard, a handshake refused (its task), an upgrade refused over the per-address cap.
   */
  readonly onRefused?: ((code: RefusalCode | 'too-many-connections') => void) | undefined
  /** A participant joined, had a message handled, left: for the operators' console. */
  readonly onParticipant?: ((event: ParticipantEvent) => void) | undefined
}

/**
 * The largest message a participant may send: one float32 update plus its envelope. socket.io's
 * default of 1 MB silently disconnects a client whose update is larger (a 1280→256→2 head is 1.3 MB),
 * so the limit follows the model.
 */
export function maxMessageBytes(paramCount: number): number {
  return paramCount * 4 + 64 * 1024
}

/**
 * Raises the largest websocket frame `io` takes to what a head of `paramCount` parameters needs: a
 * task whose run opens after the sockets were attached (a coordinator that hosts several) may have
 * a larger head than any before it. It never lowers it. engine.io reads `maxHttpBufferSize` when it
 * builds its ws server, and ws reads `maxPayload` at each upgrade, so both are raised.
 */
export function raiseMessageBytes(io: Server, paramCount: number): void {
  const bytes = maxMessageBytes(paramCount)
  const engine = io.engine as unknown as {
    opts?: { maxHttpBufferSize?: number }
    ws?: { options?: { maxPayload?: number } }
  }
  if (
    typeof engine.opts?.maxHttpBufferSize !== 'number' ||
    typeof engine.ws?.options?.maxPayload !== 'number'
  )
    throw new Error(
      'raising the message bound: expected engine.io options.maxHttpBufferSize and ws options.maxPayload, got another engine.io; pin engine.io and ws or update socket-shell.ts',
    )
  if (bytes <= engine.opts.maxHttpBufferSize) return
  engine.opts.maxHttpBufferSize = bytes
  engine.ws.options.maxPayload = bytes
}

/**
 * The thin socket.io layer: parses every inbound message once, then hands typed values to the
 * federation. One socket is one participant after its hello.
 */
export function attachSockets(
  server: HttpServer,
  opts: SocketShellOptions,
): Server<ClientToServerEvents, ServerToClientEvents> {
  const { tasks } = opts
  const limits = connectionLimits(opts.limits)
  const pacer = new ReadPacer(opts.pacing)
  opts.onPacer?.(pacer)
  // Every handler and every send to a participant, in order, a slice a turn (acknowledgements go
  // as their handler runs). Each piece contains its own errors; this is the last word.
  const turns =
    opts.turns ?? new TurnQueue((error) => log(escapeText(`internal: ${(error as Error).message}`)))
  // Before its hello a connection may send only a hello, whose bound no task changes; after it,
  // its task's messages get their own bounds (boundsOf).
  const beforeHello = messageBounds({ paramCount: 1, classes: 2, secure: false })
  // Every line about a connection is escaped where it is built (connection-guard.ts).
  const log = (line: string) => opts.onWarning?.(line)
  const cap = new AddressCap(limits.maxConnectionsPerAddress)
  /** Connections refused over the cap per address, since its last summary line. */
  const overCap = new Map<string, number>()
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(server, {
    maxHttpBufferSize: maxMessageBytes(tasks.maxParamCount),
    transports: ['websocket'],
    serveClient: false,
    parser: boundedParser,
    // Called before the websocket upgrade; a refusal is the upgrade's 400 answer, with this reason.
    allowRequest: (req, callback) => {
      const address = addressOf(req.socket.remoteAddress)
      if (!cap.take(address)) {
        const refused = (overCap.get(address) ?? 0) + 1
        overCap.set(address, refused)
        const reason = `too-many-connections: expected at most ${limits.maxConnectionsPerAddress} open connections from ${address}, got one more`
        if (refused === 1) log(escapeText(`${address}: refusing new connections: ${reason}`))
        opts.onRefused?.('too-many-connections')
        return callback(reason, false)
      }
      req.socket.once('close', () => {
        cap.give(address)
        const refused = overCap.get(address)
        if (refused === undefined) return
        overCap.delete(address)
        log(
          escapeText(
            `${address}: ${refused} connections refused over the cap of ${limits.maxConnectionsPerAddress}`,
          ),
        )
      })
      callback(null, true)
    },
  })
  const guards = new WeakMap<object, ConnectionGuard>()
  // Before socket.io's own listener, which builds this connection's decoder (bounded-parser.ts).
  io.engine.prependListener(
    'connection',
    (
      conn: GuardedConnection & {
        id: string
        request: { socket: { remoteAddress?: string } }
        on(event: 'packet', listener: (packet: { type: string }) => void): unknown
      },
    ) => {
      const guard = new ConnectionGuard({
        conn,
        label: `connection ${conn.id} from ${addressOf(conn.request.socket.remoteAddress)}`,
        limits,
        bounds: beforeHello,
        log,
        onRefused: opts.onRefused,
      })
      guards.set(conn, guard)
      handOver(guard)
      // Only a joined participant's messages: a storm of hellos (everyone reconnecting) is not
      // slowed, since each hello waits on the store over several turns.
      conn.on('packet', (packet: { type: string }) => {
        if (packet.type === 'message' && guard.joined) pacer.read()
      })
    },
  )

  // The connection's task, named in its handshake (auth.task), before any event: a task that is
  // unknown, over or not ready is refused here, with the refusal as connect_error's data.
  const taskOf = new WeakMap<object, OpenTask>()
  io.use((socket, next) => {
    try {
      taskOf.set(socket, tasks.open(parseConnectionAuth(socket.handshake.auth).task))
      next()
    } catch (error) {
      const refused = asRefusal(error)
      opts.onRefused?.(refused.code)
      log(
        escapeText(
          `connection ${socket.id} from ${addressOf(socket.handshake.address)}: refused: ${refused.code}: ${refused.reason}`,
        ),
      )
      next(Object.assign(new Error(refused.reason), { data: refused }))
    }
  })

  io.on('connection', (socket) => {
    const open = taskOf.get(socket)
    const guard = guards.get(socket.conn)
    if (guard === undefined || open === undefined) {
      log(
        `connection ${socket.id}: internal: no connection guard or task (socket.io built it another way); closed`,
      )
      socket.disconnect(true)
      return
    }
    const { federation, info: task } = open
    let participant: string | null = null
    let link: Link | null = null
    /** A hello being admitted: a second one on this connection meanwhile is refused. */
    let admitting = false
    const address = socket.handshake.address
    const tcp = (
      socket.conn as unknown as { request?: { socket?: { bytesRead?: number; bytesWritten?: number } } }
    ).request?.socket
    const traffic = (): Traffic => ({ in: tcp?.bytesRead ?? 0, out: tcp?.bytesWritten ?? 0 })
    const tell = (event: ParticipantEvent) => {
      try {
        opts.onParticipant?.(event)
      } catch (error) {
        log(`telling the console of ${event.participant}: ${(error as Error).message}`)
      }
    }
    // Fresh for this connection: the hello must sign it (hello-proof.ts), so it cannot be replayed.
    const challenge: Challenge = { taskId: task.taskId, nonce: nodeCrypto.randomBytes(NONCE_BYTES) }
    const warn = (message: string) => guard.warn(message)
    /** An acknowledgement that tells `onRefused` of a refusal it carries; contain() answers each message once. */
    const counted = (ack: unknown): unknown => {
      const onRefused = opts.onRefused
      if (typeof ack !== 'function' || onRefused === undefined) return ack
      return (reply: { ok: boolean; code?: RefusalCode }) => {
        if (!reply.ok && reply.code !== undefined) onRefused(reply.code)
        ack(reply)
      }
    }
    guard.onRefusal((refused) => socket.emit('refused', refused))
    // socket.io reports a packet its decoder refused as an 'error' on the socket (an EventEmitter,
    // which throws an 'error' nobody listens to); the guard has logged it already.
    socket.on('error', (error) => guard.refuse('malformed', error.message))
    /**
     * A handler that throws (a bug, or input nothing foresaw) answers `internal` if it still can,
     * is logged once, and costs the sender its connection; the coordinator and the run go on.
     */
    const contain =
      (event: string, handler: (raw: unknown, ack: unknown) => void) => (raw: unknown, ack: unknown) => {
        let answered = false
        const once =
          typeof ack === 'function'
            ? (reply: unknown) => {
                if (answered) return
                answered = true
                ack(reply)
              }
            : ack
        try {
          handler(raw, once)
        } catch (error) {
          // The details are for the operator's log, never for the sender (paths, internals).
          const reason = `the coordinator failed handling this ${event}; its operator has the details`
          if (typeof once === 'function' && !answered) once(refusal('internal', reason))
          guard.refuse('internal', reason, `${event} handler: ${(error as Error).stack ?? String(error)}`)
        }
      }
    const on = (
      event: 'hello' | 'update' | 'secagg' | 'disconnect',
      handler: (raw: unknown, ack: unknown) => void,
    ) => {
      const contained = contain(event, handler)
      socket.on(event, (raw: unknown, ack: unknown) => turns.push(() => contained(raw, counted(ack)), true))
    }
    if (opts.tap) {
      const tap = opts.tap
      socket.conn.on('packet', (packet: { type: string; data?: unknown }) => {
        tap({ socket: socket.id, participant, packet: { type: packet.type, data: packet.data } })
      })
    }

    on('hello', (raw: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return guard.stray('hello', 'without an acknowledgement')
      const reply = ack as (r: HelloAck) => void
      if (participant !== null || admitting)
        return reply(refusal('already-joined', `this connection is already ${participant ?? 'saying hello'}`))
      const refused = (error: unknown) => {
        warn(`refused hello: ${(error as Error).message}`)
        reply(asRefusal(error))
        socket.disconnect(true)
      }
      let hello: ReturnType<typeof parseHello>
      try {
        hello = parseHello(raw)
        checkHelloProof(nodeCrypto, hello, challenge)
        // Out of this run at once, before the store has it written (rounds/federation.ts, #exclude).
        const excluded = federation.excluded.get(hello.participant)
        if (excluded !== undefined)
          throw new ProtocolError(
            'excluded',
            `${hello.participant} was excluded from this run in round ${excluded.round} (${excluded.reason}); re-admission is the operator's decision`,
          )
        // Before admission: a refused browser leaves nothing enrolled behind.
        if (hello.kind === 'browser' && !task.browsers.enabled)
          throw new ProtocolError(
            'browsers-disabled',
            `task "${task.name}" does not take browser participants (its task file leaves participation.browsers off)`,
          )
      } catch (error) {
        return refused(error)
      }
      admitting = true
      const claim = {
        participant: hello.participant,
        kind: hello.kind,
        identityKey: hello.identityKey,
        invite: hello.invite,
      }
      open.admission.admit(claim, address).then(
        () =>
          contain('hello', (_raw, answer) => {
            const reply = answer as (r: HelloAck) => void
            admitting = false
            if (!socket.connected) return
            participant = hello.participant
            guard.join(hello.participant, boundsOf(open))
            const later = (what: string, send: () => void) =>
              turns.push(() => {
                try {
                  send()
                } catch (error) {
                  warn(`sending ${what}: ${(error as Error).message}`)
                }
              })
            const joined: Link = {
              sendRound: (start) => later('a round', () => socket.emit('round', wireRound(start))),
              sendSecagg: (message) => later('a secagg relay', () => socket.emit('secagg', message)),
              // One result and one end for everyone: encoded once.
              sendResult: (result) =>
                later('a result', () => socket.emit('round-result', sharedPayload(result))),
              sendFinished: (finished) =>
                later('the end', () => socket.emit('finished', sharedPayload(finished))),
              // At once, not queued: a replaced connection must not be heard as the participant a
              // moment longer; what is still queued for it then goes nowhere. The federation has
              // logged why; the older participant sees the server disconnect it.
              close: () => socket.disconnect(true),
            }
            link = joined
            reply({ ok: true, task })
            opts.onJoin?.(hello.participant, escapeText(hello.agent, 200))
            federation.join(hello.participant, hello.kind, hello.identityKey, joined)
            tell({
              type: 'joined',
              task: task.name,
              participant: hello.participant,
              kind: hello.kind,
              agent: escapeText(hello.agent, 200),
              traffic,
            })
          })(raw, reply),
        (error: unknown) => {
          admitting = false
          if (!(error instanceof ProtocolError))
            guard.warn(`admitting ${hello.participant}: ${(error as Error).message}`)
          if (socket.connected) refused(error)
        },
      )
    })

    on('update', (raw: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return guard.stray('update', 'without an acknowledgement')
      const reply = ack as (r: UpdateAck) => void
      if (participant === null) return reply(refusal('no-hello', 'say hello before sending an update'))
      try {
        federation.update(participant, parseUpdate(raw, task.paramCount, task.head.labels.length), reply)
        tell({ type: 'message', task: task.name, participant })
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error // not the sender's fault: contain() answers internal
        warn(`refused update: ${(error as Error).message}`)
        reply(asRefusal(error))
      }
    })

    on('secagg', (raw: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return guard.stray('secagg', 'without an acknowledgement')
      const reply = ack as (r: UpdateAck) => void
      if (participant === null) return reply(refusal('no-hello', 'say hello before a secagg message'))
      // Parsed by the round's SecaggServer, which knows the stage it expects.
      federation.secagg(participant, raw, reply)
      tell({ type: 'message', task: task.name, participant })
    })
    // Unknown events never get here: the decoder counts and drops them (bounded-parser.ts).

    on('disconnect', (reason: unknown) => {
      if (participant !== null && link !== null) {
        opts.onLeave?.(participant, escapeText(String(reason), 200))
        federation.leave(participant, link)
        tell({ type: 'left', task: task.name, participant, traffic: traffic() })
      }
    })
    socket.emit('challenge', challenge)
  })
  return io
}

/** What a task's head and secure aggregation make its participants' messages as large as. */
const taskBounds = new WeakMap<OpenTask, MessageBounds>()
function boundsOf(open: OpenTask): MessageBounds {
  let bounds = taskBounds.get(open)
  if (bounds === undefined) {
    bounds = messageBounds({
      paramCount: open.info.paramCount,
      classes: open.info.head.labels.length,
      secure: open.info.aggregation === 'secure',
      neighbours: open.neighbours,
    })
    taskBounds.set(open, bounds)
  }
  return bounds
}

/** A round's start goes to every participant in it: built and encoded once (sharedPayload). */
const wireRounds = new WeakMap<OutgoingRound, WireRoundStart>()
function wireRound(start: OutgoingRound): WireRoundStart {
  let wire = wireRounds.get(start)
  if (wire === undefined) {
    const { secagg } = start
    wire = sharedPayload({
      round: start.round,
      weights: start.weights,
      training: start.training,
      deadlineMs: start.deadlineMs,
      secagg: secagg && { setup: encodeSecaggSetup(secagg.setup), fixedPoint: secagg.fixedPoint },
      predictionPrior: start.predictionPrior,
    })
    wireRounds.set(start, wire)
  }
  return wire
}

function refusal(code: RefusalCode, reason: string): Refusal {
  return { ok: false, code, reason }
}

function asRefusal(error: unknown): Refusal {
  if (error instanceof ProtocolError) return refusal(error.code, error.message)
  // Not the sender's fault: its details (the caller logged them) stay with the operator.
  return refusal('internal', 'the coordinator failed on this message; its operator has the details')
}
