import { resolve } from 'node:path'
import { readTaskFile, type TaskFile, TaskFileError } from '@fedtune/coordinator'
import { initBackend, loadTaskBackbone } from '@fedtune/model/node'
import { escapeText, paramCount } from '@fedtune/protocol'
import { CommandError, type CommandIo } from './command-io.ts'
import { positiveInteger } from './numbers.ts'
import { examplePlan, type PlanOutcome, participantPlan } from './privacy-plan.ts'
import { planText } from './privacy-plan-text.ts'

/**
 * `fedtune privacy plan --task <file>`: the shell around privacy-plan.ts. It reads the task file
 * with the coordinator's reader (its refusals stand), and for unit "participant" learns the head's
 * size from --parameters, from --embedding-dim, or by loading the task's backbone, digest checked,
 * as the coordinator does at start.
 */
export async function planFromTask(
  file: string,
  values: {
    readonly examples?: string | undefined
    readonly cache?: string | undefined
    readonly parameters?: string | undefined
    readonly 'embedding-dim'?: string | undefined
    readonly json?: boolean | undefined
  },
  io: CommandIo,
): Promise<number> {
  const json = values.json === true
  const task = await readTask(file)
  if (task.privacy === null)
    return answer(
      {
        ok: false,
        reason: `task "${escapeText(task.name, 80)}" has no "privacy" section: it gives no differential-privacy guarantee, so there is no noise to plan (docs/privacy.md says how to add one)`,
      },
      2,
      json,
      io,
    )
  const private_ = { ...task, privacy: task.privacy }
  if (values.parameters !== undefined && values['embedding-dim'] !== undefined)
    throw new CommandError("--parameters and --embedding-dim both give the head's size: give one of them", 2)
  const given = headSizeGiven(values)
  let outcome: PlanOutcome
  if (task.privacy.unit === 'example') {
    if (given !== null)
      throw new CommandError(
        `--${given.flag} does not apply to task "${escapeText(task.name, 80)}": it protects each example (unit "example"), whose noise and ε do not depend on the head's size`,
        2,
      )
    if (values.examples === undefined)
      throw new CommandError(
        `task "${escapeText(task.name, 80)}" protects each example (unit "example"): give --examples <n>, the hospital's training example count, which sets the noise on its mean gradient and must stay below 1/δ`,
        2,
      )
    outcome = examplePlan(private_, positiveInteger('--examples', values.examples))
  } else {
    if (values.examples !== undefined)
      throw new CommandError(
        `--examples does not apply to task "${escapeText(task.name, 80)}": it protects each participant (unit "participant"), whose example count changes neither the noise nor ε`,
        2,
      )
    if (given !== null && values.cache !== undefined)
      throw new CommandError(`--cache goes with loading the backbone, which --${given.flag} replaces`, 2)
    const params =
      given === null
        ? await headSize(task, resolve(values.cache ?? '.fedtune/cache'))
        : given.flag === 'parameters'
          ? given.value
          : paramCount({ layers: task.head.layers, labels: task.head.labels }, given.value)
    outcome = participantPlan(private_, params)
  }
  return answer(outcome, outcome.ok ? 0 : 1, json, io)
}

/** The plan, or the refusal with its reason: JSON on stdout either way, text on stdout or stderr. */
function answer(outcome: PlanOutcome, code: number, json: boolean, io: CommandIo): number {
  if (json) io.stdout(`${JSON.stringify(outcome.ok ? { ok: true, ...outcome.plan } : outcome)}\n`)
  else if (outcome.ok) io.stdout(planText(outcome.plan))
  else io.stderr(`fedtune privacy: ${outcome.reason}\n`)
  return code
}

async function readTask(file: string): Promise<TaskFile> {
  try {
    return await readTaskFile(file)
  } catch (error) {
    if (error instanceof TaskFileError) throw new CommandError(error.message)
    throw error
  }
}

/** The head's size as the command line gives it, instead of loading the backbone; null when it does not. */
function headSizeGiven(values: {
  readonly parameters?: string | undefined
  readonly 'embedding-dim'?: string | undefined
}): { readonly flag: 'parameters' | 'embedding-dim'; readonly value: number } | null {
  if (values.parameters !== undefined)
    return { flag: 'parameters', value: positiveInteger('--parameters', values.parameters) }
  if (values['embedding-dim'] !== undefined)
    return { flag: 'embedding-dim', value: positiveInteger('--embedding-dim', values['embedding-dim']) }
  return null
}

/** The head's parameter count on the task's backbone: its embedding size, known once it is loaded. */
async function headSize(task: TaskFile, cacheDir: string): Promise<number> {
  await initBackend()
  let loaded: Awaited<ReturnType<typeof loadTaskBackbone>>
  try {
    loaded = await loadTaskBackbone(task.backbone.source, task.backbone.sha256, cacheDir)
  } catch (error) {
    throw new CommandError(
      `the head's size depends on the backbone's embedding, and the task's backbone ${escapeText(task.backbone.source, 200)} cannot be loaded: ${escapeText((error as Error).message, 400)}; without it, give --parameters <n> (the head's parameter count, which the coordinator prints at start) or --embedding-dim <d> (the backbone's embedding size)`,
    )
  }
  const { backbone } = loaded
  try {
    return paramCount({ layers: task.head.layers, labels: task.head.labels }, backbone.embeddingDim)
  } finally {
    backbone.dispose()
  }
}
