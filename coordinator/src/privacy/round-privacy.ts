import { distinctEpsilons } from '@fedtune/protocol'

/**
 * What the round logic knows of a private task's budget (docs/privacy.md, "The coordinator's
 * accountant"). It reads only public facts: which rounds released something and how many survivors
 * each carried. run-accountant.ts builds it from the task's privacy settings.
 */
export type RoundPrivacy = {
  readonly unit: 'example' | 'participant'
  /** The target ε over the whole run. */
  readonly target: number
  /** The δ every ε is stated at. */
  readonly delta: number
  /**
   * The survivors the next round is accounted with in the worst case: `minParticipants` for unit
   * "participant" (fewer survivors carry less noise); unit "example" costs the same whatever the count.
   */
  readonly worstSurvivors: number
  /** ε at `delta` after rounds that released sums of these many survivors each; 0 for none. Pure. */
  epsilonAfter(survivors: readonly number[]): number
}

/** What a round's record says of privacy: ε spent after it, of the target, at δ. */
export type PrivacyRecord = {
  readonly unit: 'example' | 'participant'
  /** ε spent by the run up to and including this round, at `delta`. */
  readonly epsilon: number
  readonly delta: number
  readonly target: number
  /**
   * How many participants' updates this round released (the survivors of an aggregated round, or
   * of a secure round that failed once their unmasking was asked for; the updates a plaintext-debug
   * round received); 0: it released nothing and cost nothing.
   */
  readonly survivors: number
}

/** The record of a round that released `survivors` updates, after the rounds `accounted` before it. */
export function privacyRecord(
  privacy: RoundPrivacy,
  accounted: readonly number[],
  survivors: number,
): PrivacyRecord {
  const spent = survivors > 0 ? [...accounted, survivors] : accounted
  return {
    unit: privacy.unit,
    epsilon: privacy.epsilonAfter(spent),
    delta: privacy.delta,
    target: privacy.target,
    survivors,
  }
}

/** The reason a run ends as finished for want of budget (the host reads a run ending with it as finished). */
export const PRIVACY_BUDGET = 'privacy budget'

/**
 * Why `round` may not start: in the worst case (`worstSurvivors` survivors) it would take ε past
 * the target. null when it fits.
 */
export function budgetExceeded(
  privacy: RoundPrivacy,
  accounted: readonly number[],
  round: number,
): string | null {
  const worst = privacy.epsilonAfter([...accounted, privacy.worstSurvivors])
  if (worst <= privacy.target) return null
  const [after, target] = distinctEpsilons(worst, privacy.target)
  return `${PRIVACY_BUDGET}: round ${round} would take ε to ${after} > target ${target} (δ = ${privacy.delta.toExponential(0)}, ${accounted.length} rounds accounted so far)`
}
