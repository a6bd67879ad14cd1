import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import type { TaskFileProblem, TaskListing } from '@fedtune/coordinator'
import { escapeText } from '@fedtune/protocol'
import { ApiError, apiClientFrom } from './api-client.ts'
import { API_OPTIONS, apiCommand, commandLine } from './api-command.ts'
import { CommandError, type CommandIo, processIo, usageAsked } from './command-io.ts'
import type { RunView } from './run-views.ts'
import { runsTable } from './runs-command.ts'

const USAGE = `Usage: fedtune task <submit <task.json> | show <name>> [options]
       fedtune task init --data <folder> --backbone <folder|url> [options]

The coordinator's tasks, over its API; "task init" writes a task file here ("fedtune task init
--help" for its options).

  submit <task.json>     send a task file (operators): a new task is created, a changed file
                         replaces the task's file (refused while the task has an unfinished run:
                         stop it first), the same file again changes nothing. A refused file's
                         problems are printed one a line. The file is read here and checked there:
                         its paths (backbone.source, evaluation.validation and .test) are the
                         coordinator's, and a relative one is resolved against the coordinator's working folder, not
                         this file's; write absolute paths or URLs.
  show <name>            who submitted the task and when, what it is doing, and its runs

Options:
  --coordinator <url>    the coordinator (default: FEDTUNE_COORDINATOR)
  --token-file <file>    a file holding an API token (default: FEDTUNE_TOKEN)
  --json                 the API's JSON instead of text (show: with the task file)
  -h, --help             this text
`

type Submitted = { task: string; outcome: 'created' | 'replaced' | 'unchanged' }
type TaskDetail = {
  name: string
  submittedBy: string
  submittedAt: string
  file: unknown
  listing: TaskListing | null
  runs: RunView[]
}

/** `fedtune task …`: submitting and reading task files over the API. */
export function runTaskCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  // local, and it loads the backbone reader: imported only when asked for
  if (argv[0] === 'init') return import('./task-init.ts').then((m) => m.runTaskInit(argv.slice(1), io))
  return apiCommand('task', USAGE, io, async () => {
    const usage = usageAsked(argv, USAGE, io)
    if (usage !== null) return usage
    const { values, positionals } = commandLine(() =>
      parseArgs({ args: argv, strict: true, allowPositionals: true, options: API_OPTIONS }),
    )
    const [action, target, ...extra] = positionals
    if (action !== 'submit' && action !== 'show')
      throw new CommandError(`expected submit or show, got "${escapeText(action ?? '', 40)}"`, 2)
    if (target === undefined)
      throw new CommandError(action === 'submit' ? 'submit needs a task file' : 'show needs a task name', 2)
    if (extra.length > 0)
      throw new CommandError(`unexpected arguments: ${escapeText(extra.join(' '), 80)}`, 2)
    const client = await apiClientFrom(
      { coordinator: values.coordinator, tokenFile: values['token-file'] },
      io.env,
    )
    const show = (value: unknown, text: string) =>
      io.stdout(values.json ? `${JSON.stringify(value, null, 2)}\n` : text)
    if (action === 'show') {
      const task = await client.get<TaskDetail>(`/api/tasks/${encodeURIComponent(target)}`)
      const phase = task.listing ? `, ${escapeText(task.listing.phase, 32)}` : ''
      show(
        task,
        `task ${escapeText(task.name, 64)}: submitted by ${escapeText(task.submittedBy, 64)} at ${escapeText(task.submittedAt, 40)}${phase}\n${runsTable(task.runs)}`,
      )
      return 0
    }
    const file = await taskFileAt(target)
    let submitted: Submitted
    try {
      submitted = await client.send<Submitted>('POST', '/api/tasks', file)
    } catch (error) {
      if (error instanceof ApiError && error.code === 'invalid-task') throw refusedFile(target, error)
      throw error
    }
    const name = escapeText(submitted.task, 64)
    show(
      submitted,
      submitted.outcome === 'created'
        ? `created task ${name}; start a run: fedtune start --task ${name}\n`
        : submitted.outcome === 'replaced'
          ? `replaced the file of task ${name}; its next run uses it (fedtune start --task ${name})\n`
          : `task ${name} is unchanged: the coordinator has this file already\n`,
    )
    return 0
  })
}

/** The task file's JSON, as it is: the coordinator checks it (and fills its defaults). */
async function taskFileAt(path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new CommandError(`cannot read the task file ${escapeText(path)}: ${(error as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new CommandError(
      `expected the task file ${escapeText(path)} to hold JSON: ${escapeText((error as Error).message, 200)}`,
    )
  }
}

/** The coordinator's refusal of a task file: every problem it found, one a line. */
function refusedFile(path: string, error: ApiError): CommandError {
  const problems = (error.body as { problems?: unknown } | null)?.problems
  if (!Array.isArray(problems) || problems.length === 0) return new CommandError(error.message)
  const text = (value: unknown, max: number) => escapeText(String(value), max)
  const lines = problems.map((p: Partial<TaskFileProblem> | null) =>
    typeof p === 'object' && p !== null
      ? `  ${p.path ? `${text(p.path, 120)}: ` : ''}expected ${text(p.expected, 300)}, got ${text(p.found, 300)}`
      : `  ${text(JSON.stringify(p), 300)}`,
  )
  return new CommandError(
    `the coordinator refused the task file ${escapeText(path)} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
  )
}
