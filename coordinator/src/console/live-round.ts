import type { LiveRound } from '@fedtune/protocol'
import { firstNames } from './first-names.ts'
import type { StageView } from './run-view.ts'

/**
 * The running round as the console's progress bar shows it: its open stage, heard from how many of
 * the round's `of`, who it still waits for. `gone`: who earlier stages missed, whom no later stage
 * waits for (nor hears from).
 */
export function liveRound(
  task: string,
  round: number,
  startedAt: number,
  of: number,
  stage: StageView,
  gone: ReadonlySet<string>,
): LiveRound {
  const { names, more } = firstNames(stage.waitingFor)
  const awaited = stage.waitingFor.filter((p) => !gone.has(p)).length
  return {
    task,
    round,
    startedAt,
    stage: stage.stage,
    heard: Math.max(0, of - gone.size - awaited),
    of,
    waitingFor: names,
    more,
    deadlineAt: stage.deadlineAt,
  }
}
