import { parseArgs } from 'node:util'
import { composeEvent, emptyRdpAccount, epsilonSpent, escapeText, noiseForEpsilon } from '@fedtune/protocol'
import { commandLine } from './api-command.ts'
import { CommandError, type CommandIo, processIo, usageAsked } from './command-io.ts'
import { positiveInteger, realNumber } from './numbers.ts'

const USAGE = `Usage: fedtune privacy epsilon --noise <z> --sampling <q> --steps <t> --delta <δ>
       fedtune privacy plan --epsilon <ε> --delta <δ> --sampling <q> --steps <t>

The privacy accountant for DP-SGD: every example joins a step's batch independently with chance q
(Poisson sampling), each gradient is clipped to norm C, and Gaussian noise of z·C is added to the
step's sum. "epsilon" prints the ε that t such steps spend at δ; "plan" prints the smallest noise
multiplier z that keeps them within ε. Rényi DP at 156 orders from 1.1 to 1024, converted to (ε, δ)
as Google's dp_accounting does (Canonne, Kamath & Steinke 2020, Prop. 12); see docs/privacy.md.

Options:
  --noise <z>        epsilon: the noise multiplier, noise standard deviation / clip norm, > 0
  --epsilon <ε>      plan: the budget the steps must stay within, > 0
  --sampling <q>     the chance each example joins a step's batch, in (0, 1]: batch size / examples
  --steps <t>        how many steps: every step of every round
  --delta <δ>        the δ of (ε, δ), in (0, 1); 1e-5 and 0.00001 both read
  --json             one JSON object instead of sentences
  -h, --help         this text
`

const OPTIONS = {
  noise: { type: 'string' },
  epsilon: { type: 'string' },
  sampling: { type: 'string' },
  steps: { type: 'string' },
  delta: { type: 'string' },
  json: { type: 'boolean' },
} as const

function parse(argv: string[]) {
  return parseArgs({ args: argv, strict: true, allowPositionals: true, options: OPTIONS })
}

type Values = ReturnType<typeof parse>['values']

/** A DP-SGD schedule: t steps at sampling rate q. */
type Schedule = { readonly samplingRate: number; readonly steps: number }

/**
 * What `plan` answers: the budget and the schedule it must cover. Today the command line states both;
 * a task file's privacy section with a hospital's example count (q = batch / n) will be a second
 * source of the same question.
 */
type PlanQuestion = Schedule & { readonly epsilon: number; readonly delta: number }

/** `fedtune privacy epsilon|plan`: the DP-SGD accountant, offline. */
export function runPrivacyCommand(argv: string[], io: CommandIo = processIo()): number {
  try {
    return privacyCommand(argv, io)
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune privacy: ${error.message}\n${error.exitCode === 2 ? `\n${USAGE}` : ''}`)
    return error.exitCode
  }
}

function privacyCommand(argv: string[], io: CommandIo): number {
  const usage = usageAsked(argv, USAGE, io)
  if (usage !== null) return usage
  const { values, positionals } = commandLine(() => parse(argv))
  const [action, ...extra] = positionals
  if (action !== 'epsilon' && action !== 'plan')
    throw new CommandError(`expected epsilon or plan, got "${escapeText(action ?? '', 40)}"`, 2)
  if (extra.length > 0) throw new CommandError(`unexpected arguments: ${escapeText(extra.join(' '), 80)}`, 2)
  const misplaced = action === 'epsilon' ? 'epsilon' : 'noise'
  if (values[misplaced] !== undefined)
    throw new CommandError(
      `--${misplaced} belongs to ${action === 'epsilon' ? 'plan' : 'epsilon'}, not ${action}`,
      2,
    )
  return action === 'epsilon' ? epsilon(values, io) : plan(planFromFlags(values), values.json === true, io)
}

function epsilon(values: Values, io: CommandIo): number {
  const noiseMultiplier = realNumber(
    '--noise',
    required(values, 'noise'),
    'a noise multiplier > 0',
    (z) => z > 0,
  )
  const schedule = scheduleFromFlags(values)
  const delta = deltaFromFlags(values)
  const account = composeEvent(emptyRdpAccount(), {
    kind: 'subsampled-gaussian',
    noiseMultiplier,
    ...schedule,
  })
  const spent = epsilonSpent(account, delta)
  if (values.json) {
    io.stdout(`${JSON.stringify({ ...spent, delta, noiseMultiplier, ...schedule })}\n`)
    return 0
  }
  io.stdout(
    `ε = ${formatEpsilon(spent.epsilon)} at δ = ${delta} (Rényi order ${spent.order})\n` +
      `${describeSchedule(schedule)}, noise multiplier ${noiseMultiplier}\n`,
  )
  return 0
}

function plan(question: PlanQuestion, json: boolean, io: CommandIo): number {
  const { epsilon: budget, delta, ...schedule } = question
  const found = noiseForEpsilon(question)
  if (json) {
    io.stdout(`${JSON.stringify({ ...found, budget, delta, ...schedule })}\n`)
    return found.ok ? 0 : 1
  }
  if (!found.ok)
    throw new CommandError(
      `impossible: even noise multiplier ${found.maxNoiseMultiplier} spends ε = ${formatEpsilon(found.epsilonAtMax)} ` +
        `at δ = ${delta} over ${describeSchedule(schedule)}, above the budget ε = ${budget}. ` +
        'Allow a larger ε or δ, fewer steps or a lower sampling rate.',
    )
  io.stdout(
    `noise multiplier z = ${formatNoise(found.noiseMultiplier)} keeps ε ≤ ${budget} at δ = ${delta}\n` +
      `${describeSchedule(schedule)}: spends ε = ${formatEpsilon(found.epsilon)} (Rényi order ${found.order})\n`,
  )
  return 0
}

function planFromFlags(values: Values): PlanQuestion {
  const epsilon = realNumber('--epsilon', required(values, 'epsilon'), 'a budget ε > 0', (e) => e > 0)
  return { epsilon, delta: deltaFromFlags(values), ...scheduleFromFlags(values) }
}

function scheduleFromFlags(values: Values): Schedule {
  return {
    samplingRate: realNumber(
      '--sampling',
      required(values, 'sampling'),
      'a sampling rate in (0, 1]',
      (q) => q > 0 && q <= 1,
    ),
    steps: positiveInteger('--steps', required(values, 'steps')),
  }
}

function deltaFromFlags(values: Values): number {
  return realNumber('--delta', required(values, 'delta'), 'a number in (0, 1)', (d) => d > 0 && d < 1)
}

function required(values: Values, name: 'noise' | 'epsilon' | 'sampling' | 'steps' | 'delta'): string {
  const value = values[name]
  if (value === undefined) throw new CommandError(`--${name} is required`, 2)
  return value
}

function describeSchedule({ samplingRate, steps }: Schedule): string {
  return `${steps} step${steps === 1 ? '' : 's'} at sampling rate ${samplingRate}`
}

/** ε to five significant digits (2.1014, 10.726, 1.0000): enough to compare with a published figure. */
function formatEpsilon(epsilon: number): string {
  return Number.isFinite(epsilon) ? epsilon.toPrecision(5) : '∞'
}

/**
 * z to six significant digits, rounded up: printed noise a user copies must still meet the budget, and
 * the accountant's z meets it with at most 1e-6 to spare.
 */
function formatNoise(z: number): string {
  const scale = 10 ** (5 - Math.floor(Math.log10(z)))
  return (Math.ceil(z * scale) / scale).toPrecision(6)
}
