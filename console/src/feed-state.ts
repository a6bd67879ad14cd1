import type {
  ConsoleAuditEntry,
  ConsoleParticipant,
  ConsoleRun,
  ConsoleWatch,
  LiveRound,
  RoundEntry,
  RoundEvaluation,
} from '@fedtune/protocol'

/** What the page knows: every run, and the details of the one it watches. Changed only by `apply`. */
export type FeedState = {
  /** By task name, in the order first seen. */
  readonly runs: ReadonlyMap<string, ConsoleRun>
  readonly watched: ConsoleWatch | null
  /** The newest audit rows pushed since the page opened, newest first (the audit page reads the rest). */
  readonly audit: readonly ConsoleAuditEntry[]
}

export type FeedEvent =
  | { readonly type: 'runs'; readonly runs: readonly ConsoleRun[] }
  | { readonly type: 'run'; readonly run: ConsoleRun }
  | { readonly type: 'watch'; readonly watch: ConsoleWatch | null }
  | { readonly type: 'round-live'; readonly live: LiveRound }
  | { readonly type: 'round-ended'; readonly entry: RoundEntry }
  | { readonly type: 'participant'; readonly participant: ConsoleParticipant }
  | { readonly type: 'audit'; readonly entry: ConsoleAuditEntry }

/** The newest evaluation in full the timeline holds: the run page's evaluation panel; null before one. */
export function latestEvaluation(timeline: readonly RoundEntry[]): RoundEvaluation | null {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const evaluation = timeline[i]?.evaluation
    if (evaluation) return evaluation
  }
  return null
}

export const EMPTY: FeedState = { runs: new Map(), watched: null, audit: [] }

/** The most pushed audit rows kept in memory. */
const AUDIT_KEPT = 200

/** The state after one event of the feed (or of an answer the page fetched itself). */
export function apply(state: FeedState, event: FeedEvent): FeedState {
  switch (event.type) {
    case 'runs':
      return { ...state, runs: new Map(event.runs.map((r) => [r.task, r])) }
    case 'run': {
      const runs = new Map(state.runs).set(event.run.task, event.run)
      const w = state.watched
      return { ...state, runs, watched: w?.run.task === event.run.task ? { ...w, run: event.run } : w }
    }
    case 'watch':
      return { ...state, watched: event.watch }
    case 'round-live': {
      const w = state.watched
      if (w === null || w.run.task !== event.live.task) return state
      return { ...state, watched: { ...w, live: event.live } }
    }
    case 'round-ended': {
      const w = state.watched
      if (w === null || w.run.task !== event.entry.task) return state
      // only the newest evaluation in full is kept (each is a confusion matrix): the page shows that one
      const earlier = w.timeline
        .filter((e) => e.round !== event.entry.round)
        .map((e) =>
          event.entry.evaluation !== null && e.evaluation !== null ? { ...e, evaluation: null } : e,
        )
      const timeline = [...earlier, event.entry].sort((a, b) => a.round - b.round)
      const live = w.live?.round === event.entry.round ? null : w.live
      return { ...state, watched: { ...w, timeline, live } }
    }
    case 'participant': {
      const w = state.watched
      const p = event.participant
      if (w === null || w.run.task !== p.task) return state
      const found = w.participants.some((q) => q.name === p.name)
      const participants = found
        ? w.participants.map((q) => (q.name === p.name ? p : q))
        : [...w.participants, p].sort((a, b) => a.name.localeCompare(b.name))
      return { ...state, watched: { ...w, participants } }
    }
    case 'audit':
      return { ...state, audit: [event.entry, ...state.audit].slice(0, AUDIT_KEPT) }
  }
}
