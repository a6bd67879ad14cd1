import type { RoundRecord } from '../rounds/round-record.ts'
import type { Run } from '../store/index.ts'

/** A round kept in the store, as the head and model routes see it. */
export type KeptRound = { readonly record: RoundRecord; readonly headFile: string | null }

/** The head of a round, or why there is none, as an HTTP answer says it. */
export type RoundHead =
  | {
      readonly ok: true
      readonly round: number
      readonly kept: KeptRound
      /** Why this round: asked for, the best by validation, or the last aggregated (no best round). */
      readonly chosen: 'asked' | 'best' | 'last'
    }
  | { readonly ok: false; readonly status: 404 | 409; readonly error: string; readonly message: string }

/**
 * Which kept round's head to serve: `round`, or when undefined the best round by the task's
 * validation metric (the last record names it), else the last aggregated one. A round the
 * run has not reached, or never will, is 404; a failed one, or a run without an aggregated round
 * yet, is 409 with the reason the round's record gives.
 */
export function roundHead(run: Run, kept: readonly KeptRound[], round: number | undefined): RoundHead {
  const ran = kept.length === 0 ? 0 : Math.max(...kept.map((k) => k.record.round))
  const aggregated = kept.filter((k) => k.record.status === 'aggregated' && k.headFile !== null)
  const over = ['stopped', 'finished', 'failed'].includes(run.state)
  const so = `the run has completed ${ran} round${ran === 1 ? '' : 's'} (${aggregated.length} aggregated)`
  if (round === undefined) {
    // records kept before the best round existed have no `best`
    const bestRound = kept.at(-1)?.record.best?.round
    const best = aggregated.find((k) => k.record.round === bestRound)
    if (best !== undefined) return { ok: true, round: best.record.round, kept: best, chosen: 'best' }
    const last = aggregated.at(-1)
    if (last !== undefined) return { ok: true, round: last.record.round, kept: last, chosen: 'last' }
    return {
      ok: false,
      status: 409,
      error: 'no-head',
      message: `run ${run.id} has no aggregated round yet: ${so}, and it is ${run.state}${run.reason ? ` (${run.reason})` : ''}`,
    }
  }
  const found = kept.find((k) => k.record.round === round)
  if (found === undefined)
    return {
      ok: false,
      status: 404,
      error: 'not-found',
      message: over
        ? `round ${round} never ran: run ${run.id} is ${run.state} after round ${ran}; ${so}`
        : `round ${round} has not run yet; ${so}`,
    }
  if (found.record.status !== 'aggregated' || found.headFile === null)
    return {
      ok: false,
      status: 409,
      error: 'no-head',
      message: `round ${round} failed: ${found.record.reason ?? 'no reason recorded'}; no head was produced`,
    }
  return { ok: true, round, kept: found, chosen: 'asked' }
}
