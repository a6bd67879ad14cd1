import {
  examplePrivacyFor,
  type PrivateRun,
  privacySettingsFor,
  RING_WRAP_BOUND,
  type TaskFile,
  TaskFileError,
  type TaskFileProblem,
  type TaskPrivacy,
} from '@fedtune/coordinator'
import { localDeltaProblem, participantNoise, ringOverflowProbability } from '@fedtune/protocol'

/*
 * `fedtune privacy plan --task`: what a private task's run will do to one participant's budget,
 * before it starts. Every figure comes from the code the run itself uses: the coordinator's
 * `privacySettingsFor` (z, steps, the ring's scale and its refusals), its accountant (ε after any
 * rounds), the protocol's participant noise and ring bound, and the hospital's δ check. Pure: the
 * command reads the task file and, for unit "participant", the backbone's embedding size.
 */

/** ε after the first `rounds` rounds: a point of the budget's path. */
export type PathPoint = {
  /** The share of the task's rounds this point stands for: 0.25, 0.5, 0.75 or 1. */
  readonly fraction: number
  readonly rounds: number
  readonly epsilon: number
}

type PlanBudget = {
  readonly task: string
  /** The target ε over the whole run. */
  readonly budget: number
  readonly delta: number
  /** C: one example's gradient clip (example) or one participant's update clip (participant). */
  readonly clipNorm: number
  /** The task's rounds. */
  readonly rounds: number
  /** z as the run uses it: the task's own, or the smallest meeting ε over every round. */
  readonly noiseMultiplier: number
  readonly noiseMultiplierFrom: 'task' | 'derived'
  /** ε at `delta` after all the task's rounds (unit "participant": with the fewest survivors each). */
  readonly epsilon: number
  /** The most rounds within the budget: the rest are never trained (a task's z can be too small for all). */
  readonly roundsWithinBudget: number
  readonly path: readonly PathPoint[]
  /** z·C: the noise standard deviation on each step's summed gradient, or on the sum of a round's survivors. */
  readonly noiseOnSum: number
}

export type ExamplePlan = PlanBudget & {
  readonly unit: 'example'
  readonly samplingRate: number
  readonly localEpochs: number
  /** localEpochs × round(1/q): the DP-SGD steps the hospital takes each round. */
  readonly stepsPerRound: number
  /** Every round's steps. */
  readonly steps: number
  /** n: the hospital's training examples. */
  readonly examples: number
  /** q·n: the divisor of each step's noisy sum. */
  readonly expectedBatch: number
  /** z·C/(q·n): the noise standard deviation on each step's mean gradient. */
  readonly noiseOnMean: number
}

export type ParticipantPlan = PlanBudget & {
  readonly unit: 'participant'
  /** The fewest survivors a round is aggregated with: the noise is shared out for them. */
  readonly minParticipants: number
  readonly participantsPerRound: number
  /** The head's parameters: the noise goes on each. */
  readonly paramCount: number
  /** ε of one round at `delta`, with the fewest survivors. */
  readonly epsilonPerRound: number
  /** √σ_i²/s: one participant's share of the noise, in the model's units. */
  readonly noiseShare: number
  /** σ_i²: what each participant adds to each coordinate, in the secure sum's grid units². */
  readonly sigmaSquared: number
  /** Δ₂ in grid units: the clipped, rounded update's bound, the accountant's sensitivity. */
  readonly l2Sensitivity: number
  /** The 32-bit ring's fit: its fixed-point scale, the chance a sum wraps, and the bound it meets. */
  readonly ring: { readonly scale: number; readonly wrapProbability: number; readonly bound: number }
}

export type PrivacyPlan = ExamplePlan | ParticipantPlan

export type PlanOutcome =
  | { readonly ok: true; readonly plan: PrivacyPlan }
  /** What the coordinator (or the hospital, for its δ) would refuse, with its numbers. */
  | { readonly ok: false; readonly reason: string }

type Private = Omit<TaskFile, 'privacy'> & { readonly privacy: TaskPrivacy }

/** The shares of the task's rounds the path shows. */
const FRACTIONS = [0.25, 0.5, 0.75, 1]

/**
 * Unit "example" at a hospital with `examples` training examples: the run's settings, what they
 * cost, and the hospital's own refusal of a δ ≥ 1/n (the client's `localDeltaProblem`).
 */
