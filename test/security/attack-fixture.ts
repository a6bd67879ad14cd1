import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { ConnectionLimits } from '@fedtune/coordinator'
import { unpackFrame } from '@fedtune/protocol'
import WebSocket from 'ws'
import { type MainCoordinator, startMainCoordinator } from '../harness.ts'

/**
 * The attack tests' coordinator (the harness's `startMainCoordinator`, whose printed lines are
 * kept) and a raw websocket that speaks engine.io v4 / socket.io v5 framing by hand, so a test can
 * send what no socket.io client would.
 */
export type Attacked = MainCoordinator

/** A secure task nobody starts a round of while the attacks run, under these connection limits. */
export function startAttacked(limits: Partial<ConnectionLimits> = {}): Promise<Attacked> {
  return startMainCoordinator(
    { participation: { minParticipants: 3, gatherSeconds: 0, joinTimeoutSeconds: 600 } },
    limits,
  )
}

/** A websocket speaking socket.io by hand: text packets as `4<socket.io packet>`, attachments as binary frames. */
export type RawSocket = {
  readonly ws: WebSocket
  /** Resolves when the coordinator closes the connection (or it fails). */
  readonly closed: Promise<void>
  /** socket.io events the coordinator sent, as [name, ...args] (binary events, which come packed, without their attachments). */
  readonly events: unknown[][]
  /** The first event named `name` (past or future). */
  event(name: string): Promise<unknown[]>
  /** Sends one socket.io packet (without the engine.io `4`), e.g. `42["hello",{}]`. */
  packet(text: string): void
  binary(bytes: Uint8Array): void
  /** Bytes written to the wire and not yet flushed (how much the coordinator has not taken). */
  buffered(): number
}

/** Opens a raw connection; with `join`, also joins socket.io's main namespace (`40`). */
export async function rawSocket(url: string, join = true): Promise<RawSocket> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`)
  const events: unknown[][] = []
  const waiting: { name: string; resolve: (e: unknown[]) => void }[] = []
  const closed = new Promise<void>((resolve) => {
    ws.once('close', () => resolve())
    ws.once('error', () => resolve())
  })
  const opened = new Promise<void>((resolve) => ws.once('message', () => resolve()))
  ws.on('message', (data, isBinary) => {
    // the coordinator's binary events come packed, header and attachments in one frame (docs/protocol.md, "Framing")
    const text = isBinary ? `4${unpackFrame(new Uint8Array(data as Buffer)).header}` : data.toString()
    if (text === '2') return ws.send('3') // engine.io ping → pong
    const match = /^4[25](?:\d+-)?(\[.*)$/s.exec(text)
    if (!match) return
    const event = JSON.parse(match[1] as string) as unknown[]
    events.push(event)
    for (const w of waiting.splice(0))
      if (w.name === event[0]) w.resolve(event)
      else waiting.push(w)
  })
  await opened
  const raw: RawSocket = {
    ws,
    closed,
    events,
    event: (name) =>
      new Promise((resolve) => {
        const seen = events.find((e) => e[0] === name)
        if (seen !== undefined) resolve(seen)
        else waiting.push({ name, resolve })
      }),
    packet: (text) => ws.send(`4${text}`),
    binary: (bytes) => ws.send(bytes),
    buffered: () => ws.bufferedAmount,
  }
  if (join) {
    raw.packet('0')
    await raw.event('challenge')
  }
  return raw
}

// The test process's own gc, for heap measurements (node's --expose-gc, turned on at run time).
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Heap and array-buffer bytes in use after a full collection (what a buffered attachment costs). */
export async function settledMemory(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
