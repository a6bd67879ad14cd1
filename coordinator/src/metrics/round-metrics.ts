import type { RoundObserver } from '../rounds/round-observer.ts'
import type { CoordinatorMetrics } from './coordinator-metrics.ts'

/**
 * A run's rounds as metrics: its rounds by status and how long they took; each secure stage's time
 * open, who it did not hear from, and the unmasking. `task` is the run's task name (TaskHost asks
 * for one observer per run); StageTiming is in the round's clock, in ms.
 */
export function roundMetrics(metrics: CoordinatorMetrics, task: string): RoundObserver {
  return {
    stageRelayed: (timing) => {
      const labels = { task, stage: timing.stage }
      metrics.stageDuration.observe(labels, (timing.closedAt - timing.openedAt) / 1000)
      // `heard` counts everyone the stage no longer waits for, so this is the stage's own dropouts,
      // not the earlier stages' again (secure-round.ts, #closeStage)
      metrics.dropouts.inc(labels, timing.of - timing.heard)
      if (timing.stage === 'unmask')
        metrics.unmask.observe({ task }, (timing.relayedAt - timing.closedAt) / 1000)
    },
    roundEnded: (record) => {
      const labels = { task, status: record.status }
      metrics.rounds.inc(labels)
      metrics.roundDuration.observe(labels, record.durationMs / 1000)
    },
  }
}
