import { describe, expect, it } from 'vitest'
import { runPrivacyCommand } from '../../cli/src/privacy-command.ts'
import { testIo } from './test-io.ts'

async function privacy(...args: string[]) {
  const t = testIo()
  const code = await runPrivacyCommand(args, t.io)
  return { code, stdout: t.stdout(), stderr: t.stderr() }
}

type EpsilonQuestion = { noise: string; sampling: string; steps: string; delta: string }
type PlanQuestion = { epsilon: string; delta: string; sampling: string; steps: string }

/** One `--<name> <value>` a figure, in the order given. */
const flags = (figures: Record<string, string>) =>
  Object.entries(figures).flatMap(([name, value]) => [`--${name}`, value])

/** `fedtune privacy epsilon` with these figures, then any more arguments (`--json`). */
const epsilon = (q: EpsilonQuestion, ...more: string[]) => privacy('epsilon', ...flags(q), ...more)

/** `fedtune privacy plan` with these figures, then any more arguments (`--json`). */
const plan = (q: PlanQuestion, ...more: string[]) => privacy('plan', ...flags(q), ...more)

describe('fedtune privacy epsilon', async () => {
  it('prints the ε that DP-SGD spends and the order that gives it', async () => {
    const r = await epsilon({ noise: '1', sampling: '0.01', steps: '1000', delta: '1e-5' })
    expect(r).toEqual({
      code: 0,
      stdout:
        'ε = 2.1014 at δ = 0.00001 (Rényi order 7.8)\n1000 steps at sampling rate 0.01, noise multiplier 1\n',
      stderr: '',
    })
  })

  it('reads δ in decimal or scientific notation alike, and gives the issue’s full-batch figures', async () => {
    const decimal = await epsilon({ noise: '5', sampling: '1', steps: '100', delta: '0.00001' })
    const scientific = await epsilon({ noise: '5', sampling: '1', steps: '100', delta: '1E-5' })
    expect(decimal.stdout).toBe(scientific.stdout)
    expect(decimal.stdout).toContain('ε = 10.726 at δ = 0.00001 (Rényi order 3.3)')
    const one = await epsilon({ noise: '4.530877117', sampling: '1', steps: '1', delta: '1e-6' })
    expect(one.stdout).toContain('ε = 1.0000 at δ = 0.000001 (Rényi order 22)\n1 step at sampling rate 1')
  })

  it('--json gives every figure as a number', async () => {
    const r = await epsilon({ noise: '1', sampling: '0.01', steps: '1000', delta: '1e-5' }, '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as Record<string, number>
    expect(out).toEqual({
      epsilon: expect.closeTo(2.101366525420273, 11),
      order: 7.8,
      delta: 1e-5,
      noiseMultiplier: 1,
      samplingRate: 0.01,
      steps: 1000,
    })
  })
})

describe('fedtune privacy plan', async () => {
  it('prints the smallest noise multiplier that keeps the steps within ε, rounded up', async () => {
    const r = await plan({ epsilon: '2', delta: '1e-5', sampling: '0.01', steps: '1000' })
    expect(r).toEqual({
      code: 0,
      stdout:
        'noise multiplier z = 1.02230 keeps ε ≤ 2 at δ = 0.00001\n' +
        '1000 steps at sampling rate 0.01: spends ε = 2.0000 (Rényi order 8.2)\n',
      stderr: '',
    })
    // The printed z, used as printed, still meets the budget.
    const check = await epsilon(
      { noise: '1.02230', sampling: '0.01', steps: '1000', delta: '1e-5' },
      '--json',
    )
    expect((JSON.parse(check.stdout) as { epsilon: number }).epsilon).toBeLessThanOrEqual(2)
  })

  it('says impossible with the figures, exit 1, when no noise up to 1000 is enough', async () => {
    const r = await plan({ epsilon: '0.001', delta: '1e-5', sampling: '0.01', steps: '1000' })
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      'fedtune privacy: impossible: even noise multiplier 1000 spends ε = 0.0035526 at δ = 0.00001 over 1000 steps ' +
        'at sampling rate 0.01, above the budget ε = 0.001. Allow a larger ε or δ, fewer steps or a lower sampling rate.\n',
    )
  })

  it('--json answers ok: false with the ε at the most noise allowed', async () => {
    const r = await plan({ epsilon: '0.001', delta: '1e-5', sampling: '0.01', steps: '1000' }, '--json')
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: false,
      reason: 'impossible',
      maxNoiseMultiplier: 1000,
      budget: 0.001,
    })
  })
})

