import { describe, ProtocolError, unpackFrame } from '@fedtune/protocol'
import { NodePackedEncoder } from '@fedtune/protocol/node'
import { type Packet, PacketType } from 'socket.io-parser'
import type { ConnectionGuard } from './connection-guard.ts'
import { type Bound, boundOf, largestBound } from './message-bounds.ts'

/**
 * socket.io's own decoder (socket.io-parser) keeps a binary event's attachments until as many
 * have arrived as its header announced, however many that is, and `maxHttpBufferSize` bounds one
 * frame, not a message. This decoder reads the header first (the event name, for `secagg` its stage,
 * and the attachment count) and weighs every attachment as it arrives against that event's bound
 * (message-bounds.ts), throwing before it keeps anything past it; socket.io answers a throw from
 * `add` by closing the connection (socket.io/dist/client.js, `ondata`). It also spends the
 * connection's rate tokens and counts the events it may not send.
 *
 * The wire format is socket.io's protocol v5 (https://socket.io/docs/v4/socket-io-protocol/):
 * `<type>[<attachments>-][<nsp>,][<id>][JSON]`, then one binary frame per attachment; or, as
 * fedtune's participants send it and the coordinator always answers, the header and its attachments
 * packed into one binary frame (@fedtune/protocol's packed-frame.ts). A packed frame goes through
 * the same checks, header first, then each attachment against the event's bound.
 */

/** The event names a participant sends; any other is unknown, counted and dropped. */
const EVENTS: ReadonlySet<string> = new Set(['hello', 'update', 'secagg'])
/** Names socket.io keeps for itself (socket.io-parser's RESERVED_EVENTS). */
const RESERVED: ReadonlySet<string> = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
])
/** Placeholders nest no deeper than our messages do (secagg: message → shares → entry → field). */
const MAX_DEPTH = 16

type Decoded = (packet: Packet) => void
type Pending = {
  readonly packet: Packet
  readonly what: string
  readonly bound: Bound
  readonly announced: number
  readonly buffers: Uint8Array[]
  bytes: number
}

/**
 * The guard of the connection whose decoder socket.io builds next. socket.io builds each
 * connection's decoder with no arguments, synchronously inside its engine 'connection' listener
 * (`new server._parser.Decoder()` in socket.io/dist/client.js); the shell prepends a listener to
 * that event which calls `handOver`, so the decoder built next is that connection's. A decoder
 * built without one refuses everything (fails closed).
 */
let next: ConnectionGuard | null = null

export function handOver(guard: ConnectionGuard): void {
  next = guard
}

export type BoundedDecoder = {
  on(event: 'decoded', listener: Decoded): BoundedDecoder
  removeListener(event: 'decoded', listener: Decoded): BoundedDecoder
  add(chunk: unknown): void
  destroy(): void
}

class Decoder implements BoundedDecoder {
  readonly #guard: ConnectionGuard | null
  readonly #listeners = new Set<Decoded>()
  #pending: Pending | null = null

  constructor() {
    this.#guard = next
    next = null
  }

  on(_event: 'decoded', listener: Decoded): BoundedDecoder {
    this.#listeners.add(listener)
    return this
  }

  removeListener(_event: 'decoded', listener: Decoded): BoundedDecoder {
    this.#listeners.delete(listener)
    return this
  }

