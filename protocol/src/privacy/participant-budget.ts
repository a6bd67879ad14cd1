import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { int, num, oneOf, record, str } from '../fields.ts'
import { composeEvents, emptyRdpAccount, epsilonSpent, type PrivacyEvent } from './accountant.ts'
import { participantNoise } from './participant-noise.ts'
import { formatEpsilon, type PrivacySettings } from './privacy-settings.ts'

/**
 * A participant's own privacy accountant (pure: the hospital client and the volunteers' page keep
 * the rounds, this decides). The data holder, not the coordinator, enforces its budget: before each
 * round it composes what it has released so far with what this round would release, and trains only
 * if ε stays within the task's target at its δ.
 */

/**
 * One round whose update this participant released (or was about to: it is kept before the update
 * goes out, so a crash can only over-count), as its accountant composes it. Kept per task in the
 * participant's own state, so that a restart never resets the budget.
 */
export type SpentRound = {
  /** The task's id (`TaskInfo.taskId`). */
  readonly task: string
  readonly round: number
  /** When it was kept (ISO 8601). */
  readonly time: string
  readonly event: PrivacyEvent
}

/** What one round of the task releases, in the accountant's terms. */
export type RoundFacts = {
  /** DP-SGD steps this round trains (unit "example": `dpSgdSteps(epochs, q)`). */
  readonly steps: number
  /** The round's fixed-point scale s (unit "participant": the noise and sensitivity are in its grid units). */
  readonly scale: number
  /** Words of the update, the head's parameters (unit "participant"). */
  readonly dimension: number
}

/**
 * One round as a privacy event. Unit "example": `steps` Poisson-subsampled Gaussian steps at the
 * task's q and z (Abadi et al. 2016; the coordinator cannot change q or z without this participant
 * seeing it in the task). Unit "participant": one round of the distributed discrete Gaussian in the
 * worst case the task allows, only `minParticipants` survivors (each adds σ_i² from
 * {@link participantNoise}, with its sensitivity), over the head's `dimension` words.
 */
export function roundPrivacyEvent(privacy: PrivacySettings, round: RoundFacts): PrivacyEvent {
  if (privacy.unit === 'example')
    return {
      kind: 'subsampled-gaussian',
      steps: round.steps,
      samplingRate: privacy.samplingRate,
      noiseMultiplier: privacy.noiseMultiplier,
    }
  const { sigmaSquared, l2Sensitivity } = participantNoise(privacy, round.scale, round.dimension)
  return {
    kind: 'distributed-discrete-gaussian',
    rounds: 1,
    l2Sensitivity,
    sigmaSquared,
    participants: privacy.minParticipants,
    dimension: round.dimension,
  }
}

/** ε at `delta` of every event composed (Rényi DP, then the conversion of the accountant); 0 for none. */
export function epsilonOf(events: readonly PrivacyEvent[], delta: number): number {
  if (events.length === 0) return 0
  return epsilonSpent(composeEvents(emptyRdpAccount(), grouped(events)), delta).epsilon
}

/**
 * Equal events merged into one with their counts added (RDP composes linearly, so the result is the
 * same): a run of a hundred identical rounds is computed once, not a hundred times.
 */
function grouped(events: readonly PrivacyEvent[]): PrivacyEvent[] {
  const groups = new Map<string, PrivacyEvent>()
  for (const e of events) {
    // A double's string form reads back as the same double: equal keys, equal parameters.
    const key =
      e.kind === 'subsampled-gaussian'
        ? `${e.kind} ${e.samplingRate} ${e.noiseMultiplier}`
        : `${e.kind} ${e.l2Sensitivity} ${e.l1Sensitivity} ${e.sigmaSquared} ${e.participants} ${e.dimension}`
    const seen = groups.get(key)
    groups.set(key, seen === undefined ? e : withCountOf(seen, e))
  }
  return [...groups.values()]
}

function withCountOf(a: PrivacyEvent, b: PrivacyEvent): PrivacyEvent {
  if (a.kind === 'subsampled-gaussian' && b.kind === 'subsampled-gaussian')
    return { ...a, steps: a.steps + b.steps }
  if (a.kind === 'distributed-discrete-gaussian' && b.kind === 'distributed-discrete-gaussian')
    return { ...a, rounds: a.rounds + b.rounds }
  throw new Error(`privacy events of kinds ${a.kind} and ${b.kind} cannot be merged`)
}

