import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseTaskFile, privacySettingsFor } from '@fedtune/coordinator'
import { dpSgdSteps } from '@fedtune/model'
import {
  composeEvent,
  emptyRdpAccount,
  epsilonSpent,
  noiseForEpsilon,
  paramCount,
  participantNoise,
} from '@fedtune/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import { runPrivacyCommand } from '../../cli/src/privacy-command.ts'
import { realTaskJson } from '../harness.ts'
import { testIo } from './test-io.ts'

/**
 * Issue 16, item 3: `fedtune privacy plan --task <task.json>` gives the noise a task's run will use
 * for its target ε, the ε it spends and its path over the rounds, from the task file as the
 * coordinator reads it and, for unit "example", one hospital's example count.
 */

const dir = mkdtempSync(join(tmpdir(), 'fedtune-privacy-plan-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let written = 0
/** A task file in the temporary folder; its path. */
function taskFile(json: Record<string, unknown>): string {
  const path = join(dir, `task-${++written}.json`)
  writeFileSync(path, JSON.stringify(json))
  return path
}

/** A task on a backbone that unit "example" never loads: its plan needs no head size. */
function exampleTask(privacy: Record<string, unknown> | null, training: Record<string, unknown> = {}) {
  return taskFile({
    name: 'pneumonia',
    backbone: { source: './no-backbone-here', sha256: 'ab'.repeat(32) },
    head: { labels: ['normal', 'pneumonia'] },
    training: { rounds: 20, localEpochs: 2, ...training },
    participation: { minParticipants: 3, participantsPerRound: 5 },
    ...(privacy === null ? {} : { privacy }),
  })
}

async function privacy(...args: string[]) {
  const t = testIo()
  const code = await runPrivacyCommand(args, t.io)
  return { code, stdout: t.stdout(), stderr: t.stderr() }
}

/** ε of `steps` DP-SGD steps at (q, z), straight from the accountant. */
function accountantEpsilon(noiseMultiplier: number, samplingRate: number, steps: number, delta = 1e-5) {
  return epsilonSpent(
    composeEvent(emptyRdpAccount(), { kind: 'subsampled-gaussian', noiseMultiplier, samplingRate, steps }),
    delta,
  ).epsilon
}

type Plan = Record<string, unknown> & {
  noiseMultiplier: number
  epsilon: number
  path: { fraction: number; rounds: number; epsilon: number }[]
}

describe('fedtune privacy plan --task, unit "example"', () => {
  const file = exampleTask({ unit: 'example', epsilon: 3, samplingRate: 0.05 })

  it('derives z as the run does, and its ε is the accountant’s for the same z, q and steps', async () => {
    const r = await privacy('plan', '--task', file, '--examples', '5000', '--json')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const plan = JSON.parse(r.stdout) as Plan
    const stepsPerRound = dpSgdSteps(2, 0.05)
    expect(stepsPerRound).toBe(40)
    // the same z as the flags form's plan over every step of the 20 rounds
    const flags = noiseForEpsilon({ epsilon: 3, delta: 1e-5, samplingRate: 0.05, steps: 20 * stepsPerRound })
    if (!flags.ok) throw new Error('expected a noise multiplier')
    const z = flags.noiseMultiplier
    expect(plan).toEqual({
      ok: true,
      unit: 'example',
      task: 'pneumonia',
      budget: 3,
      delta: 1e-5,
      clipNorm: 1,
      rounds: 20,
      noiseMultiplier: z,
      noiseMultiplierFrom: 'derived',
      epsilon: expect.closeTo(accountantEpsilon(z, 0.05, 800), 12),
      roundsWithinBudget: 20,
      path: [5, 10, 15, 20].map((rounds, i) => ({
        fraction: (i + 1) / 4,
        rounds,
        epsilon: expect.closeTo(accountantEpsilon(z, 0.05, rounds * 40), 12),
      })),
      noiseOnSum: z,
      samplingRate: 0.05,
      localEpochs: 2,
      stepsPerRound: 40,
      steps: 800,
      examples: 5000,
      expectedBatch: 250,
      noiseOnMean: z / 250,
    })
    expect(plan.epsilon).toBeLessThanOrEqual(3)
    expect(plan.epsilon).toBeGreaterThan(2.99)
  })

  it('prints the schedule, the noise on the sum and the mean, and ε after each quarter of the rounds', async () => {
    const r = await privacy('plan', '--task', file, '--examples', '5000')
    expect(r.code).toBe(0)
    const json = JSON.parse(
      (await privacy('plan', '--task', file, '--examples', '5000', '--json')).stdout,
    ) as Plan
    const z = json.noiseMultiplier
    const lines = r.stdout.split('\n')
    expect(lines.slice(0, 6)).toEqual([
      'task "pneumonia": differential privacy for each example (unit "example"), target ε = 3 at δ = 0.00001',
      'DP-SGD at a hospital with n = 5000 training examples: clip norm C = 1 per example, sampling rate q = 0.05 (expected batch q·n = 250)',
      'steps: 2 local epochs × round(1/q) = 40 a round, × 20 rounds = 800 steps',
      `noise multiplier z = ${(Math.ceil(z * 1e5) / 1e5).toPrecision(6)}, derived: the smallest that keeps all 20 rounds within ε = 3`,
      `noise standard deviation: z·C = ${Number(z.toPrecision(4))} on each step's summed gradient; z·C/(q·n) = ${Number((z / 250).toPrecision(4))} on its mean gradient`,
      `800 steps spend ε = ${json.epsilon.toPrecision(5)} at δ = 0.00001`,
    ])
    expect(lines.slice(6)).toEqual([
      'ε along the run:',
      'after rounds  ε',
      ...json.path.map(
        (p) => `${`${p.rounds} (${p.fraction * 100} %)`.padEnd(12)}  ${p.epsilon.toPrecision(5)}`,
      ),
      '',
    ])
  })

  it('with the task’s own z too small for every round, says how many rounds the budget lasts', async () => {
    const small = exampleTask({ unit: 'example', epsilon: 3, samplingRate: 0.05, noiseMultiplier: 1.5 })
    const plan = JSON.parse(
      (await privacy('plan', '--task', small, '--examples', '5000', '--json')).stdout,
    ) as Plan & {
      roundsWithinBudget: number
    }
    expect(plan.noiseMultiplier).toBe(1.5)
    expect(plan.noiseMultiplierFrom).toBe('task')
    const k = plan.roundsWithinBudget
    expect(k).toBeGreaterThan(0)
    expect(k).toBeLessThan(20)
    // the largest number of rounds within ε, by the accountant directly
    expect(accountantEpsilon(1.5, 0.05, k * 40)).toBeLessThanOrEqual(3)
    expect(accountantEpsilon(1.5, 0.05, (k + 1) * 40)).toBeGreaterThan(3)
    const text = await privacy('plan', '--task', small, '--examples', '5000')
    expect(text.stdout).toContain(`noise multiplier z = 1.5, the task's\n`)
    expect(text.stdout).toContain(
      `the budget lasts ${k} of the 20 rounds: participants refuse, and the coordinator ends the run, before a round that would pass ε = 3\n`,
    )
    expect(text.stdout).toMatch(/20 \(100 %\) +\d+\.\d+ +past the target: not trained\n$/)
  })
})

describe('fedtune privacy plan --task refuses', () => {
  it('unit "example" without --examples: exit 2, saying what n is for', async () => {
    const file = exampleTask({ unit: 'example', epsilon: 3, samplingRate: 0.05 })
    const r = await privacy('plan', '--task', file)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(
      'fedtune privacy: task "pneumonia" protects each example (unit "example"): give --examples <n>, the hospital\'s training example count',
    )
    expect(r.stderr).toContain('Usage: fedtune privacy epsilon')
  })

  it('unit "example" refuses --parameters and --embedding-dim: its noise and ε do not depend on the head’s size', async () => {
    for (const flag of ['--parameters', '--embedding-dim']) {
      const r = await privacy('plan', '--task', file, '--examples', '5000', flag, '1280')
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(
        `fedtune privacy: ${flag} does not apply to task "pneumonia": it protects each example (unit "example"), whose noise and ε do not depend on the head's size\n`,
      )
    }
  })

  it('a δ not below 1/n for the hospital’s n, with the numbers, as the hospital client does: exit 1', async () => {
    const file = exampleTask({ unit: 'example', epsilon: 3, delta: 0.001, samplingRate: 0.05 })
    const r = await privacy('plan', '--task', file, '--examples', '2000')
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      "fedtune privacy: a hospital with 2000 training examples refuses this task: the task's δ = 1e-3 is not below 1/n = 5e-4 for this participant's n = 2000 training examples: a guarantee with δ ≥ 1/n allows publishing one example outright; the task needs a smaller δ (or this participant more examples)\n",
    )
    // δ = 1/n is refused too; one example fewer, and the plan is given
    expect((await privacy('plan', '--task', file, '--examples', '1000')).code).toBe(1)
    expect((await privacy('plan', '--task', file, '--examples', '999')).code).toBe(0)
  })

  it('a task’s own z with which not even one round fits ε, as the coordinator refuses it: exit 1', async () => {
    const file = exampleTask({ unit: 'example', epsilon: 3, samplingRate: 0.05, noiseMultiplier: 0.9 })
    const r = await privacy('plan', '--task', file, '--examples', '5000')
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'fedtune privacy: task pneumonia: privacy.noiseMultiplier: expected a noise multiplier with which at least one round fits ε = 3 (one round of 40 DP-SGD steps at q = 0.05 spends ε = 3.77 at δ = 0.00001); leave it out to derive the smallest that fits every round, got number 0.9\n',
    )
  })

  it('a task without privacy: no guarantee, exit 2, in text and JSON', async () => {
    const file = exampleTask(null)
    const r = await privacy('plan', '--task', file, '--examples', '5000')
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      'fedtune privacy: task "pneumonia" has no "privacy" section: it gives no differential-privacy guarantee, so there is no noise to plan (docs/privacy.md says how to add one)\n',
    )
    const json = await privacy('plan', '--task', file, '--json')
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      reason: expect.stringContaining('it gives no differential-privacy guarantee'),
    })
  })

  it('a target ε no z up to 1000 meets, with the coordinator’s numbers: exit 1', async () => {
    const file = exampleTask(
      { unit: 'example', epsilon: 0.001, samplingRate: 0.01 },
      { rounds: 10, localEpochs: 1 },
    )
    const r = await privacy('plan', '--task', file, '--examples', '5000')
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    // the coordinator's own refusal of the task at start
    const parsed = parseTaskFile(
      {
        name: 'pneumonia',
        backbone: { source: './no-backbone-here', sha256: 'ab'.repeat(32) },
        head: { labels: ['normal', 'pneumonia'] },
        training: { rounds: 10, localEpochs: 1 },
        participation: { minParticipants: 3, participantsPerRound: 5 },
        privacy: { unit: 'example', epsilon: 0.001, samplingRate: 0.01 },
      },
      dir,
    )
    if (parsed.privacy === null) throw new Error('expected a private task')
    const refused = privacySettingsFor({ ...parsed, privacy: parsed.privacy }, 1)
    if (refused.ok) throw new Error('expected the coordinator to refuse the task')
    const [problem] = refused.problems
    expect(r.stderr).toBe(
      `fedtune privacy: task pneumonia: privacy.epsilon: expected ${problem?.expected}, got ${problem?.found}\n`,
    )
    expect(r.stderr).toContain('10 rounds of 100 DP-SGD steps at q = 0.01')
    expect(r.stderr).toContain('a noise multiplier up to 1000')
    const json = await privacy('plan', '--task', file, '--examples', '5000', '--json')
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      reason: r.stderr.slice('fedtune privacy: '.length, -1),
    })
  })

  it('a task file the coordinator refuses, with its problems: exit 1', async () => {
    const file = taskFile({ name: 'pneumonia', head: { labels: ['a', 'b'] }, training: { rounds: 0 } })
    const r = await privacy('plan', '--task', file, '--examples', '5000')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^fedtune privacy: .*task-\d+\.json: \d+ problems\n/)
    expect(r.stderr).toContain('backbone')
  })

  const file = exampleTask({ unit: 'example', epsilon: 3, samplingRate: 0.05 })
  it.each([
    [['plan', '--task', file, '--examples', '5000', '--steps', '800'], '--steps does not go with --task'],
    [['plan', '--task', file, '--epsilon', '3'], '--epsilon does not go with --task'],
    [['plan', '--task', file, '--delta', '1e-5'], '--delta does not go with --task'],
    [['plan', '--task', file, '--sampling', '0.1'], '--sampling does not go with --task'],
    [['plan', '--task', file, '--examples', '0'], '--examples: expected a positive whole number, got "0"'],
    [
      ['plan', '--task', file, '--examples', '5e3'],
      '--examples: expected a positive whole number, got "5e3"',
    ],
    [
      ['plan', '--epsilon', '3', '--delta', '1e-5', '--sampling', '0.1', '--steps', '10', '--examples', '50'],
      '--examples goes with --task <task.json>',
    ],
    [['epsilon', '--task', file], '--task belongs to plan --task, not epsilon'],
  ])('%j → exit 2: %s, then the usage', async (args, message) => {
    const r = await privacy(...args)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`fedtune privacy: ${message}`)
    expect(r.stderr).toContain('fedtune privacy plan --task <task.json> [--examples <n>]')
  })
})

