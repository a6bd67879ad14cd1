import { dpSgdSteps, type LocalResult, secureContribution } from '@fedtune/model'
import {
  type BudgetDecision,
  budgetDecision,
  encodeRoundContribution,
  epsilonOf,
  type FixedPoint,
  type PrivacyEvent,
  type PrivacySettings,
  type RandomSource,
  roundPrivacyEvent,
  type SpentRound,
  type TaskInfo,
} from '@fedtune/protocol'
import { appendSpentRound, privacyLedgerFile, readPrivacyLedger } from './privacy-ledger.ts'

/**
 * This hospital's privacy budget for one task: its ledger (privacy-ledger.ts) and the decisions
 * made from it. Before a round: whether it fits the task's target. At a round's release: the round
 * kept first, then the masked vector, so that nothing goes out that the ledger does not hold.
 */
export type PrivacyBudget = {
  readonly task: TaskInfo
  readonly privacy: PrivacySettings
  readonly file: string
  readonly spent: readonly SpentRound[]
  /** ε of `spent` at the task's δ. */
  readonly epsilon: number
}

/** The budget of `task` (which has privacy) as the ledger in `cacheDir` holds it for `name`. */
export function openPrivacyBudget(
  task: TaskInfo,
  privacy: PrivacySettings,
  cacheDir: string,
  name: string,
): PrivacyBudget {
  const file = privacyLedgerFile(cacheDir, task.taskId, name)
  const spent = readPrivacyLedger(file)
  return { task, privacy, file, spent, epsilon: epsilonOf(events(spent), privacy.delta) }
}

/**
 * Whether a round of `epochs` local epochs at fixed-point scale `scale` fits (`what` names it:
 * "round 5"); null for the steps of the task's statement and no scale, which unit "participant"
 * cannot decide before a round comes.
 */
export function checkRound(
  budget: PrivacyBudget,
  round: { readonly epochs: number; readonly scale: number } | null,
  what: string,
): BudgetDecision | null {
  const { privacy, task } = budget
  if (round === null && privacy.unit !== 'example') return null
  const steps =
    privacy.unit !== 'example'
      ? 0
      : round === null
        ? privacy.stepsPerRound
        : dpSgdSteps(round.epochs, privacy.samplingRate)
  const next = roundPrivacyEvent(privacy, { steps, scale: round?.scale ?? 1, dimension: task.paramCount })
  return budgetDecision(privacy, events(budget.spent), next, what)
}

/**
 * Round `round`'s release: the round kept in the ledger (fsynced; this throws, and nothing is
 * encoded, when it cannot be), then the vector to mask, without counts and, for unit "participant",
 * noised from `random`. Returns it with the budget after the round.
 */
export function releaseRound(
  budget: PrivacyBudget,
  round: number,
  result: LocalResult,
  fixedPoint: FixedPoint,
  random: RandomSource,
  now: () => Date = () => new Date(),
): { readonly input: Uint32Array; readonly budget: PrivacyBudget } {
  const { task, privacy } = budget
  const event = roundPrivacyEvent(privacy, {
    steps: result.privateSteps ?? 0,
    scale: fixedPoint.scale,
    dimension: task.paramCount,
  })
  const kept: SpentRound = { task: task.taskId, round, time: now().toISOString(), event }
  appendSpentRound(budget.file, kept)
  const spent = [...budget.spent, kept]
  const after = { ...budget, spent, epsilon: epsilonOf(events(spent), privacy.delta) }
  const input = encodeRoundContribution(secureContribution(result), privacy, fixedPoint, () => random)
  return { input, budget: after }
}

function events(spent: readonly SpentRound[]): PrivacyEvent[] {
  return spent.map((s) => s.event)
}
