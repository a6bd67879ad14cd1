import { escapeText } from '@fedtune/protocol'
import { epsilonText, figureText, noiseText } from './privacy-figures.ts'
import type { ExamplePlan, ParticipantPlan, PrivacyPlan } from './privacy-plan.ts'
import { textTable } from './text-table.ts'

/** `fedtune privacy plan --task` for a terminal: the settings, the noise, ε along the run. */
export function planText(plan: PrivacyPlan): string {
  const lines = plan.unit === 'example' ? exampleLines(plan) : participantLines(plan)
  return `${[...lines, ...budgetLines(plan)].join('\n')}\n${pathTable(plan)}`
}

function exampleLines(p: ExamplePlan): string[] {
  return [
    `task "${escapeText(p.task, 80)}": differential privacy for each example (unit "example"), target ε = ${p.budget} at δ = ${p.delta}`,
    `DP-SGD at a hospital with n = ${p.examples} training examples: clip norm C = ${p.clipNorm} per example, sampling rate q = ${p.samplingRate} (expected batch q·n = ${figureText(p.expectedBatch)})`,
    `steps: ${p.localEpochs} local epoch${p.localEpochs === 1 ? '' : 's'} × round(1/q) = ${p.stepsPerRound} a round, × ${p.rounds} round${p.rounds === 1 ? '' : 's'} = ${p.steps} steps`,
    noiseLine(p),
    `noise standard deviation: z·C = ${figureText(p.noiseOnSum)} on each step's summed gradient; z·C/(q·n) = ${figureText(p.noiseOnMean)} on its mean gradient`,
    `${p.steps} steps spend ε = ${epsilonText(p.epsilon)} at δ = ${p.delta}`,
  ]
}

function participantLines(p: ParticipantPlan): string[] {
  const ring = p.ring
  return [
    `task "${escapeText(p.task, 80)}": differential privacy for each participant (unit "participant"), target ε = ${p.budget} at δ = ${p.delta}`,
    `each participant clips its whole update to C = ${p.clipNorm}; rounds: ${p.rounds}, each aggregated with at least minParticipants = ${p.minParticipants} of up to ${p.participantsPerRound} participants; head of ${p.paramCount} parameters`,
    noiseLine(p),
    `noise standard deviation: z·C = ${figureText(p.noiseOnSum)} on the sum of any ${p.minParticipants} survivors; each participant's share ${figureText(p.noiseShare)} (σ_i² = ${figureText(p.sigmaSquared)} grid units² at scale 2^${Math.log2(ring.scale)})`,
    `ring fit: the sum of ${p.participantsPerRound} participants' ${p.paramCount} words at scale 2^${Math.log2(ring.scale)} wraps the 32-bit ring with probability ≤ ${ring.wrapProbability.toExponential(2)} (the bound is ${ring.bound}): fits`,
    `ε per round = ${epsilonText(p.epsilonPerRound)} with ${p.minParticipants} survivors (the worst case); ${p.rounds} round${p.rounds === 1 ? '' : 's'} spend ε = ${epsilonText(p.epsilon)} at δ = ${p.delta}`,
  ]
}

function noiseLine(p: PrivacyPlan): string {
  return p.noiseMultiplierFrom === 'task'
    ? `noise multiplier z = ${p.noiseMultiplier}, the task's`
    : `noise multiplier z = ${noiseText(p.noiseMultiplier)}, derived: the smallest that keeps all ${p.rounds} rounds within ε = ${p.budget}`
}

function budgetLines(p: PrivacyPlan): string[] {
  if (p.roundsWithinBudget === p.rounds) return []
  return [
    `the budget lasts ${p.roundsWithinBudget} of the ${p.rounds} rounds: participants refuse, and the coordinator ends the run, before a round that would pass ε = ${p.budget}`,
  ]
}

function pathTable(p: PrivacyPlan): string {
  const rows = p.path.map((point) => [
    `${point.rounds} (${point.fraction * 100} %)`,
    epsilonText(point.epsilon),
    point.epsilon <= p.budget ? '' : 'past the target: not trained',
  ])
  return `ε along the run:\n${textTable(['after rounds', 'ε', ''], rows)}`
}