describe('fedtune privacy refuses what it cannot account', async () => {
  it.each([
    [
      ['epsilon', '--noise', '1', '--sampling', '0.01', '--steps', '10', '--delta', '1'],
      '--delta: expected a number in (0, 1), got "1"',
    ],
    [
      ['epsilon', '--noise', '1', '--sampling', '0.01', '--steps', '10', '--delta', '0'],
      '--delta: expected a number in (0, 1), got "0"',
    ],
    [
      ['epsilon', '--noise', '1', '--sampling', '0.01', '--steps', '10', '--delta=-1e-5'],
      '--delta: expected a number in (0, 1), got "-1e-5"',
    ],
    [
      ['epsilon', '--noise', '1', '--sampling', '1.5', '--steps', '10', '--delta', '1e-5'],
      '--sampling: expected a sampling rate in (0, 1], got "1.5"',
    ],
    [
      ['epsilon', '--noise', '1', '--sampling', '0', '--steps', '10', '--delta', '1e-5'],
      '--sampling: expected a sampling rate in (0, 1], got "0"',
    ],
    [
      ['epsilon', '--noise', '0', '--sampling', '0.1', '--steps', '10', '--delta', '1e-5'],
      '--noise: expected a noise multiplier > 0, got "0"',
    ],
    [
      ['epsilon', '--noise', 'one', '--sampling', '0.1', '--steps', '10', '--delta', '1e-5'],
      '--noise: expected a noise multiplier > 0, got "one"',
    ],
    [
      ['epsilon', '--noise', '1', '--sampling', '0.1', '--steps', '2.5', '--delta', '1e-5'],
      '--steps: expected a positive whole number, got "2.5"',
    ],
    [['epsilon', '--noise', '1', '--sampling', '0.1', '--delta', '1e-5'], '--steps is required'],
    [
      ['plan', '--epsilon', '0', '--sampling', '0.1', '--steps', '10', '--delta', '1e-5'],
      '--epsilon: expected a budget ε > 0, got "0"',
    ],
    [
      ['plan', '--epsilon', '1e999', '--sampling', '0.1', '--steps', '10', '--delta', '1e-5'],
      '--epsilon: expected a budget ε > 0, got "1e999"',
    ],
    [
      ['plan', '--noise', '1', '--epsilon', '1', '--sampling', '0.1', '--steps', '10', '--delta', '1e-5'],
      '--noise belongs to epsilon, not plan',
    ],
    [
      ['epsilon', '--epsilon', '1', '--noise', '1', '--sampling', '0.1', '--steps', '10', '--delta', '1e-5'],
      '--epsilon belongs to plan, not epsilon',
    ],
    [['spend', '--noise', '1'], 'expected epsilon or plan, got "spend"'],
    [['epsilon', '--nois', '1'], "Unknown option '--nois'"],
  ])('%j → exit 2: %s, then the usage', async (args, message) => {
    const r = await privacy(...args)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`fedtune privacy: ${message}`)
    expect(r.stderr).toContain(
      'Usage: fedtune privacy epsilon --noise <z> --sampling <q> --steps <t> --delta <δ>',
    )
  })

  it('--help prints the usage and exits 0; nothing at all prints it and exits 2', async () => {
    const help = await privacy('--help')
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('fedtune privacy plan --epsilon <ε> --delta <δ> --sampling <q> --steps <t>')
    expect(help.stdout).toContain('[--parameters <n> | --embedding-dim <d>]')
    expect((await privacy('plan', '-h')).code).toBe(0)
    expect((await privacy()).code).toBe(2)
  })
})
