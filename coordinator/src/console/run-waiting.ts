import type { RunWaiting } from '@fedtune/protocol'
import { firstNames } from './first-names.ts'
import type { RunView } from './run-view.ts'

const ENDED = ['finished', 'failed', 'stopped']

/**
 * What a run waits for when it waits, from what the host and its federation know: preparing, fewer
 * participants online than a round needs, the gather window, a stage's stragglers, an operator's
 * resume, or its last round's record being kept. null when it is computing or over.
 */
export function runWaiting(view: RunView): RunWaiting | null {
  const { run, federation: f } = view
  if (run === null || ENDED.includes(run.state)) return null
  if (f === null)
    return {
      kind: 'preparing',
      detail: view.preparing
        ? `${view.preparing.what}: ${view.preparing.done} of ${view.preparing.total}`
        : 'preparing the run',
    }
  if (f.phase === 'finished') return null
  if (f.stage !== null) {
    const { names, more } = firstNames(f.stage.waitingFor)
    return { kind: 'stage', stage: f.stage.stage, waitingFor: names, more, deadlineAt: f.stage.deadlineAt }
  }
  if (f.committing) return { kind: 'commit' }
  if (f.paused) return { kind: 'resume', pausedBy: f.pausedBy }
  if (f.phase === 'training') return null
  if (f.online < f.needed) return { kind: 'participants', online: f.online, needed: f.needed }
  if (f.gatherUntil !== null) return { kind: 'gather', until: f.gatherUntil }
  return null
}
