import { Decoder, Encoder, type Packet } from 'socket.io-parser'
import { describe } from './describe.ts'
import { ProtocolError } from './errors.ts'
import { packFrame, unpackFrame, type WriteAscii, writeAsciiByChar } from './packed-frame.ts'

/**
 * socket.io's parser with binary events packed into one frame each (packed-frame.ts). Both ends of
 * fedtune's wire use it: `io(url, { parser: packedParser })` on a participant, and the coordinator's
 * encoder (its decoder is the bounded one, coordinator/src/sockets/bounded-parser.ts, which reads
 * packed frames the same way). Packets without bytes stay socket.io's text frames, unchanged.
 */
export class PackedEncoder extends Encoder {
  readonly #writeAscii: WriteAscii

  constructor(writeAscii: WriteAscii = writeAsciiByChar) {
    super()
    this.#writeAscii = writeAscii
  }

  override encode(packet: Packet): (string | Uint8Array)[] {
    const shared = sharedEncodings(packet)
    if (shared === undefined) return this.#encode(packet)
    const key = `${packet.nsp}\u0000${packet.type}\u0000${(packet.data as unknown[])[0]}`
    let encoded = shared.get(key)
    if (encoded === undefined) {
      encoded = this.#encode(packet)
      shared.set(key, encoded)
    }
    return encoded
  }

  #encode(packet: Packet): (string | Uint8Array)[] {
    const [header, ...buffers] = super.encode(packet) as [string, ...unknown[]]
    if (buffers.length === 0) return [header]
    return [packFrame(header, buffers.map(viewOf), this.#writeAscii)]
  }
}

/** Each shared payload's frames, by namespace, packet type and event: encoded once, sent as often as needed. */
const SHARED = new WeakMap<object, Map<string, (string | Uint8Array)[]>>()

/**
 * Marks `payload` as one message sent unchanged to many participants (a round's start, its result):
 * the encoder encodes it once and hands every socket the same frames, where it would otherwise build
 * and copy a frame per participant (at n = 1000, 83 MB a round for the round's start alone). The
 * payload is frozen, since a change after its first send would not reach the others. Marking it
 * again changes nothing.
 */
export function sharedPayload<T extends object>(payload: T): Readonly<T> {
  if (!SHARED.has(payload)) SHARED.set(Object.freeze(payload), new Map())
  return payload
}

/** The encodings of a packet's shared payload: an event without an acknowledgement whose one argument is shared. */
function sharedEncodings(packet: Packet): Map<string, (string | Uint8Array)[]> | undefined {
  const data: unknown = packet.data
  if (packet.id !== undefined || !Array.isArray(data) || data.length !== 2) return undefined
  const payload: unknown = data[1]
  return typeof payload === 'object' && payload !== null ? SHARED.get(payload) : undefined
}

export class PackedDecoder extends Decoder {
  override add(chunk: unknown): void {
    if (typeof chunk === 'string') {
      super.add(chunk)
      return
    }
    const bytes = chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk) ? viewOf(chunk) : null
    if (bytes === null)
      throw new ProtocolError('malformed', `socket.io frame: expected text or bytes, got ${describe(chunk)}`)
    const { header, attachments } = unpackFrame(bytes)
    if (!/^[56]\d+-/.test(header) || Number(header.slice(1, header.indexOf('-'))) !== attachments.length)
      throw new ProtocolError(
        'malformed',
        `packed frame: expected a binary packet header announcing the ${attachments.length} attachment(s) it holds, got ${describe(header.slice(0, 16))}`,
      )
    super.add(header)
    for (const attachment of attachments) super.add(attachment)
  }
}

export const packedParser = { Encoder: PackedEncoder, Decoder: PackedDecoder } as const

function viewOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  throw new ProtocolError('malformed', `socket.io attachment: expected bytes, got ${describe(value)}`)
}
