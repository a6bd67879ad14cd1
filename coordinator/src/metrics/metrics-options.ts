import type { MetricsAddress } from './metrics-server.ts'

/** How a coordinator exposes its metrics (docs/metrics.md); with neither, /metrics answers 404. */
export type MetricsOptions = {
  /** GET /metrics on the main port, for `Authorization: Bearer <token>`. */
  readonly token?: string | undefined
  /** A port of its own serving only /metrics, without a token. */
  readonly address?: MetricsAddress | undefined
}
