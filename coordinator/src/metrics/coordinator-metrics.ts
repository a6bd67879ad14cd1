import type { ParticipantKind, RefusalCode, Stage } from '@fedtune/protocol'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/** Participants online in one task's run, of one kind: what the online gauge reads at each scrape. */
export type OnlineCount = { readonly task: string; readonly kind: ParticipantKind; readonly count: number }

/**
 * A refusal the socket shell gave: a protocol code, or `too-many-connections` for an upgrade refused
 * over the per-address cap (which has no protocol code, as no socket.io connection exists yet).
 */
export type RefusedCode = RefusalCode | 'too-many-connections'

/**
 * One coordinator's metrics, in a registry of its own (tests start many coordinators in one process,
 * so never prom-client's global one). Labels hold only what the coordinator bounds: task names (an
 * operator's, matching TASK_NAME), stages, kinds, statuses, codes; never a participant's name.
 */
export type CoordinatorMetrics = {
  readonly registry: Registry
  readonly rounds: Counter<'task' | 'status'>
  readonly roundDuration: Histogram<'task' | 'status'>
  readonly stageDuration: Histogram<'task' | 'stage'>
  readonly unmask: Histogram<'task'>
  readonly dropouts: Counter<'task' | 'stage'>
  readonly online: Gauge<'task' | 'kind'>
  readonly bytes: Counter<'direction'>
  readonly refused: Counter<'code'>
  readonly signInFailures: Counter<'reason'>
  readonly httpRequests: Counter<'method' | 'route' | 'status'>
  readonly readPacing: Counter
}

/** Seconds: a round waits for its participants' training (minutes), a stage for their answers. */
const ROUND_BUCKETS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
const STAGE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
/** Unmasking is the coordinator's own work: O(n·k) key agreements and PRG expansions. */
const UNMASK_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** The stages of a secure round, in order (docs/protocol.md). */
export const STAGES: readonly Stage[] = ['advertise', 'share-keys', 'masked-input', 'unmask']

/**
 * Every metric a coordinator exposes at /metrics (docs/metrics.md lists them): the process's own
 * (prom-client's default metrics) and fedtune's. `online` is asked at each scrape.
 */
export function coordinatorMetrics(
  online: () => Iterable<OnlineCount>,
  /** Milliseconds the read pacing has held the event loop so far (sockets/read-pacer.ts). */
  paced: () => number = () => 0,
): CoordinatorMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  return {
    registry,
    rounds: new Counter({
      name: 'fedtune_rounds_total',
      help: 'Rounds ended, by task and status (aggregated or failed).',
      labelNames: ['task', 'status'],
      registers,
    }),
    roundDuration: new Histogram({
      name: 'fedtune_round_duration_seconds',
      help: 'How long rounds took, from their start to their result, by task and status.',
      labelNames: ['task', 'status'],
      buckets: ROUND_BUCKETS,
      registers,
    }),
    stageDuration: new Histogram({
      name: 'fedtune_stage_duration_seconds',
      help: 'How long each secure-aggregation stage was open (from its opening to its close), by task and stage.',
      labelNames: ['task', 'stage'],
      buckets: STAGE_BUCKETS,
      registers,
    }),
    unmask: new Histogram({
      name: 'fedtune_unmask_seconds',
      help: 'How long the coordinator took to unmask the sum once the unmask stage closed, by task.',
      labelNames: ['task'],
      buckets: UNMASK_BUCKETS,
      registers,
    }),
    dropouts: new Counter({
      name: 'fedtune_dropouts_total',
      help: 'Participants a secure-aggregation stage expected and did not hear from before it closed, by task and stage.',
      labelNames: ['task', 'stage'],
      registers,
    }),
    online: new Gauge({
      name: 'fedtune_participants_online',
      help: 'Participants connected to a serving run, by task and kind (hospital or browser).',
      labelNames: ['task', 'kind'],
      registers,
      collect() {
        this.reset()
        for (const { task, kind, count } of online()) this.set({ task, kind }, count)
      },
    }),
    bytes: new Counter({
      name: 'fedtune_bytes_total',
      help: 'Bytes of engine.io packets on the participants’ sockets, by direction (in: from participants, out: to them).',
      labelNames: ['direction'],
      registers,
    }),
    refused: new Counter({
      name: 'fedtune_refused_messages_total',
      help: 'Refusals the socket shell gave (refused acknowledgements, closed connections, refused handshakes), by code.',
      labelNames: ['code'],
      registers,
    }),
    signInFailures: new Counter({
      name: 'fedtune_sign_in_failures_total',
      help: 'Operators’ sign-ins refused, by reason (unknown-name, wrong-password, disabled, rate-limited).',
      labelNames: ['reason'],
      registers,
    }),
    httpRequests: new Counter({
      name: 'fedtune_http_requests_total',
      help: 'HTTP requests answered on the main port, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    }),
    readPacing: new Counter({
      name: 'fedtune_read_pacing_seconds_total',
      help: 'Time the read pacing held the event loop so that participants’ messages are read many a wake-up (fedtune coordinator --read-pacing).',
      registers,
      collect() {
        this.reset()
        this.inc(paced() / 1000)
      },
    }),
  }
}
