import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { int, num, oneOf, record } from '../fields.ts'

/**
 * The task's differential privacy, as every participant receives it before its first round
 * (`TaskInfo.privacy`) and enforces it. Two units of privacy:
 * - 'example' (a patient's image): each participant trains with DP-SGD, Poisson sampling at rate
 *   `samplingRate`, each example's gradient clipped to `clipNorm`, Gaussian noise of standard deviation
 *   `noiseMultiplier · clipNorm` on each step's sum, `stepsPerRound` steps a round.
 * - 'participant' (a whole hospital or volunteer): each participant clips its whole update to
 *   `clipNorm` and adds its share of discrete Gaussian noise in the secure sum's integer domain before
 *   masking, so that any `minParticipants` survivors together carry noise of standard deviation
 *   `noiseMultiplier · clipNorm`.
 * Either way ε is accounted against the target `epsilon` at `delta` over at most `rounds` rounds.
 */
export type PrivacySettings = ExamplePrivacy | ParticipantPrivacy

type PrivacyBudget = {
  /** The target ε over the whole run: no participant trains a round that would pass it. */
  readonly epsilon: number
  readonly delta: number
  /** C: the L2 clip of one example's gradient (example) or one participant's update (participant). */
  readonly clipNorm: number
  /** z: noise standard deviation over the clip norm. */
  readonly noiseMultiplier: number
  /** The task's rounds: the most any participant can be asked to train. */
  readonly rounds: number
}

export type ExamplePrivacy = PrivacyBudget & {
  readonly unit: 'example'
  /** q: each step includes each example independently with this probability (Poisson sampling). */
  readonly samplingRate: number
  /** DP-SGD steps in one round: localEpochs × round(1/q). */
  readonly stepsPerRound: number
}

export type ParticipantPrivacy = PrivacyBudget & {
  readonly unit: 'participant'
  /** The fewest survivors a round is aggregated with: each participant's share of the noise is for them. */
  readonly minParticipants: number
}

export const PRIVACY_UNITS = ['example', 'participant'] as const

/** The most rounds or steps a task can have (the task file's limits). */
const MAX_COUNT = 100_000_000

export function parsePrivacySettings(value: unknown, what = 'task.privacy'): PrivacySettings | null {
  if (value === null) return null
  const o = record(value, what)
  const unit = oneOf(o, 'unit', what, PRIVACY_UNITS)
  const budget: PrivacyBudget = {
    epsilon: num(o, 'epsilon', what, 1e-6, 1000),
    delta: num(o, 'delta', what, 1e-300, 0.5),
    clipNorm: num(o, 'clipNorm', what, 1e-9, 1e6),
    noiseMultiplier: num(o, 'noiseMultiplier', what, 1e-6, 1e6),
    rounds: int(o, 'rounds', what, 1, 1_000_000),
  }
  if (!(budget.delta > 0 && budget.delta < 1))
    throw new ProtocolError(
      'malformed',
      `${what}.delta: expected a number in (0, 1), got ${describe(budget.delta)}`,
    )
  if (unit === 'example')
    return {
      unit,
      ...budget,
      samplingRate: num(o, 'samplingRate', what, 1e-9, 1),
      stepsPerRound: int(o, 'stepsPerRound', what, 1, MAX_COUNT),
    }
  return { unit, ...budget, minParticipants: int(o, 'minParticipants', what, 2, 100_000) }
}

/** ε with two significant decimals, as every party prints it. */
export function formatEpsilon(epsilon: number): string {
  return epsilon < 10 ? epsilon.toFixed(2) : epsilon.toFixed(1)
}

/**
 * Two ε values printed so that a reader sees they differ: as `formatEpsilon` does, or with more
 * digits where that would print them alike (an ε just past a target, two accountants' figures).
 */
export function distinctEpsilons(a: number, b: number): [string, string] {
  for (const digits of [null, 4, 6, 10]) {
    const x = digits === null ? formatEpsilon(a) : a.toFixed(digits)
    const y = digits === null ? formatEpsilon(b) : b.toFixed(digits)
    if (x !== y) return [x, y]
  }
  return [String(a), String(b)]
}

/**
 * The privacy statement: what a participant is promised before it joins, in plain words. The
 * hospital client prints it before its first round, the volunteers' page shows it before the opt-in
 * and the console shows it with the run. Without `privacy` it says plainly that there is no
 * differential-privacy guarantee.
 */
export function privacyStatement(privacy: PrivacySettings | null): string[] {
  const secure =
    'Updates are securely aggregated: the coordinator learns only the sum of a round’s updates, never one participant’s.'
  if (privacy === null)
    return [
      'This task gives no differential-privacy guarantee.',
      secure,
      'But the sum is revealed exactly and the trained head is published: nothing bounds what they say about one patient, and a participant’s example and label counts can be recovered by comparing rounds.',
    ]
  const target = `ε = ${formatEpsilon(privacy.epsilon)}, δ = ${privacy.delta.toExponential(0)}`
  const noise = `C = ${privacy.clipNorm} with noise multiplier z = ${roundTo(privacy.noiseMultiplier)}`
  if (privacy.unit === 'example')
    return [
      `Differential privacy for each example (one patient’s image): (${target}) over at most ${privacy.rounds} rounds.`,
      `Each participant trains with DP-SGD: Poisson sampling at rate q = ${roundTo(privacy.samplingRate)}, ${privacy.stepsPerRound} steps a round, each example’s gradient clipped to ${noise}: Gaussian noise of standard deviation z·C on each step’s sum.`,
      'Each participant accounts its own ε (Rényi DP, converted to (ε, δ)) and refuses a round that would take it past the target.',
      `${secure} The updates carry no example or label counts.`,
      'What is published (the sum, the trained head) is covered by the same ε; one patient’s presence changes it by at most what the noise hides.',
    ]
  return [
    `Differential privacy for each participant (a whole hospital or volunteer): (${target}) over at most ${privacy.rounds} rounds.`,
    `Each participant clips its whole update to ${noise} and adds discrete Gaussian noise in the secure sum before masking, its share so that any ${privacy.minParticipants} survivors together carry noise of standard deviation z·C: the coordinator never sees a sum without it.`,
    'Each participant accounts its own ε (worst case: the fewest survivors) and refuses a round that would take it past the target; the coordinator ends the run before one could.',
    `${secure} The updates carry no example or label counts: every participant weighs the same.`,
    'What is published (the sum, the trained head) is covered by the same ε; whether one participant took part, and all its data with it, changes it by at most what the noise hides.',
  ]
}

function roundTo(x: number): string {
  return Number(x.toPrecision(4)).toString()
}