export function examplePlan(task: Private, examples: number): PlanOutcome {
  const found = examplePrivacyFor(task)
  if (!found.ok) return refusedByCoordinator(task, found.problems)
  const { settings } = found.value
  if (settings.unit !== 'example') throw new Error('examplePlan: expected the example unit’s settings')
  const problem = localDeltaProblem(settings, examples)
  if (problem !== null)
    return {
      ok: false,
      reason: `a hospital with ${examples} training examples refuses this task: ${problem}`,
    }
  const z = settings.noiseMultiplier
  const q = settings.samplingRate
  return {
    ok: true,
    plan: {
      unit: 'example',
      ...budgetOf(task, found.value),
      samplingRate: q,
      localEpochs: task.training.localEpochs,
      stepsPerRound: settings.stepsPerRound,
      steps: settings.stepsPerRound * settings.rounds,
      examples,
      expectedBatch: q * examples,
      noiseOnMean: (z * settings.clipNorm) / (q * examples),
    },
  }
}

/** Unit "participant" with a head of `paramCount` parameters: the noise shares, the ring, the cost. */
export function participantPlan(task: Private, paramCount: number): PlanOutcome {
  const found = privacySettingsFor(task, paramCount)
  if (!found.ok) return refusedByCoordinator(task, found.problems)
  const { settings, fixedPoint, budget } = found.value
  if (settings.unit !== 'participant' || fixedPoint === null)
    throw new Error('participantPlan: expected the participant unit’s settings and the ring’s fixed point')
  const { scale } = fixedPoint
  const { sigmaSquared, l2Sensitivity } = participantNoise(settings, scale, paramCount)
  const { participantsPerRound } = task.participation
  return {
    ok: true,
    plan: {
      unit: 'participant',
      ...budgetOf(task, found.value),
      minParticipants: settings.minParticipants,
      participantsPerRound,
      paramCount,
      epsilonPerRound: budget.epsilonAfter([budget.worstSurvivors]),
      noiseShare: Math.sqrt(sigmaSquared) / scale,
      sigmaSquared,
      l2Sensitivity,
      ring: {
        scale,
        wrapProbability: ringOverflowProbability({
          participants: participantsPerRound,
          clip: settings.clipNorm,
          scale,
          sigmaSquared,
          dimension: paramCount,
        }),
        bound: RING_WRAP_BOUND,
      },
    },
  }
}

/** The figures both units share, from the run's own accountant, every round in its worst case. */
function budgetOf(task: Private, run: PrivateRun): PlanBudget {
  const { settings, budget } = run
  const after = (rounds: number) => budget.epsilonAfter(new Array<number>(rounds).fill(budget.worstSurvivors))
  const points = new Map<number, PathPoint>()
  for (const fraction of FRACTIONS) {
    const rounds = Math.max(1, Math.ceil(settings.rounds * fraction))
    // the largest share that lands on a round names it: 2 rounds show 1 (50 %) and 2 (100 %)
    points.set(rounds, { fraction, rounds, epsilon: after(rounds) })
  }
  return {
    task: task.name,
    budget: settings.epsilon,
    delta: settings.delta,
    clipNorm: settings.clipNorm,
    rounds: settings.rounds,
    noiseMultiplier: settings.noiseMultiplier,
    noiseMultiplierFrom: task.privacy.noiseMultiplier === null ? 'derived' : 'task',
    epsilon: after(settings.rounds),
    roundsWithinBudget: roundsWithin(after, settings.rounds, settings.epsilon),
    path: [...points.values()],
    noiseOnSum: settings.noiseMultiplier * settings.clipNorm,
  }
}

/**
 * The most rounds, up to `rounds`, whose ε stays within `target`: ε grows with every round, so
 * bisection finds it. The run's settings already fit at least one round (privacySettingsFor refuses
 * a z that does not).
 */
function roundsWithin(after: (rounds: number) => number, rounds: number, target: number): number {
  if (after(rounds) <= target) return rounds
  let fits = 0
  let passes = rounds
  while (passes - fits > 1) {
    const mid = Math.floor((fits + passes) / 2)
    if (after(mid) <= target) fits = mid
    else passes = mid
  }
  return fits
}

/** The coordinator's refusal, in the words it prints when it refuses the task at start. */
function refusedByCoordinator(task: Private, problems: readonly TaskFileProblem[]): PlanOutcome {
  return { ok: false, reason: new TaskFileError(`task ${task.name}`, problems).message }
}