/** Where a participant's budget stands before a round, all ε at the task's δ. */
export type BudgetFigures = {
  /** Rounds released so far. */
  readonly rounds: number
  /** ε those rounds spent. */
  readonly spent: number
  /** ε after this round too. */
  readonly after: number
  /** The task's target ε. */
  readonly target: number
  readonly delta: number
}

export type BudgetDecision =
  | ({ readonly train: true } & BudgetFigures)
  | ({ readonly train: false; readonly reason: string } & BudgetFigures)

/**
 * Whether this participant may train `what` ("round 5", "another round"): yes while ε after it
 * stays at or below the task's target; no with the figures, which the participant says before it
 * leaves the run.
 */
export function budgetDecision(
  privacy: PrivacySettings,
  spent: readonly PrivacyEvent[],
  next: PrivacyEvent,
  what: string,
): BudgetDecision {
  const figures: BudgetFigures = {
    rounds: spent.length,
    spent: epsilonOf(spent, privacy.delta),
    after: epsilonOf([...spent, next], privacy.delta),
    target: privacy.epsilon,
    delta: privacy.delta,
  }
  if (figures.after <= figures.target) return { train: true, ...figures }
  const so = `${figures.rounds} round${figures.rounds === 1 ? '' : 's'} trained so far spent ε ${formatEpsilon(figures.spent)}`
  return {
    train: false,
    reason: `${what} would take this participant's privacy budget to ε ${formatEpsilon(figures.after)}, past the task's target ε ${formatEpsilon(figures.target)} (δ ${formatDelta(figures.delta)}); ${so}`,
    ...figures,
  }
}

/** "ε spent 1.23 of 3.00 (δ 1e-5)": what a participant prints after each round. */
export function spentLine(epsilon: number, privacy: PrivacySettings): string {
  return `ε spent ${formatEpsilon(epsilon)} of ${formatEpsilon(privacy.epsilon)} (δ ${formatDelta(privacy.delta)})`
}

/** δ in short: 1e-5, 2.78e-2 (three significant digits at most). */
export function formatDelta(delta: number): string {
  return Number(delta.toPrecision(3)).toExponential()
}

/**
 * Why example-level privacy means nothing at this participant, or null: a δ of 1/n or more allows
 * a mechanism that publishes one of its n examples outright, so the guarantee is void (the usual
 * rule: δ well below 1/n). The task's δ is public, n is this participant's own.
 */
export function localDeltaProblem(privacy: PrivacySettings, examples: number): string | null {
  if (privacy.unit !== 'example' || examples <= 0 || privacy.delta < 1 / examples) return null
  return `the task's δ = ${formatDelta(privacy.delta)} is not below 1/n = ${formatDelta(1 / examples)} for this participant's n = ${examples} training examples: a guarantee with δ ≥ 1/n allows publishing one example outright; the task needs a smaller δ (or this participant more examples)`
}

/** A kept round read back (a file line, an IndexedDB value): checked field by field. */
export function parseSpentRound(value: unknown, what = 'spent round'): SpentRound {
  const o = record(value, what)
  return {
    task: str(o, 'task', what),
    round: int(o, 'round', what, 0, 1_000_000),
    time: str(o, 'time', what),
    event: parsePrivacyEvent(o.event, `${what}.event`),
  }
}

const MAX_COUNT = 1e12

export function parsePrivacyEvent(value: unknown, what = 'privacy event'): PrivacyEvent {
  const o = record(value, what)
  const kind = oneOf(o, 'kind', what, ['subsampled-gaussian', 'distributed-discrete-gaussian'] as const)
  if (kind === 'subsampled-gaussian')
    return {
      kind,
      steps: int(o, 'steps', what, 0, MAX_COUNT),
      samplingRate: num(o, 'samplingRate', what, 0, 1),
      noiseMultiplier: num(o, 'noiseMultiplier', what, 0, 1e6),
    }
  if (o.l1Sensitivity !== undefined)
    throw new ProtocolError(
      'malformed',
      `${what}.l1Sensitivity: expected none (a participant keeps the L2 bound only), got ${describe(o.l1Sensitivity)}`,
    )
  return {
    kind,
    rounds: int(o, 'rounds', what, 0, MAX_COUNT),
    l2Sensitivity: num(o, 'l2Sensitivity', what, 1e-300, 1e300),
    sigmaSquared: num(o, 'sigmaSquared', what, 0, 1e300),
    participants: int(o, 'participants', what, 1, MAX_COUNT),
    dimension: int(o, 'dimension', what, 1, MAX_COUNT),
  }
}
