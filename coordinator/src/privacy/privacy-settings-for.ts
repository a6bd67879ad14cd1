import { dpSgdSteps } from '@fedtune/model'
import {
  describe,
  epsilonOf,
  type FixedPoint,
  fixedPointFor,
  formatEpsilon,
  type PrivacySettings,
  ProtocolError,
  type RingPlan,
  ringScale,
} from '@fedtune/protocol'
import type { TaskFile, TaskPrivacy } from '../tasks/task-file.ts'
import type { TaskFileProblem } from '../tasks/task-file-error.ts'
import type { RoundPrivacy } from './round-privacy.ts'
import { exampleNoise, participantVariance, type RoundMechanism, runAccountant } from './run-accountant.ts'

/** A private task as its run serves it: what participants are told, the sum's fixed point, the budget. */
export type PrivateRun = {
  /** TaskInfo.privacy: the noise multiplier filled in when the file leaves it out. */
  readonly settings: PrivacySettings
  /** The secure sum's fixed point; null in plaintext-debug. */
  readonly fixedPoint: FixedPoint | null
  /** What the round logic accounts each round with (round-privacy.ts). */
  readonly budget: RoundPrivacy
}

/** The largest wrap probability of the noisy 32-bit sum a task may run with (ring-fit.ts). */
export const RING_WRAP_BOUND = 1e-9

/** Rounds of "derive z, fit the ring at it": the scale only ever halves, from 2^40 to 2^-40 at most. */
const MAX_FITS = 100

type Private = Omit<TaskFile, 'privacy'> & { readonly privacy: TaskPrivacy }

/**
 * The task's privacy as its run serves it, or what makes it impossible, with the numbers. The head's
 * size (`paramCount`, known once the backbone is loaded) matters to unit "participant": the noise is
 * added to every coordinate and the ring must hold all of them.
 *
 * - unit "example": z is the file's, or the smallest with which every one of `training.rounds`
 *   rounds of localEpochs × round(1/q) DP-SGD steps at rate q stays within ε; the secure sum
 *   weighs every participant 1 (fixedPointFor with maxExamples 1 and aggregation.clipNorm).
 * - unit "participant": z is the file's, or the smallest with which `training.rounds` rounds of the
 *   distributed discrete Gaussian over `minParticipants` survivors stay within ε, the sensitivity
 *   being the conditional rounding's bound at the ring's scale (which itself depends on the noise:
 *   the two are fitted until the scale settles); the fixed point is the ring's (ring-fit.ts).
 *
 * Refused: a target ε that no z up to the accountant's largest meets; a z with which not even one
 * round fits ε; noise and clip that no scale fits into the 32-bit ring with wrap probability
 * ≤ 1e-9; a secure sum of maxExamples 1 whose fixed point does not fit.
 */
export function privacySettingsFor(
  task: Private,
  paramCount: number,
):
  | { readonly ok: true; readonly value: PrivateRun }
  | { readonly ok: false; readonly problems: readonly TaskFileProblem[] } {
  return task.privacy.unit === 'example' ? examplePrivacyFor(task) : participantRun(task, paramCount)
}

type Outcome = ReturnType<typeof privacySettingsFor>

function refused(path: string, expected: string, found: string): Outcome {
  return { ok: false, problems: [{ path, expected, found }] }
}

/**
 * {@link privacySettingsFor} of a task with unit "example", which needs no head size: DP-SGD's noise
 * is per example, its steps and z depend only on q, the rounds and the local epochs. What
 * `fedtune privacy plan --task` shows a hospital before any backbone is loaded.
 */