describe('fedtune privacy plan --task, unit "participant"', () => {
  const participantTask = async (more: Record<string, unknown> = {}) => {
    const json = await realTaskJson('hospitals', {
      training: { rounds: 20 },
      participation: { minParticipants: 3, participantsPerRound: 5 },
      privacy: { unit: 'participant', epsilon: 8, clipNorm: 0.5, ...more },
    })
    return { json, file: taskFile(json) }
  }

  it('loads the backbone for the head’s size and gives the coordinator’s z, noise shares, ring fit and ε path', async () => {
    const { json, file } = await participantTask()
    const r = await privacy('plan', '--task', file, '--json')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const plan = JSON.parse(r.stdout) as Plan & {
      epsilonPerRound: number
      noiseShare: number
      ring: { scale: number; wrapProbability: number; bound: number }
    }
    // what the coordinator serves at start: the head on the backbone's 1280-d embedding
    const parsed = parseTaskFile(json, dir)
    if (parsed.privacy === null) throw new Error('expected a private task')
    const params = paramCount({ layers: parsed.head.layers, labels: parsed.head.labels }, 1280)
    const served = privacySettingsFor({ ...parsed, privacy: parsed.privacy }, params)
    if (!served.ok || served.value.settings.unit !== 'participant' || served.value.fixedPoint === null)
      throw new Error('expected the coordinator to serve the task')
    const { settings, fixedPoint, budget } = served.value
    const share = participantNoise(settings, fixedPoint.scale, params)
    const worst = (rounds: number) => budget.epsilonAfter(new Array<number>(rounds).fill(3))
    expect(plan).toEqual({
      ok: true,
      unit: 'participant',
      task: 'hospitals',
      budget: 8,
      delta: 1e-5,
      clipNorm: 0.5,
      rounds: 20,
      noiseMultiplier: settings.noiseMultiplier,
      noiseMultiplierFrom: 'derived',
      epsilon: worst(20),
      roundsWithinBudget: 20,
      path: [5, 10, 15, 20].map((rounds, i) => ({ fraction: (i + 1) / 4, rounds, epsilon: worst(rounds) })),
      noiseOnSum: settings.noiseMultiplier * 0.5,
      minParticipants: 3,
      participantsPerRound: 5,
      paramCount: params,
      epsilonPerRound: worst(1),
      noiseShare: Math.sqrt(share.sigmaSquared) / fixedPoint.scale,
      sigmaSquared: share.sigmaSquared,
      l2Sensitivity: share.l2Sensitivity,
      ring: { scale: fixedPoint.scale, wrapProbability: expect.any(Number), bound: 1e-9 },
    })
    expect(plan.epsilon).toBeLessThanOrEqual(8)
    expect(plan.ring.wrapProbability).toBeLessThanOrEqual(1e-9)
    // any 3 survivors' shares carry the whole noise z·C
    expect(plan.noiseShare * Math.sqrt(3)).toBeCloseTo(plan.noiseMultiplier * 0.5, 6)

    const text = await privacy('plan', '--task', file)
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(
      `each participant clips its whole update to C = 0.5; rounds: 20, each aggregated with at least minParticipants = 3 of up to 5 participants; head of ${params} parameters\n`,
    )
    expect(text.stdout).toMatch(
      new RegExp(
        `ring fit: the sum of 5 participants' ${params} words at scale 2\\^${Math.log2(fixedPoint.scale)} wraps the 32-bit ring with probability ≤ \\S+ \\(the bound is 1e-9\\): fits\n`,
      ),
    )
    expect(text.stdout).toContain(
      `ε per round = ${worst(1).toPrecision(5)} with 3 survivors (the worst case)`,
    )
  })

  it('refuses --examples: a participant’s example count changes neither the noise nor ε', async () => {
    const { file } = await participantTask()
    const r = await privacy('plan', '--task', file, '--examples', '5000')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      'fedtune privacy: --examples does not apply to task "hospitals": it protects each participant (unit "participant"), whose example count changes neither the noise nor ε',
    )
  })

  /** The same task on a backbone that is not there. */
  const withoutBackbone = () =>
    taskFile({
      name: 'hospitals',
      backbone: { source: './no-backbone-here', sha256: 'ab'.repeat(32) },
      head: { labels: ['a', 'b'] },
      training: { rounds: 20 },
      participation: { minParticipants: 3, participantsPerRound: 5 },
      privacy: { unit: 'participant', epsilon: 8, clipNorm: 0.5 },
    })

  it('a backbone that is not there: exit 1, saying the head’s size needs it and which options give it instead', async () => {
    const r = await privacy('plan', '--task', withoutBackbone())
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      "fedtune privacy: the head's size depends on the backbone's embedding, and the task's backbone",
    )
    expect(r.stderr).toContain(
      "; without it, give --parameters <n> (the head's parameter count, which the coordinator prints at start) or --embedding-dim <d> (the backbone's embedding size)\n",
    )
  })

  it('--parameters or --embedding-dim gives the head’s size without the backbone: the plan the loaded backbone gives', async () => {
    const file = withoutBackbone()
    const params = paramCount({ layers: [], labels: ['a', 'b'] }, 1280)
    const byDim = await privacy('plan', '--task', file, '--embedding-dim', '1280', '--json')
    expect(byDim.stderr).toBe('')
    expect(byDim.code).toBe(0)
    const byParameters = await privacy('plan', '--task', file, '--parameters', String(params), '--json')
    expect(byParameters.code).toBe(0)
    const loaded = await privacy('plan', '--task', (await participantTask()).file, '--json')
    expect(loaded.code).toBe(0)
    expect(JSON.parse(byDim.stdout)).toMatchObject({ ok: true, paramCount: params })
    expect(JSON.parse(byDim.stdout)).toEqual(JSON.parse(loaded.stdout))
    expect(JSON.parse(byParameters.stdout)).toEqual(JSON.parse(loaded.stdout))
    // the head's size sets the ring's fit: a larger head, another plan
    const larger = await privacy('plan', '--task', file, '--parameters', String(params * 1000), '--json')
    expect(JSON.parse(larger.stdout)).toMatchObject({ paramCount: params * 1000 })
  })

  it('the head’s size given twice, or as no positive whole number, or with --cache: exit 2, saying why', async () => {
    const file = withoutBackbone()
    const both = await privacy('plan', '--task', file, '--parameters', '2562', '--embedding-dim', '1280')
    expect(both.code).toBe(2)
    expect(both.stderr).toContain(
      "fedtune privacy: --parameters and --embedding-dim both give the head's size: give one of them\n",
    )
    const zero = await privacy('plan', '--task', file, '--embedding-dim', '0')
    expect(zero.code).toBe(2)
    expect(zero.stderr).toContain('--embedding-dim')
    const cache = await privacy('plan', '--task', file, '--parameters', '2562', '--cache', dir)
    expect(cache.code).toBe(2)
    expect(cache.stderr).toContain(
      'fedtune privacy: --cache goes with loading the backbone, which --parameters replaces\n',
    )
  })
})
