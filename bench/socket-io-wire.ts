import { Decoder, Encoder, type Packet, PacketType } from 'socket.io-parser'

/**
 * One message through socket.io's own encoder and decoder, as `socket.emit(event, message)` would send
 * it and a Node peer receive it: a JSON header with placeholders plus one binary attachment per byte
 * field. `bytes` is what goes over the connection at the engine.io layer — the header's UTF-8 bytes with
 * its one-character engine.io packet type, and every attachment — without the WebSocket frame headers
 * (2–10 bytes a frame). The delivered value holds copies of the attachments, as Buffers, like a socket.
 */
export function socketIoTransfer(event: string, message: unknown): { delivered: unknown; bytes: number } {
  const encoded = new Encoder().encode({ type: PacketType.EVENT, nsp: '/', data: [event, message] })
  let bytes = 0
  let delivered: unknown
  const decoder = new Decoder()
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
