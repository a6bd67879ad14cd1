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
    const [header, ...buffers] = super.encode(packet) as [string, ...unknown[]]
    if (buffers.length === 0) return [header]
    return [packFrame(header, buffers.map(viewOf), this.#writeAscii)]
  }
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
