/** The coordinator's Prometheus metrics (`@fedtune/coordinator/metrics`; docs/metrics.md). */
export {
  type CoordinatorMetrics,
  coordinatorMetrics,
  type OnlineCount,
  type RefusedCode,
  STAGES,
} from './coordinator-metrics.ts'
export type { MetricsOptions } from './metrics-options.ts'
export { type MetricsExposure, metricsRoute } from './metrics-route.ts'
export { type MetricsAddress, type MetricsServer, serveMetrics } from './metrics-server.ts'
export { bearerMatches, METRICS_TOKEN_MIN_LENGTH, metricsTokenProblem } from './metrics-token.ts'
export { onlineParticipants } from './online-participants.ts'
export { roundMetrics } from './round-metrics.ts'
export { countTraffic, packetBytes } from './socket-traffic.ts'
