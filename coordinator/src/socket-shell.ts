import type { Server as HttpServer } from 'node:http'
import {
  type Challenge,
  type ClientToServerEvents,
  checkHelloProof,
  describe,
  encodeSecaggSetup,
  type HelloAck,
  NONCE_BYTES,
  ProtocolError,
  parseHello,
  parseUpdate,
  type SecureRoundSetup,
  type ServerToClientEvents,
  type UpdateAck,
  type WireRoundStart,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { Server } from 'socket.io'
import type { Federation, Link } from './federation.ts'

/** Everything a participant sent, as it arrived: for audits and for the traffic test. */
export type InboundTap = (entry: {
  readonly socket: string
  readonly participant: string | null
  /** A raw engine.io packet: its type and its payload (string or bytes). */
  readonly packet: { readonly type: string; readonly data: unknown }
}) => void

export type SocketShellOptions = {
  readonly federation: Federation
  readonly tap?: InboundTap | undefined
  readonly onWarning?: (message: string) => void
  readonly onJoin?: (participant: string, agent: string) => void
  readonly onLeave?: (participant: string, reason: string) => void
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
 * The thin socket.io layer: parses every inbound message once, then hands typed values to the
 * federation. One socket is one participant after its hello.
 */
export function attachSockets(
  server: HttpServer,
  opts: SocketShellOptions,
): Server<ClientToServerEvents, ServerToClientEvents> {
  const { federation } = opts
  const task = federation.task
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(server, {
    maxHttpBufferSize: maxMessageBytes(task.paramCount),
    transports: ['websocket'],
    serveClient: false,
  })

  io.on('connection', (socket) => {
    let participant: string | null = null
    let link: Link | null = null
    // Fresh for this connection: the hello must sign it (hello-proof.ts), so it cannot be replayed.
    const challenge: Challenge = { taskId: task.taskId, nonce: nodeCrypto.randomBytes(NONCE_BYTES) }
    const warn = (message: string) => opts.onWarning?.(`${participant ?? socket.id}: ${message}`)
    if (opts.tap) {
      const tap = opts.tap
      socket.conn.on('packet', (packet: { type: string; data?: unknown }) => {
        tap({ socket: socket.id, participant, packet: { type: packet.type, data: packet.data } })
      })
    }

    socket.on('hello', (raw: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return warn('hello without an acknowledgement callback; ignored')
      const reply = ack as (r: HelloAck) => void
      if (participant !== null)
        return reply(refusal('already-joined', `this connection is already ${participant}`))
      try {
        const hello = parseHello(raw)
        checkHelloProof(nodeCrypto, hello, challenge)
        // Before enrolment: a refused browser leaves no name pinned behind.
        if (hello.kind === 'browser' && !task.browsers.enabled)
          throw new ProtocolError(
            'browsers-disabled',
            `task "${task.name}" does not take browser participants (its task file leaves participation.browsers off)`,
          )
        federation.enrol(hello.participant, hello.identityKey)
        participant = hello.participant
        const joined: Link = {
          sendRound: (round, weights, training, deadlineMs, secagg) =>
            socket.emit('round', {
              round,
              weights,
              training,
              deadlineMs,
              secagg: secagg && wireSetup(secagg),
            }),
          sendSecagg: (message) => socket.emit('secagg', message),
          sendResult: (result) => socket.emit('round-result', result),
          sendFinished: (finished) => socket.emit('finished', finished),
        }
        link = joined
        reply({ ok: true, task })
        opts.onJoin?.(hello.participant, hello.agent)
        federation.join(hello.participant, hello.kind, joined)
      } catch (error) {
        warn(`refused hello: ${(error as Error).message}`)
        reply(asRefusal(error))
        socket.disconnect(true)
      }
    })

    socket.on('update', (raw: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return warn('update without an acknowledgement callback; ignored')
      const reply = ack as (r: UpdateAck) => void
      if (participant === null) return reply(refusal('no-hello', 'say hello before sending an update'))
      try {
        federation.update(participant, parseUpdate(raw, task.paramCount, task.head.labels.length), reply)
      } catch (error) {
        warn(`refused update: ${(error as Error).message}`)
        reply(asRefusal(error))
      }
    })

    socket.on('secagg', (raw: unknown, ack: unknown) => {
      if (typeof ack !== 'function')
        return warn('secagg message without an acknowledgement callback; ignored')
      const reply = ack as (r: UpdateAck) => void
      if (participant === null) return reply(refusal('no-hello', 'say hello before a secagg message'))
      // Parsed by the round's SecaggServer, which knows the stage it expects.
      federation.secagg(participant, raw, reply)
    })

    socket.onAny((event: string) => {
      if (event !== 'hello' && event !== 'update' && event !== 'secagg')
        warn(`unknown event ${describe(event)} ignored`)
    })

    socket.on('disconnect', (reason) => {
      if (participant !== null && link !== null) {
        opts.onLeave?.(participant, reason)
        federation.leave(participant, link)
      }
    })
    socket.emit('challenge', challenge)
  })
  return io
}

/** A round's setup goes to every participant in it: encoded once. */
const wireSetups = new WeakMap<SecureRoundSetup, NonNullable<WireRoundStart['secagg']>>()
function wireSetup(secagg: SecureRoundSetup): NonNullable<WireRoundStart['secagg']> {
  let wire = wireSetups.get(secagg)
  if (wire === undefined) {
    wire = { setup: encodeSecaggSetup(secagg.setup), fixedPoint: secagg.fixedPoint }
    wireSetups.set(secagg, wire)
  }
  return wire
}

function refusal(code: string, reason: string): { ok: false; code: string; reason: string } {
  return { ok: false, code, reason }
}

function asRefusal(error: unknown): { ok: false; code: string; reason: string } {
  if (error instanceof ProtocolError) return refusal(error.code, error.message)
  return refusal('internal', (error as Error).message)
}
