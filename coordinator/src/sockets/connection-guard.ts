import { escapeText, ProtocolError, type ProtocolErrorCode, type Refusal } from '@fedtune/protocol'
import type { ConnectionLimits } from './connection-limits.ts'
import type { MessageBounds } from './message-bounds.ts'
import { type Bucket, fullBucket, spend } from './token-bucket.ts'

/** The engine.io connection, as much of it as the guard uses. */
export type GuardedConnection = {
  close(): void
  once(event: 'close', listener: () => void): unknown
}

/** Warnings about one connection logged as they come; past this many, counted and summarized at close. */
const LOGGED_WARNINGS = 5
/** Distinct names of ignored events kept for the summary line. */
const NAMED_STRAYS = 5

/**
 * What one connection has cost so far, and the limits on it: its hello deadline, its rate tokens,
 * the events it sent that it may not send, its warnings. It logs a refusal once, tells the client
 * (through `notify`, set once its socket.io socket exists), closes the connection, and at close
 * writes one summary line of what it ignored. Every string from the connection is escaped first.
 */
export class ConnectionGuard {
  #bounds: MessageBounds
  readonly #limits: ConnectionLimits
  readonly #conn: GuardedConnection
  readonly #log: (line: string) => void
  readonly #now: () => number
  readonly #onRefused: ((code: ProtocolErrorCode) => void) | undefined
  #label: string
  #joined = false
  #bucket: Bucket
  #strays = 0
  readonly #strayNames = new Map<string, number>()
  #warnings = 0
  #refusal: Refusal | null = null
  #notify: ((refusal: Refusal) => void) | null = null
  #helloTimer: ReturnType<typeof setTimeout> | null

  constructor(opts: {
    readonly conn: GuardedConnection
    readonly label: string
    readonly limits: ConnectionLimits
    readonly bounds: MessageBounds
    readonly log: (line: string) => void
    readonly now?: () => number
    /** Told of the refusal that closes the connection (the coordinator's metrics count them). */
    readonly onRefused?: ((code: ProtocolErrorCode) => void) | undefined
  }) {
    this.#onRefused = opts.onRefused
    this.#bounds = opts.bounds
    this.#limits = opts.limits
    this.#conn = opts.conn
    this.#log = opts.log
    this.#now = opts.now ?? Date.now
    this.#label = escapeText(opts.label, 120)
    this.#bucket = fullBucket(opts.limits.eventBurst, this.#now())
    this.#helloTimer = setTimeout(() => {
      this.#helloTimer = null
      const sent = this.#strays === 0 ? 'nothing' : `${this.#strays} other events`
      this.refuse(
        'hello-timeout',
        `expected a hello within ${opts.limits.helloTimeoutMs} ms of connecting, got ${sent}`,
      )
    }, opts.limits.helloTimeoutMs)
    opts.conn.once('close', () => this.#closed())
  }

  get joined(): boolean {
    return this.#joined
  }

  /** What each message may carry: a hello's bound before the hello, its task's bounds after it. */
  get bounds(): MessageBounds {
    return this.#bounds
  }

  /** The hello was accepted: from now on the connection is `participant` and its messages get its task's `bounds`. */
  join(participant: string, bounds: MessageBounds = this.#bounds): void {
    this.#joined = true
    this.#bounds = bounds
    this.#label = escapeText(participant, 120)
    this.#clearTimer()
  }

  /** The socket.io socket, once there is one, to tell the client why it is being closed. */
  onRefusal(notify: (refusal: Refusal) => void): void {
    this.#notify = notify
  }

  /** One event's token; refuses the connection when the bucket is empty. */
  spend(): void {
    const next = spend(this.#bucket, this.#now(), this.#limits.eventsPerSecond, this.#limits.eventBurst)
    if (next === null)
      throw this.refuse(
        'rate-limited',
        `expected at most ${this.#limits.eventsPerSecond} events per second (bursts of ${this.#limits.eventBurst}), got more`,
      )
    this.#bucket = next
  }

  /** An event the connection may not send (unknown, or before hello): counted; past the limit, refused. */
  stray(name: string, why: 'unknown' | 'before hello' | 'without an acknowledgement'): void {
    this.#strays++
    const key = `${escapeText(name, 40)} (${why})`
    if (this.#strayNames.has(key) || this.#strayNames.size < NAMED_STRAYS)
      this.#strayNames.set(key, (this.#strayNames.get(key) ?? 0) + 1)
    if (this.#strays > this.#limits.maxUnknownEvents)
      throw this.refuse(
        'unknown-events',
        `expected at most ${this.#limits.maxUnknownEvents} events it may not send (unknown, before hello or without an acknowledgement), got ${this.#strays}: ${this.#strayList()}`,
      )
  }

  /** A warning about this connection: the first few are logged, the rest counted for the summary. */
  warn(message: string): void {
    this.#warnings++
    if (this.#warnings <= LOGGED_WARNINGS) this.#log(`${this.#label}: ${escapeText(message)}`)
  }

  /**
   * Refuses the connection: logs the refusal once, tells the client when it can, closes the
   * connection, and returns the error for the caller to throw (the decoder throws it, which makes
   * socket.io close the connection too).
   */
  refuse(code: ProtocolErrorCode, reason: string, detail = reason): ProtocolError {
    const error = new ProtocolError(code, reason)
    if (this.#refusal !== null) return error
    this.#refusal = { ok: false, code, reason }
    this.#onRefused?.(code)
    this.#clearTimer()
    this.#log(`${this.#label}: closing the connection: ${code}: ${escapeText(detail)}`)
    this.#notify?.(this.#refusal)
    this.#conn.close()
    return error
  }

  /** The refusal that closed the connection, if one did. */
  get refusal(): Refusal | null {
    return this.#refusal
  }

  #closed(): void {
    this.#clearTimer()
    const parts: string[] = []
    if (this.#strays > 0 && this.#refusal?.code !== 'unknown-events')
      parts.push(`ignored ${this.#strays} events it may not send: ${this.#strayList()}`)
    if (this.#warnings > LOGGED_WARNINGS)
      parts.push(`${this.#warnings - LOGGED_WARNINGS} more warnings not shown`)
    if (parts.length > 0) this.#log(`${this.#label}: closed; ${parts.join('; ')}`)
  }

  #strayList(): string {
    const named = [...this.#strayNames].map(([key, count]) => `${key} ×${count}`)
    const counted = [...this.#strayNames.values()].reduce((a, b) => a + b, 0)
    return counted < this.#strays ? `${named.join(', ')}, …` : named.join(', ')
  }

  #clearTimer(): void {
    if (this.#helloTimer !== null) clearTimeout(this.#helloTimer)
    this.#helloTimer = null
  }
}
