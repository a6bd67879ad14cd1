import {
  CONSOLE_NAMESPACE,
  CONSOLE_SOCKET_PATH,
  type ConsoleRefusal,
  type ConsoleToServerEvents,
  type ConsoleWatchReply,
  type ConsoleWelcome,
  type ServerToConsoleEvents,
} from '@fedtune/protocol'
import { io, type Socket } from 'socket.io-client'
import type { FeedEvent } from './feed-state.ts'

export type FeedStatus = 'connecting' | 'live' | 'offline'

export type FeedHandlers = {
  readonly event: (event: FeedEvent) => void
  readonly welcome: (welcome: ConsoleWelcome) => void
  readonly status: (status: FeedStatus, detail: string) => void
  /** The session ended (signed out elsewhere, expired, revoked): the page goes back to the sign-in. */
  readonly signedOut: (message: string) => void
}

/**
 * The live feed: one socket to the console namespace, authenticated by the session cookie the
 * browser sends with the handshake. Everything the page shows live arrives here; nothing is polled.
 */
export class Feed {
  readonly #socket: Socket<ServerToConsoleEvents, ConsoleToServerEvents>
  #watching: string | null = null

  constructor(handlers: FeedHandlers) {
    const socket: Socket<ServerToConsoleEvents, ConsoleToServerEvents> = io(
      `${location.origin}${CONSOLE_NAMESPACE}`,
      { path: CONSOLE_SOCKET_PATH, transports: ['websocket'], withCredentials: true },
    )
    this.#socket = socket
    handlers.status('connecting', '')
    socket.on('connect', () => handlers.status('live', ''))
    socket.on('disconnect', (reason) => handlers.status('offline', reason))
    socket.on('connect_error', (error) => {
      const refusal = (error as Error & { data?: ConsoleRefusal }).data
      handlers.status('offline', refusal?.message ?? error.message)
      // a session that is not usable will not become usable by retrying
      if (refusal !== undefined && refusal.code !== 'foreign-origin') {
        socket.close()
        handlers.signedOut(refusal.message)
      }
    })
    socket.on('signed-out', (refusal) => {
      socket.close()
      handlers.signedOut(refusal.message)
    })
    socket.on('welcome', (welcome) => {
      handlers.welcome(welcome)
      handlers.event({ type: 'runs', runs: welcome.runs })
      // after a reconnection the watched run's state is asked for again
      if (this.#watching !== null) this.watch(this.#watching, handlers.event)
    })
    socket.on('run', (run) => handlers.event({ type: 'run', run }))
    socket.on('round-live', (live) => handlers.event({ type: 'round-live', live }))
    socket.on('round-ended', (entry) => handlers.event({ type: 'round-ended', entry }))
    socket.on('participant', (participant) => handlers.event({ type: 'participant', participant }))
    socket.on('audit', (entry) => handlers.event({ type: 'audit', entry }))
  }

  get connected(): boolean {
    return this.#socket.connected
  }

  /** Asks for `task`'s details (and its live events from now on); the answer goes to `event`. */
  watch(task: string, event: (event: FeedEvent) => void, failed?: (message: string) => void): void {
    this.#watching = task
    if (!this.#socket.connected) return
    this.#socket.emit('watch', task, (reply: ConsoleWatchReply) => {
      if (this.#watching !== task) return
      if (reply.ok) {
        const { ok: _, ...watch } = reply
        event({ type: 'watch', watch })
      } else failed?.(reply.message)
    })
  }

  close(): void {
    this.#socket.close()
  }
}