export function examplePrivacyFor(task: Private): Outcome {
  const p = task.privacy
  if (p.unit !== 'example')
    throw new Error(`examplePrivacyFor: expected a task with privacy unit "example", got "${p.unit}"`)
  const { rounds, localEpochs } = task.training
  const q = p.samplingRate
  const stepsPerRound = dpSgdSteps(localEpochs, q)
  const steps = rounds * stepsPerRound
  let z = p.noiseMultiplier
  if (z === null) {
    const found = exampleNoise({ epsilon: p.epsilon, delta: p.delta, samplingRate: q, steps })
    if (!found.ok)
      return refused(
        'privacy.epsilon',
        `an ε that ${rounds} rounds of ${stepsPerRound} DP-SGD steps at q = ${q} can meet with a noise multiplier up to ${found.maxNoiseMultiplier} (even that spends ε = ${formatEpsilon(found.epsilonAtMax)} at δ = ${p.delta}): a larger ε, fewer rounds or epochs, or a smaller samplingRate`,
        describe(p.epsilon),
      )
    z = found.value
  }
  let fixedPoint: FixedPoint | null = null
  const a = task.aggregation
  if (a.mode === 'secure')
    try {
      // every participant weighs 1: its DP-SGD update, clipped to the aggregation's bound
      fixedPoint = fixedPointFor({
        participants: task.participation.participantsPerRound,
        maxExamples: 1,
        clipNorm: a.clipNorm,
      })
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error
      return refused(
        'aggregation.clipNorm',
        'a clip norm whose sum over participantsPerRound updates of weight 1 fits 32 bits',
        error.message,
      )
    }
  const settings: PrivacySettings = {
    unit: 'example',
    epsilon: p.epsilon,
    delta: p.delta,
    clipNorm: p.clipNorm,
    noiseMultiplier: z,
    rounds,
    samplingRate: q,
    stepsPerRound,
  }
  const mechanism: RoundMechanism = {
    unit: 'example',
    samplingRate: q,
    noiseMultiplier: z,
    stepsPerRound,
  }
  return withBudget(
    settings,
    mechanism,
    fixedPoint,
    `${stepsPerRound} DP-SGD steps at q = ${q}`,
    p.noiseMultiplier === null,
  )
}

/**
 * What a submitted task's privacy can be refused for before any backbone is loaded, with the
 * numbers its run's start would give (POST /api/tasks; `privacySettingsFor` checks the rest then).
 * Unit "example": everything ({@link examplePrivacyFor}). Unit "participant": what holds whatever
 * the head's size, because the distributed discrete Gaussian spends at least what the continuous
 * Gaussian at the same z and sensitivity C does (its RDP adds the discretization's terms to
 * α/(2z²), and its sensitivity is the rounding's bound, at least C): a target ε that no z up to
 * the accountant's largest meets over the rounds, or a file's z with which one round of even the
 * continuous Gaussian spends more than ε. The ring's fit and the rounding's share need the size.
 */
export function privacyAtSubmit(
  task: Private,
): { readonly ok: true } | { readonly ok: false; readonly problems: readonly TaskFileProblem[] } {
  const p = task.privacy
  if (p.unit === 'example') return examplePrivacyFor(task)
  const { rounds } = task.training
  if (p.noiseMultiplier === null) {
    const first = exampleNoise({ epsilon: p.epsilon, delta: p.delta, samplingRate: 1, steps: rounds })
    return first.ok ? { ok: true } : impossible(task, first.maxNoiseMultiplier, first.epsilonAtMax)
  }
  const z = p.noiseMultiplier
  const least = epsilonOf(
    [{ kind: 'subsampled-gaussian', steps: 1, samplingRate: 1, noiseMultiplier: z }],
    p.delta,
  )
  if (least > p.epsilon)
    return refused(
      'privacy.noiseMultiplier',
      `a noise multiplier with which at least one round fits ε = ${p.epsilon} (one round at z = ${round4(z)} spends at least ε = ${formatEpsilon(least)} at δ = ${p.delta}, the continuous Gaussian's, whatever the head); leave it out to derive the smallest that fits every round`,
      describe(z),
    )
  return { ok: true }
}

