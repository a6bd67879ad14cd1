/**
 * What one connection may cost the coordinator. Every limit has a default that an honest
 * participant never reaches; a deployment (or the load benchmark, whose thousands of clients share
 * 127.0.0.1) raises or lowers them through `startCoordinator({ limits })` or the CLI's flags.
 */
export type ConnectionLimits = {
  /** A connection that has not completed its hello this long after it opened is closed. */
  readonly helloTimeoutMs: number
  /** Open connections from one IP address; the next one is refused at the websocket upgrade. */
  readonly maxConnectionsPerAddress: number
  /** Token bucket per connection: events per second refilled... */
  readonly eventsPerSecond: number
  /** ...and the burst it holds. A participant sends a handful of events per round. */
  readonly eventBurst: number
  /** Unknown events (and events before hello) tolerated on one connection before it is closed. */
  readonly maxUnknownEvents: number
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  helloTimeoutMs: 10_000,
  maxConnectionsPerAddress: 32,
  eventsPerSecond: 20,
  eventBurst: 60,
  maxUnknownEvents: 20,
}

/** The defaults with `overrides` applied, each checked: a limit must be a positive whole number. */
export function connectionLimits(overrides: Partial<ConnectionLimits> = {}): ConnectionLimits {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...definedOnly(overrides) }
  for (const [key, value] of Object.entries(limits))
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`connection limits: ${key} must be a positive whole number, got ${String(value)}`)
  return limits
}

function definedOnly(o: Partial<ConnectionLimits>): Partial<ConnectionLimits> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}
