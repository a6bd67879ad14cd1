import type { ConsoleRun, ConsoleRunState } from '@fedtune/protocol'
import type { RunView } from './run-view.ts'
import { runWaiting } from './run-waiting.ts'

/** One run as the console's runs list shows it: a pure function of what the host knows. */
export function consoleRun(view: RunView): ConsoleRun {
  const f = view.federation
  const state = runState(view)
  const over = state === 'finished' || state === 'failed' || state === 'stopped'
  return {
    task: view.task,
    run: view.run?.id ?? null,
    state,
    round: f?.round ?? view.kept.round,
    rounds: view.rounds,
    completed: f?.completed ?? view.kept.completed,
    failed: f?.failed ?? view.kept.failed,
    startedAt: view.run?.startedAt ?? null,
    endedAt: view.run?.endedAt ?? null,
    accuracy: view.last?.accuracy ?? null,
    auc: view.last?.auc ?? null,
    best: view.best,
    secure: view.secure,
    waiting: runWaiting(view),
    etaMs: over ? null : etaMs(view.durations, view.rounds - (f ? f.completed + f.failed : 0)),
    reason: view.run?.reason ?? null,
    privacy: view.privacy,
    privacyStatement: view.privacyStatement,
  }
}

/** What is left at the mean round duration so far: mean × rounds left; null before a round ended. */
export function etaMs(durations: readonly number[], roundsLeft: number): number | null {
  if (durations.length === 0) return null
  const mean = durations.reduce((sum, d) => sum + d, 0) / durations.length
  return Math.round(mean * Math.max(0, roundsLeft))
}

function runState(view: RunView): ConsoleRunState {
  const { run, federation: f } = view
  if (run === null) return 'idle'
  if (run.state === 'finished' || run.state === 'failed' || run.state === 'stopped') return run.state
  if (f === null) return 'preparing'
  if (f.paused) return 'paused'
  return f.phase === 'training' ? 'running' : 'waiting'
}
