import type { LiveStage, RoundEntry, StageSpan } from '@fedtune/protocol'
import type { StageTiming } from '../rounds/round-observer.ts'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { Traffic } from '../sockets/participant-event.ts'
import { heldOutFigures, setFigures } from './round-evaluation.ts'

const SECURE_STAGES: readonly LiveStage[] = ['advertise', 'share-keys', 'masked-input', 'unmask']

/** What the console saw of a round while it ran: its stages as they closed, and its socket bytes. */
export type ObservedRound = {
  readonly stages: readonly StageTiming[]
  readonly traffic: Traffic
}

/**
 * A round that ended, for the timeline and the accuracy chart: a pure function of its record, what
 * the console observed of it (nothing for a round that ended before the coordinator started) and
 * the held-out set's majority-class accuracy. Only what the coordinator learns anyway: who is in
 * the sum, who dropped where, timing, bytes, its head's figures on the coordinator's sets and the
 * participants' pooled ones; never anyone's own update or metrics. Its `evaluation` is left null:
 * the feed adds it to the latest aggregated round's entry only (round-evaluation.ts).
 */
export function roundEntry(
  task: string,
  record: RoundRecord,
  observed: ObservedRound | undefined,
  majority: number | null,
): RoundEntry {
  const secure = record.survivors !== undefined || (observed?.stages.length ?? 0) > 0
  const startedAt = Date.parse(record.startedAt)
  const heldOut = heldOutFigures(record)
  return {
    task,
    round: record.round,
    status: record.status,
    reason: record.reason,
    startedAt: record.startedAt,
    durationMs: record.durationMs,
    selected: record.selected.length,
    survivors: record.survivors?.length ?? record.contributions.length,
    dropouts: dropoutsOf(record, observed?.stages ?? [], secure),
    stages: secure
      ? stageSpans(observed?.stages ?? [])
      : [
          {
            stage: 'update',
            startedAt,
            durationMs: record.durationMs,
            heard: record.contributions.length,
            of: record.selected.length,
          },
        ],
    bytesIn: observed?.traffic.in ?? 0,
    bytesOut: observed?.traffic.out ?? 0,
    accuracy: heldOut?.accuracy ?? null,
    auc: heldOut?.auc ?? null,
    validation: setFigures(record.validation),
    test: setFigures(record.test),
    participants: setFigures(record.participants),
    majority,
    excluded: (record.excluded ?? []).map((e) => e.participant),
    epsilon: record.privacy?.epsilon ?? null,
    evaluation: null,
  }
}

/**
 * The closed stages: each from its opening until its messages were relayed (or the sum unmasked),
 * heard from how many of the round's participants. A stage waits only for those still in the round,
 * so who an earlier stage missed is missing from every later one too.
 */
export function stageSpans(timings: readonly StageTiming[]): StageSpan[] {
  const gone = new Set<string>()
  return timings.map((t) => {
    for (const p of t.missing) gone.add(p)
    return {
      stage: t.stage,
      startedAt: t.openedAt,
      durationMs: t.relayedAt - t.openedAt,
      heard: t.of - gone.size,
      of: t.of,
    }
  })
}

/** Who the round's closed stages missed, so far: out of the round from then on. */
export function goneFrom(timings: readonly StageTiming[]): Set<string> {
  return new Set(timings.flatMap((t) => t.missing))
}

/**
 * Who dropped, each at the first stage that did not hear from them. A secure round's selected
 * participant missing from its sum whom no closed stage missed dropped in the stage that was open
 * when the round ended; a round an operator aborted has no dropouts but those its stages missed.
 * A plaintext-debug round's dropouts are those who sent no update.
 */
export function dropoutsOf(
  record: RoundRecord,
  stages: readonly StageTiming[],
  secure: boolean,
): RoundEntry['dropouts'] {
  if (!secure) return record.dropped.map((participant) => ({ participant, stage: 'update' as const }))
  const seen = new Set<string>()
  const out: { participant: string; stage: LiveStage }[] = []
  for (const t of stages)
    for (const participant of t.missing)
      if (!seen.has(participant)) {
        seen.add(participant)
        out.push({ participant, stage: t.stage })
      }
  if (record.status === 'aggregated' && record.survivors) {
    const open = SECURE_STAGES[Math.min(stages.length, SECURE_STAGES.length - 1)] as LiveStage
    const excluded = new Set((record.excluded ?? []).map((e) => e.participant))
    const survived = new Set(record.survivors)
    for (const participant of record.selected)
      if (!survived.has(participant) && !seen.has(participant) && !excluded.has(participant))
        out.push({ participant, stage: open })
  }
  return out
}