  add(chunk: unknown): void {
    const guard = this.#guard
    if (guard === null)
      throw new ProtocolError('malformed', 'socket.io decoder: built without a connection guard; refusing')
    try {
      if (typeof chunk === 'string') this.#header(guard, chunk)
      else if (this.#pending === null) this.#packed(guard, chunk)
      else this.#attachment(guard, chunk)
    } catch (error) {
      // every refusal is logged once and closes the connection, whichever check made it
      this.#pending = null
      if (error instanceof ProtocolError) throw guard.refuse(error.code, error.message)
      throw guard.refuse('malformed', `socket.io packet: ${(error as Error).message}`)
    }
  }

  destroy(): void {
    this.#pending = null
    this.#listeners.clear()
  }

  #header(guard: ConnectionGuard, text: string): void {
    if (this.#pending !== null) {
      const { what, buffers, announced } = this.#pending
      throw guard.refuse(
        'malformed',
        `${what}: expected attachment ${buffers.length + 1} of ${announced}, got a text frame`,
      )
    }
    guard.spend()
    const largest = largestBound(guard.bounds, guard.joined)
    if (text.length > largest.bytes)
      throw guard.refuse(
        guard.joined ? 'too-large' : 'no-hello',
        `expected ${guard.joined ? 'a packet' : 'a hello, a packet'} of at most ${largest.bytes} characters, got ${text.length}`,
      )
    const { packet, attachments } = decodeHeader(text)
    let bound = guard.bounds.other
    let what = `a packet of type ${packet.type}`
    // Before hello anything but a hello is refused as such, whatever its size.
    let code: 'too-large' | 'no-hello' = 'too-large'
    if (packet.type === PacketType.EVENT) {
      const data = packet.data as unknown[]
      const name = data[0] as string
      if (!EVENTS.has(name)) {
        guard.stray(name, 'unknown')
        if (attachments > 0)
          throw guard.refuse(
            'too-large',
            `unknown event ${describe(name)}: expected no attachments, got ${attachments} announced`,
          )
        return
      }
      if (name !== 'hello' && !guard.joined) {
        guard.stray(name, 'before hello')
        code = 'no-hello'
      }
      const stage = (data[1] as { stage?: unknown } | null | undefined)?.stage
      bound = boundOf(guard.bounds, guard.joined, name, stage)
      what = name === 'secagg' && typeof stage === 'string' ? `secagg ${describe(stage)}` : name
    }
    const when = code === 'no-hello' ? ' before hello' : ''
    if (attachments > bound.attachments)
      throw guard.refuse(
        code,
        `${what}: expected at most ${bound.attachments} attachments${when}, got ${attachments} announced`,
      )
    if (text.length > bound.bytes)
      throw guard.refuse(
        code,
        `${what}: expected at most ${bound.bytes} bytes${when}, got ${text.length} in its header`,
      )
    if (attachments === 0) {
      this.#emit(packet)
      return
    }
    this.#pending = { packet, what, bound, announced: attachments, buffers: [], bytes: text.length }
  }

  /** A binary frame outside a packet: a packed one, header and attachments together. */
  #packed(guard: ConnectionGuard, chunk: unknown): void {
    const bytes = asView(chunk)
    if (bytes === null)
      throw guard.refuse('malformed', `expected a packet header or a packed frame, got ${describe(chunk)}`)
    const { header, attachments } = unpackFrame(bytes)
    if (!/^[56]\d{1,9}-/.test(header))
      throw guard.refuse(
        'malformed',
        `packed frame: expected a binary packet's header ("5<n>-…"), got ${describe(header.slice(0, 16))}`,
      )
    const announced = Number(header.slice(1, header.indexOf('-')))
    if (announced !== attachments.length)
      throw guard.refuse(
        'malformed',
        `packed frame: its header announces ${announced} attachments, the frame holds ${attachments.length}`,
      )
    this.#header(guard, header)
    // an unknown event is dropped at its header, with nothing pending
    if (this.#pending === null) return
    for (const attachment of attachments) this.#attachment(guard, attachment)
  }

  #attachment(guard: ConnectionGuard, chunk: unknown): void {
    const pending = this.#pending
    if (pending === null)
      throw guard.refuse('malformed', `expected a packet header (text), got ${describe(chunk)}`)
    const bytes = asView(chunk)
    if (bytes === null)
      throw guard.refuse('malformed', `${pending.what}: expected a binary attachment, got ${describe(chunk)}`)
    pending.bytes += bytes.byteLength
    if (pending.bytes > pending.bound.bytes)
      throw guard.refuse(
        'too-large',
        `${pending.what}: expected at most ${pending.bound.bytes} bytes, got ${pending.bytes} by attachment ${pending.buffers.length + 1} of ${pending.announced}`,
      )
    pending.buffers.push(bytes)
    if (pending.buffers.length < pending.announced) return
    this.#pending = null
    const data = withAttachments(pending.packet.data, pending.buffers, 0)
    this.#emit({ ...pending.packet, data })
  }

  #emit(packet: Packet): void {
    for (const listener of this.#listeners) listener(packet)
  }
}

/** The `parser` option of socket.io's Server: the packed encoder (Node's string copy), our decoder. */
export const boundedParser = { Encoder: NodePackedEncoder, Decoder } as const

/**
 * One packet header, as socket.io-parser's `decodeString` reads it, plus stricter checks: a type
 * 0–6, an attachment count of at most 9 digits, a numeric id of at most 15 digits, and a payload
 * that fits its type. A binary event or ack comes back as a plain one, its placeholders unfilled.
 */
