import { PackedDecoder, PackedEncoder } from '@fedtune/protocol'
import { type Packet, PacketType } from 'socket.io-parser'

/**
 * One message through fedtune's socket.io parser (packed frames, docs/protocol.md "Framing"), as
 * `socket.emit(event, message)` sends it and a Node peer receives it: a text frame when it has no bytes,
 * else one binary frame holding the JSON header with placeholders and every byte field. `bytes` is what
 * goes over the connection at the engine.io layer (a text frame's one-character engine.io packet type
 * included), without the WebSocket frame header (2–10 bytes a frame). The delivered value holds copies of the attachments, as Buffers, like a socket.
 */
export function socketIoTransfer(event: string, message: unknown): { delivered: unknown; bytes: number } {
  const encoded = new PackedEncoder().encode({ type: PacketType.EVENT, nsp: '/', data: [event, message] })
  let bytes = 0
  let delivered: unknown
  const decoder = new PackedDecoder()
  decoder.on('decoded', (packet: Packet) => {
    delivered = (packet.data as unknown[])[1]
  })
  for (const part of encoded) {
    if (typeof part === 'string') {
      bytes += 1 + Buffer.byteLength(part)
      decoder.add(part)
    } else {
      const attachment = part as Uint8Array
      bytes += attachment.byteLength
      decoder.add(Buffer.from(attachment))
    }
  }
  if (delivered === undefined) throw new Error(`socketIoTransfer: the decoder did not reassemble "${event}"`)
  return { delivered, bytes }
}
