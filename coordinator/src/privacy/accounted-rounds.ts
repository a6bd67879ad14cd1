import type { RoundRecord } from '../rounds/round-record.ts'

/**
 * A private run's accountant input rebuilt from its kept rounds, as `--resume` (a restarted
 * coordinator) needs it: the survivors of each round that released updates, in order. Each
 * record's `privacy.survivors` is what the round logic accounted as the round ended (round.ts,
 * closeRound): an aggregated round's survivors, a failed secure round's survivors whose unmasking
 * was asked for, a failed plaintext-debug round's received updates; 0 for a round that released
 * nothing. Rounds kept without privacy count for nothing.
 */
export function accountedRounds(records: readonly RoundRecord[]): number[] {
  return records.flatMap((r) => (r.privacy && r.privacy.survivors > 0 ? [r.privacy.survivors] : []))
}
