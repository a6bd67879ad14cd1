import {
  type PrivateRun,
  privacySettingsFor,
  type RoundPrivacy,
  type TaskFile,
  type TaskPrivacy,
} from '@fedtune/coordinator'
import {
  type FixedPoint,
  formatEpsilon,
  type PrivacySettings,
  type RandomSource,
  seededSource,
} from '@fedtune/protocol'
import { CommandError } from '../command-io.ts'

/**
 * A private task as a simulation runs it: what every participant is told (`settings`, z filled in),
 * the secure sum's fixed point, and the coordinator's accountant. All three come from the
 * coordinator's own `privacySettingsFor`, so a simulation calibrates, clips and accounts exactly as a
 * deployed run would.
 */
export type SimulatedPrivacy = {
  readonly settings: PrivacySettings
  readonly fixedPoint: FixedPoint
  readonly budget: RoundPrivacy
}

/** What a private simulation spent: the coordinator's accountant over the rounds it ran. */
export type PrivacySpent = {
  readonly unit: PrivacySettings['unit']
  /** ε at `delta` after every round run (each released a head, whichever round is chosen). */
  readonly epsilon: number
  readonly delta: number
  readonly target: number
  /** z, as the task gave it or as derived from ε over the task's rounds. */
  readonly noiseMultiplier: number
  readonly clipNorm: number
  /** Rounds trained and accounted. */
  readonly rounds: number
  /** Why it stopped before the task's rounds: the budget (the coordinator's rule), patience, or null. */
  readonly stopped: 'privacy budget' | 'patience' | null
}

/**
 * The task's privacy as `fedtune simulate` runs it (the coordinator's `privacySettingsFor` on a task
 * whose head has `paramCount` parameters), or a CommandError with the coordinator's refusal.
 */
export function simulatedPrivacy(
  task: Omit<TaskFile, 'privacy'> & { readonly privacy: TaskPrivacy },
  paramCount: number,
): SimulatedPrivacy {
  const found = privacySettingsFor(task, paramCount)
  if (!found.ok)
    throw new CommandError(
      `the task's privacy is refused: ${found.problems.map((p) => `${p.path}: expected ${p.expected}, found ${p.found}`).join('; ')}`,
    )
  return withFixedPoint(found.value)
}

function withFixedPoint(run: PrivateRun): SimulatedPrivacy {
  // A simulation has no plaintext-debug mode under privacy: the sum is always the secure one.
  if (run.fixedPoint === null)
    throw new CommandError(
      'a private task needs aggregation.mode "secure" to be simulated: its noise and clipping live in the secure sum',
    )
  return { settings: run.settings, fixedPoint: run.fixedPoint, budget: run.budget }
}

/**
 * The noise source of hospital `site` in round `round` of a simulation seeded `seed`: ChaCha20 keyed
 * by the three numbers, so a simulation is reproducible and no two hospitals or rounds share noise.
 * Real participants draw from the platform's cryptographic source (cryptoRandom); a seeded source is
 * only for simulations, since anyone knowing the seed could subtract the noise.
 */
export function simulationSource(seed: number, site: number, round: number): RandomSource {
  const bytes = new Uint8Array(12)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, seed >>> 0, true)
  view.setUint32(4, site >>> 0, true)
  view.setUint32(8, round >>> 0, true)
  return seededSource(bytes)
}

/** "ε 2.87 of 3.00 (δ 1e-5) over 40 rounds": one line for a report. */
export function spentText(spent: PrivacySpent): string {
  return `ε ${formatEpsilon(spent.epsilon)} of ${formatEpsilon(spent.target)} (δ ${Number(spent.delta.toPrecision(3)).toExponential()}) over ${spent.rounds} round${spent.rounds === 1 ? '' : 's'}, z ${Number(spent.noiseMultiplier.toPrecision(4))}, C ${spent.clipNorm}${spent.stopped === 'privacy budget' ? ', stopped by the privacy budget' : ''}`
}
