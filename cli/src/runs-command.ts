import { parseArgs } from 'node:util'
import { escapeText } from '@fedtune/protocol'
import { apiClientFrom } from './api-client.ts'
import { API_OPTIONS, apiCommand, commandLine } from './api-command.ts'
import { type CommandIo, processIo } from './command-io.ts'
import type { RunView } from './run-views.ts'
import { textTable } from './text-table.ts'

const USAGE = `Usage: fedtune runs [--task <name>] [options]

Every run the coordinator keeps, oldest first (any operator, viewers too): its number, task, state
(preparing, running, paused, stopped, finished, failed), when it was created, started and ended,
and why it is in that state. A run's rounds and heads: fedtune run export --run <id> --out <dir>.

Options:
  --task <name>          only this task's runs
  --coordinator <url>    the coordinator (default: FEDTUNE_COORDINATOR)
  --token-file <file>    a file holding an API token (default: FEDTUNE_TOKEN)
  --json                 the API's JSON ({ runs })
  -h, --help             this text
`

/** `fedtune runs`: the runs, over the API. */
export function runRunsCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return apiCommand('runs', USAGE, io, async () => {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout(USAGE)
      return 0
    }
    const { values } = commandLine(() =>
      parseArgs({ args: argv, strict: true, options: { ...API_OPTIONS, task: { type: 'string' } } }),
    )
    const client = await apiClientFrom(
      { coordinator: values.coordinator, tokenFile: values['token-file'] },
      io.env,
    )
    const { runs } = await client.get<{ runs: RunView[] }>(
      values.task === undefined ? '/api/runs' : `/api/tasks/${encodeURIComponent(values.task)}/runs`,
    )
    io.stdout(values.json ? `${JSON.stringify({ runs }, null, 2)}\n` : runsTable(runs))
    return 0
  })
}

export function runsTable(runs: readonly RunView[]): string {
  if (runs.length === 0) return '(no runs)\n'
  const time = (at: string | null) => (at === null ? '-' : escapeText(at, 40))
  return textTable(
    ['run', 'task', 'state', 'created', 'started', 'ended', 'reason'],
    runs.map((r) => [
      String(r.id),
      escapeText(r.task, 64),
      escapeText(r.state, 32),
      time(r.createdAt),
      time(r.startedAt),
      time(r.endedAt),
      escapeText(r.reason ?? '', 200),
    ]),
  )
}
