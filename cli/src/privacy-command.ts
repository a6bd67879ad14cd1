import { parseArgs } from 'node:util'
import { composeEvent, emptyRdpAccount, epsilonSpent, escapeText, noiseForEpsilon } from '@fedtune/protocol'
import { commandLine } from './api-command.ts'
import { CommandError, type CommandIo, processIo, usageAsked } from './command-io.ts'
import { positiveInteger, realNumber } from './numbers.ts'
import { epsilonText, noiseText } from './privacy-figures.ts'

const USAGE = `Usage: fedtune privacy epsilon --noise <z> --sampling <q> --steps <t> --delta <δ>
       fedtune privacy plan --epsilon <ε> --delta <δ> --sampling <q> --steps <t>
       fedtune privacy plan --task <task.json> [--examples <n>] [--cache <dir>]
                            [--parameters <n> | --embedding-dim <d>]

The privacy accountant for DP-SGD: every example joins a step's batch independently with chance q
(Poisson sampling), each gradient is clipped to norm C, and Gaussian noise of z·C is added to the
step's sum. "epsilon" prints the ε that t such steps spend at δ; "plan" prints the smallest noise
multiplier z that keeps them within ε. Rényi DP at 156 orders from 1.1 to 1024, converted to (ε, δ)
as Google's dp_accounting does (Canonne, Kamath & Steinke 2020, Prop. 12); see docs/privacy.md.

"plan --task" reads a task file's privacy section as the coordinator does and prints what its run
will use and spend: z (the task's, or the smallest meeting ε over its rounds), the noise, and ε
after 25, 50, 75 and 100 % of the rounds. Unit "example" is planned for one hospital: --examples
is its training example count n (the noise on the mean gradient is z·C/(q·n); δ must be below 1/n,
as the hospital client requires). Unit "participant" needs no n (--examples is refused); the noise
and the 32-bit ring depend on the head's size, so the task's backbone is loaded to learn it, as the
coordinator does at start, unless --parameters or --embedding-dim gives it. Refused with the
coordinator's numbers when no z up to 1000 meets ε.
A task without "privacy" gives no differential-privacy guarantee: exit status 2.

Options:
  --noise <z>        epsilon: the noise multiplier, noise standard deviation / clip norm, > 0
  --epsilon <ε>      plan: the budget the steps must stay within, > 0
  --sampling <q>     the chance each example joins a step's batch, in (0, 1]: batch size / examples
  --steps <t>        how many steps: every step of every round
  --delta <δ>        the δ of (ε, δ), in (0, 1); 1e-5 and 0.00001 both read
  --task <file>      plan: a task file; its privacy section replaces --epsilon --delta --sampling --steps
  --examples <n>     plan --task, unit "example": the hospital's training examples
  --cache <dir>      plan --task, unit "participant": where a backbone given by URL is downloaded
                     (default .fedtune/cache, as the coordinator's)
  --parameters <n>   plan --task, unit "participant": the head's parameter count (the coordinator
                     prints it at start), instead of loading the backbone
  --embedding-dim <d>  plan --task, unit "participant": the backbone's embedding size, from which
                     the task's head gives its parameter count, instead of loading the backbone
  --json             one JSON object instead of sentences
  -h, --help         this text
`

const OPTIONS = {
  noise: { type: 'string' },
  epsilon: { type: 'string' },
  sampling: { type: 'string' },
  steps: { type: 'string' },
  delta: { type: 'string' },
  task: { type: 'string' },
  examples: { type: 'string' },
  cache: { type: 'string' },
  parameters: { type: 'string' },
  'embedding-dim': { type: 'string' },
  json: { type: 'boolean' },
} as const

function parse(argv: string[]) {
  return parseArgs({ args: argv, strict: true, allowPositionals: true, options: OPTIONS })
}

type Values = ReturnType<typeof parse>['values']

/** A DP-SGD schedule: t steps at sampling rate q. */
type Schedule = { readonly samplingRate: number; readonly steps: number }

/** What `plan` answers from flags: the budget and the schedule it must cover (`--task` reads both from a task). */
type PlanQuestion = Schedule & { readonly epsilon: number; readonly delta: number }

/** `fedtune privacy epsilon|plan`: the DP-SGD accountant, offline. */
export async function runPrivacyCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  try {
    return await privacyCommand(argv, io)
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune privacy: ${error.message}\n${error.exitCode === 2 ? `\n${USAGE}` : ''}`)
    return error.exitCode
  }
}

async function privacyCommand(argv: string[], io: CommandIo): Promise<number> {
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
  if (action === 'epsilon') {
    for (const name of ['task', ...TASK_OPTIONS] as const)
      if (values[name] !== undefined)
        throw new CommandError(`--${name} belongs to plan --task, not epsilon`, 2)
    return epsilon(values, io)
  }
  if (values.task !== undefined) {
    for (const name of FLAG_OPTIONS)
      if (values[name] !== undefined)
        throw new CommandError(
          `--${name} does not go with --task: the task's privacy section and rounds give the budget and the schedule`,
          2,
        )
    return (await import('./privacy-task-plan.ts')).planFromTask(values.task, values, io)
  }
  for (const name of TASK_OPTIONS)
    if (values[name] !== undefined) throw new CommandError(`--${name} goes with --task <task.json>`, 2)
  return plan(planFromFlags(values), values.json === true, io)
}

/** The options of `plan --task` only. */
const TASK_OPTIONS = ['examples', 'cache', 'parameters', 'embedding-dim'] as const
/** The options of `plan` that state the budget and schedule, which `--task` reads from the task instead. */
const FLAG_OPTIONS = ['epsilon', 'delta', 'sampling', 'steps'] as const

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
    `ε = ${epsilonText(spent.epsilon)} at δ = ${delta} (Rényi order ${spent.order})\n` +
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
      `impossible: even noise multiplier ${found.maxNoiseMultiplier} spends ε = ${epsilonText(found.epsilonAtMax)} ` +
        `at δ = ${delta} over ${describeSchedule(schedule)}, above the budget ε = ${budget}. ` +
        'Allow a larger ε or δ, fewer steps or a lower sampling rate.',
    )
  io.stdout(
    `noise multiplier z = ${noiseText(found.noiseMultiplier)} keeps ε ≤ ${budget} at δ = ${delta}\n` +
      `${describeSchedule(schedule)}: spends ε = ${epsilonText(found.epsilon)} (Rényi order ${found.order})\n`,
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
