import type { RoundRecord } from '../rounds/round-record.ts'

/**
 * A private run's accountant input rebuilt from its kept rounds, as `--resume` (a restarted
 * coordinator) needs it: the survivors of each round that released updates, in order. The same
 * public facts the round logic accounted as the rounds ended (round.ts, closeRound): an aggregated
 * round's survivors (its contributors in plaintext-debug), a failed plaintext-debug round's received
 * updates; a failed secure round released nothing. Rounds kept without privacy count for nothing.
 */
export function accountedRounds(records: readonly RoundRecord[]): number[] {
  const accounted: number[] = []
  for (const r of records) {
    if (!r.privacy) continue
    const released =
      r.status === 'aggregated' ? (r.survivors?.length ?? r.contributions.length) : r.contributions.length
    if (released > 0) accounted.push(released)
  }
  return accounted
}