function participantRun(task: Private, paramCount: number): Outcome {
  const p = task.privacy
  const { rounds } = task.training
  const { minParticipants, participantsPerRound } = task.participation
  const ring = (z: number): RingPlan | string => {
    try {
      return ringScale({
        participants: participantsPerRound,
        minParticipants,
        clip: p.clipNorm,
        noiseMultiplier: z,
        dimension: paramCount,
        target: RING_WRAP_BOUND,
      })
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error
      return error.message
    }
  }
  const unfit = (z: number, why: string) =>
    refused(
      p.noiseMultiplier === null ? 'privacy' : 'privacy.noiseMultiplier',
      `noise and a clip norm whose sum over participantsPerRound = ${participantsPerRound} participants' ${paramCount} coordinates fits the 32-bit ring with wrap probability ≤ ${RING_WRAP_BOUND}`,
      `clipNorm ${p.clipNorm}, noise multiplier ${round4(z)}${p.noiseMultiplier === null ? ' (derived from ε)' : ''}: ${why}`,
    )
  let z = p.noiseMultiplier
  let plan: RingPlan | string
  if (z !== null) plan = ring(z)
  else {
    // Start from the continuous Gaussian's z (sensitivity C); the rounding's bound only adds to it.
    const first = exampleNoise({ epsilon: p.epsilon, delta: p.delta, samplingRate: 1, steps: rounds })
    if (!first.ok) return impossible(task, first.maxNoiseMultiplier, first.epsilonAtMax)
    z = first.value
    plan = ring(z)
    for (let fit = 0; fit < MAX_FITS && typeof plan !== 'string'; fit++) {
      const found = participantVariance({
        epsilon: p.epsilon,
        delta: p.delta,
        rounds,
        participants: minParticipants,
        l2Sensitivity: plan.bound,
        dimension: paramCount,
      })
      if (!found.ok) return impossible(task, found.maxNoiseMultiplier, found.epsilonAtMax)
      // σ_i² = (z·C·s)²/m: the z that gives this variance at this scale
      const next = Math.sqrt(minParticipants * found.value) / (p.clipNorm * plan.scale)
      const settled = ring(next)
      z = next
      if (typeof settled !== 'string' && settled.scale === plan.scale) {
        plan = settled
        break
      }
      plan = settled
    }
  }
  if (typeof plan === 'string') return unfit(z, plan)
  const settings: PrivacySettings = {
    unit: 'participant',
    epsilon: p.epsilon,
    delta: p.delta,
    clipNorm: p.clipNorm,
    noiseMultiplier: z,
    rounds,
    minParticipants,
  }
  const mechanism: RoundMechanism = {
    unit: 'participant',
    sigmaSquared: plan.sigmaSquared,
    l2Sensitivity: plan.bound,
    dimension: paramCount,
    minParticipants,
  }
  const fixedPoint: FixedPoint = { clipNorm: p.clipNorm, scale: plan.scale, maxExamples: 1 }
  return withBudget(
    settings,
    mechanism,
    fixedPoint,
    `the distributed discrete Gaussian over ${minParticipants} survivors (scale 2^${Math.log2(plan.scale)}, sensitivity ${round4(plan.bound)})`,
    p.noiseMultiplier === null,
  )
}

/** The run, unless not even one round of it fits ε (a z the file set too low). */
function withBudget(
  settings: PrivacySettings,
  mechanism: RoundMechanism,
  fixedPoint: FixedPoint | null,
  round: string,
  derived: boolean,
): Outcome {
  const budget = runAccountant(settings, mechanism)
  const worst = new Array<number>(settings.rounds).fill(budget.worstSurvivors)
  const whole = budget.epsilonAfter(worst)
  // A derived z meets ε over every round by construction; this says so if it ever did not.
  if (derived && whole > settings.epsilon)
    return refused(
      'privacy',
      `a noise multiplier derived to keep ${settings.rounds} rounds within ε = ${settings.epsilon}`,
      `z = ${round4(settings.noiseMultiplier)}, which spends ε = ${formatEpsilon(whole)} over them (${round})`,
    )
  const first = budget.epsilonAfter([budget.worstSurvivors])
  if (first > settings.epsilon)
    return refused(
      'privacy.noiseMultiplier',
      `a noise multiplier with which at least one round fits ε = ${settings.epsilon} (one round of ${round} spends ε = ${formatEpsilon(first)} at δ = ${settings.delta}); leave it out to derive the smallest that fits every round`,
      describe(settings.noiseMultiplier),
    )
  return { ok: true, value: { settings, fixedPoint, budget } }
}

function impossible(task: Private, maxNoiseMultiplier: number, epsilonAtMax: number): Outcome {
  const p = task.privacy
  return refused(
    'privacy.epsilon',
    `an ε that ${task.training.rounds} rounds over ${task.participation.minParticipants} survivors can meet with a noise multiplier up to ${round4(maxNoiseMultiplier)} (even that spends ε = ${formatEpsilon(epsilonAtMax)} at δ = ${p.delta}): a larger ε or fewer rounds`,
    describe(p.epsilon),
  )
}

function round4(x: number): string {
  return Number(x.toPrecision(4)).toString()
}
