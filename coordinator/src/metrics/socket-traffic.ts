import type { Server } from 'socket.io'
import type { CoordinatorMetrics } from './coordinator-metrics.ts'

/** An engine.io packet, as its socket's 'packet' (inbound) and 'packetCreate' (outbound) events give it. */
type Packet = { readonly type: string; readonly data?: unknown }

/**
 * Counts the bytes of every engine.io packet on `io`'s connections, each way. Over websocket a text
 * packet is its type character and its text (UTF-8), a binary one its bytes alone; websocket and
 * TCP framing are not counted, nor each connection's opening handshake packet (sent before
 * engine.io announces the connection).
 */
export function countTraffic(io: Server, metrics: CoordinatorMetrics): void {
  const inbound = metrics.bytes.labels({ direction: 'in' })
  const outbound = metrics.bytes.labels({ direction: 'out' })
  io.engine.on('connection', (conn: { on(event: string, listener: (packet: Packet) => void): unknown }) => {
    conn.on('packet', (packet) => inbound.inc(packetBytes(packet)))
    conn.on('packetCreate', (packet) => outbound.inc(packetBytes(packet)))
  })
}

/** What one packet costs on a websocket (engine.io protocol v4). */
export function packetBytes(packet: Packet): number {
  const { data } = packet
  if (typeof data === 'string') return 1 + Buffer.byteLength(data)
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength
  return 1
}