export function decodeHeader(text: string): { packet: Packet; attachments: number } {
  const type = /^[0-6]/.test(text) ? Number(text[0]) : -1
  if (type < 0)
    throw new ProtocolError(
      'malformed',
      `socket.io packet: expected a type 0–6, got ${describe(text.slice(0, 8))}`,
    )
  let i = 0
  let attachments = 0
  const binary = type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK
  if (binary) {
    const dash = text.indexOf('-', 1)
    const digits = dash < 0 ? '' : text.slice(1, dash)
    if (!/^\d{1,9}$/.test(digits))
      throw new ProtocolError(
        'malformed',
        `socket.io packet: expected an attachment count and "-", got ${describe(text.slice(1, 12))}`,
      )
    attachments = Number(digits)
    i = dash
  }
  let nsp = '/'
  if (text[i + 1] === '/') {
    const comma = text.indexOf(',', i + 1)
    const end = comma < 0 ? text.length : comma
    nsp = text.slice(i + 1, end)
    i = end
  }
  let j = i + 1
  while (j < text.length && j - i <= 16 && (text[j] as string) >= '0' && (text[j] as string) <= '9') j++
  if (j - i > 16)
    throw new ProtocolError('malformed', 'socket.io packet: expected an id of at most 15 digits')
  const id = j > i + 1 ? Number(text.slice(i + 1, j)) : undefined
  const json = text.slice(j)
  let data: unknown
  if (json !== '') {
    try {
      data = JSON.parse(json)
    } catch {
      throw new ProtocolError(
        'malformed',
        `socket.io packet: expected JSON after the header, got ${describe(json)}`,
      )
    }
  }
  if (!payloadFits(type, data, json !== ''))
    throw new ProtocolError(
      'malformed',
      `socket.io packet of type ${type}: unexpected payload ${describe(data)}`,
    )
  const plain =
    type === PacketType.BINARY_EVENT
      ? PacketType.EVENT
      : type === PacketType.BINARY_ACK
        ? PacketType.ACK
        : type
  const packet: Packet = {
    type: plain,
    nsp,
    ...(id === undefined ? {} : { id }),
    ...(json === '' ? {} : { data }),
  }
  return { packet, attachments }
}

/** socket.io-parser's `isPayloadValid`, plus: an event's name is a string. */
function payloadFits(type: number, data: unknown, present: boolean): boolean {
  if (!present)
    return (
      type !== PacketType.EVENT &&
      type !== PacketType.BINARY_EVENT &&
      type !== PacketType.ACK &&
      type !== PacketType.BINARY_ACK &&
      type !== PacketType.CONNECT_ERROR
    )
  switch (type) {
    case PacketType.CONNECT:
      return isPlainObject(data)
    case PacketType.DISCONNECT:
      return false
    case PacketType.CONNECT_ERROR:
      return typeof data === 'string' || isPlainObject(data)
    case PacketType.EVENT:
    case PacketType.BINARY_EVENT:
      return Array.isArray(data) && typeof data[0] === 'string' && !RESERVED.has(data[0])
    default:
      return Array.isArray(data)
  }
}

function isPlainObject(value: unknown): boolean {
  return Object.prototype.toString.call(value) === '[object Object]'
}

function asView(chunk: unknown): Uint8Array | null {
  if (chunk instanceof Uint8Array) return chunk
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk)
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return null
}

/** The header's data with each `{ _placeholder: true, num }` replaced by that attachment. */
function withAttachments(data: unknown, buffers: readonly Uint8Array[], depth: number): unknown {
  if (depth > MAX_DEPTH)
    throw new ProtocolError(
      'malformed',
      `socket.io packet: expected attachments nested at most ${MAX_DEPTH} deep`,
    )
  if (Array.isArray(data)) return data.map((item) => withAttachments(item, buffers, depth + 1))
  if (typeof data !== 'object' || data === null) return data
  const o = data as Record<string, unknown>
  if (o._placeholder === true) {
    const num = o.num
    if (typeof num !== 'number' || !Number.isInteger(num) || num < 0 || num >= buffers.length)
      throw new ProtocolError(
        'malformed',
        `socket.io packet: expected a placeholder for attachment 0–${buffers.length - 1}, got ${describe(num)}`,
      )
    return buffers[num]
  }
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(o)) out[key] = withAttachments(value, buffers, depth + 1)
  return out
}
