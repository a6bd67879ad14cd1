import type {
  ConsoleParticipant,
  ConsoleRun,
  ConsoleRunState,
  ConsoleWatch,
  RoundEntry,
} from '@fedtune/protocol'
import { get } from './api.ts'

/**
 * The picture the REST API gives, read once when the page opens without its live feed (and after an
 * action of its own): the live feed (feed.ts) replaces it as soon as it connects. Nothing here is
 * read on a timer.
 */

type Listing = {
  readonly name: string
  readonly phase: 'idle' | 'preparing' | 'serving' | 'ended'
  readonly run: {
    readonly id: number
    readonly state: ConsoleRunState
    readonly reason: string | null
  } | null
}

type Status = Partial<Pick<ConsoleRun, 'state' | 'waiting' | 'startedAt' | 'accuracy' | 'auc' | 'etaMs'>> & {
  readonly round: number
  readonly rounds: number
  readonly completed: number
  readonly failed: number
  readonly paused: boolean
  readonly aggregation: 'secure' | 'plaintext-debug'
  readonly online: readonly string[]
  /** A private task's budget (absent from an older coordinator). */
  readonly privacy?: ConsoleRun['privacy']
}

type RunRow = { readonly id: number; readonly startedAt: string | null; readonly endedAt: string | null }

/** A set's figures in a kept round (the coordinator's ClinicalMetrics; the rest is the live feed's). */
type Figures = { readonly accuracy: number; readonly auc: number | null }

/** What GET /api/runs/:id/rounds answers per round (the coordinator's RoundRecord and its head). */
type KeptRound = {
  readonly round: number
  readonly status: 'aggregated' | 'failed'
  readonly reason: string | null
  readonly startedAt: string
  readonly durationMs: number
  readonly selected: readonly string[]
  readonly dropped: readonly string[]
  readonly survivors?: readonly string[]
  readonly contributions: readonly unknown[]
  readonly validation?: Figures | null
  readonly test?: Figures | null
  readonly participants?: Figures | null
  readonly excluded?: readonly { readonly participant: string }[]
  readonly privacy?: { readonly epsilon: number } | null
}

type RestParticipant = {
  readonly name: string
  readonly kind: 'hospital' | 'browser'
  readonly fingerprint: string
  readonly state: ConsoleParticipant['state']
  readonly online: boolean
}

export async function runsSnapshot(): Promise<ConsoleRun[]> {
  const [{ tasks }, { runs }] = await Promise.all([
    get<{ tasks: Listing[] }>('/api/tasks'),
    get<{ runs: RunRow[] }>('/api/runs'),
  ])
  return Promise.all(
    tasks.map(async (t): Promise<ConsoleRun> => {
      const row = runs.find((r) => r.id === t.run?.id)
      const status =
        t.phase === 'serving' || t.phase === 'ended'
          ? await get<Status>(`/api/status?task=${encodeURIComponent(t.name)}`)
          : null
      return {
        task: t.name,
        run: t.run?.id ?? null,
        state: status?.state ?? t.run?.state ?? 'idle',
        round: status?.round ?? 0,
        rounds: status?.rounds ?? 0,
        completed: status?.completed ?? 0,
        failed: status?.failed ?? 0,
        startedAt: status?.startedAt ?? row?.startedAt ?? null,
        endedAt: row?.endedAt ?? null,
        accuracy: status?.accuracy ?? null,
        auc: status?.auc ?? null,
        best: null,
        secure: status?.aggregation === 'secure',
        waiting: status?.waiting ?? null,
        etaMs: status?.etaMs ?? null,
        reason: t.run?.reason ?? null,
        privacy: status?.privacy
          ? {
              unit: status.privacy.unit,
              epsilon: status.privacy.epsilon,
              target: status.privacy.target,
              delta: status.privacy.delta,
            }
          : null,
        // the statement comes with the live feed, which replaces this picture once it connects
        privacyStatement: [],
      }
    }),
  )
}

export async function participantsSnapshot(task: string): Promise<ConsoleParticipant[]> {
  const { participants } = await get<{ participants: RestParticipant[] }>(
    `/api/tasks/${encodeURIComponent(task)}/participants`,
  )
  return participants.map((p) => participantOf(task, p))
}

/** A participant as the REST API answers it (after an action too), with what only the feed knows left empty. */
export function participantOf(
  task: string,
  p: RestParticipant,
  known?: ConsoleParticipant,
): ConsoleParticipant {
  return {
    task,
    name: p.name,
    kind: p.kind,
    fingerprint: p.fingerprint,
    state: p.state,
    online: p.online,
    lastSeen: known?.lastSeen ?? null,
    rounds: known?.rounds ?? 0,
    dropouts: known?.dropouts ?? 0,
    exclusions: known?.exclusions ?? 0,
    agent: known?.agent ?? null,
  }
}

export async function watchSnapshot(run: ConsoleRun): Promise<ConsoleWatch> {
  const [participants, kept] = await Promise.all([
    participantsSnapshot(run.task),
    run.run === null
      ? Promise.resolve({ rounds: [] as KeptRound[] })
      : get<{ rounds: KeptRound[] }>(`/api/runs/${run.run}/rounds`),
  ])
  return { run, live: null, timeline: kept.rounds.map((r) => entryOf(run.task, r)), participants }
}

function entryOf(task: string, r: KeptRound): RoundEntry {
  return {
    task,
    round: r.round,
    status: r.status,
    reason: r.reason,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    selected: r.selected.length,
    survivors: r.survivors?.length ?? r.contributions.length,
    // the record names who dropped, not in which stage: only the live feed knows that
    dropouts: r.dropped.map((participant) => ({ participant, stage: 'update' as const })),
    stages: [],
    bytesIn: 0,
    bytesOut: 0,
    accuracy: (r.test ?? r.validation)?.accuracy ?? null,
    auc: (r.test ?? r.validation)?.auc ?? null,
    validation: figures(r.validation),
    test: figures(r.test),
    participants: figures(r.participants),
    majority: null,
    excluded: r.excluded?.map((e) => e.participant) ?? [],
    epsilon: r.privacy?.epsilon ?? null,
    // the matrix and warnings come with the live feed, which replaces this picture once it connects
    evaluation: null,
  }
}

function figures(m: Figures | null | undefined): RoundEntry['validation'] {
  return m ? { accuracy: m.accuracy, auc: m.auc } : null
}
