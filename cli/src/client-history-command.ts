import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { defaultName, type HistoryEntry, historyFile, readHistory } from '@fedtune/client-node'
import { escapeText, formatEpsilon, TASK_NAME } from '@fedtune/protocol'
import { readConfigFile } from './client-config.ts'
import { CLIENT_OPTIONS } from './client-options.ts'
import { CommandError, type CommandIo } from './command-io.ts'
import { textTable } from './text-table.ts'

const USAGE = `Usage: fedtune client history [--config <file>] [--cache <folder>] [--name <name>] [--task <name>] [--format json]

Prints this hospital's own record of the rounds its client took part in, kept on this machine in
<cache>/history/<task>/<name>.jsonl: the outcome (aggregated, dropped, failed), the bytes its
socket sent in the round, and the global head it started from (the previous round's aggregate)
measured on this hospital's own validation images, and the privacy budget ε spent on the task by
the round's end: "ε ledger" by this hospital's own ledger (the rounds it released, composed from
<cache>/privacy/<task>/<name>.jsonl), "ε coordinator" as the coordinator reported it in the round's
result (every round the federation released, with its survivors; "-" when no result came); "—" for
a task without differential privacy. Nothing here was ever sent to the coordinator.

Options:
  --config <file>   the client's config file: its cache and name (and task) are used
  --cache <folder>  the client's cache                              (default .fedtune/cache)
  --name <name>     the client's name                          (default hospital-<hostname>)
  --task <name>     one task only (default: every task in the cache)
  --format json     the entries as JSON, exactly as kept
  -h, --help        this text
`

export async function runClientHistoryCommand(argv: string[], io: CommandIo): Promise<number> {
  let values: ReturnType<typeof parse>['values']
  try {
    values = parse(argv).values
  } catch (error) {
    io.stderr(`fedtune client history: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    io.stdout(USAGE)
    return 0
  }
  try {
    const file = values.config === undefined ? {} : readConfigFile(values.config, CLIENT_OPTIONS)
    const pick = (key: 'cache' | 'name' | 'task') => values[key] ?? (file[key] as string | undefined)
    const cacheDir = resolve(pick('cache') ?? '.fedtune/cache')
    const name = pick('name') ?? defaultName()
    const task = pick('task')
    if (task !== undefined && !TASK_NAME.test(task))
      throw new CommandError(`--task: expected a task name, got ${escapeText(JSON.stringify(task), 100)}`, 2)
    if (values.format !== undefined && values.format !== 'json' && values.format !== 'text')
      throw new CommandError(
        `--format: expected json or text, got ${escapeText(JSON.stringify(values.format), 100)}`,
        2,
      )
    const tasks = task !== undefined ? [task] : tasksIn(cacheDir, name)
    const found = tasks.map((t) => ({
      task: t,
      file: historyFile(cacheDir, t, name),
      ...readHistory(historyFile(cacheDir, t, name)),
    }))
    if (values.format === 'json') {
      io.stdout(`${JSON.stringify({ name, tasks: found }, null, 2)}\n`)
      return 0
    }
    if (found.every((f) => f.entries.length === 0 && f.unreadable === 0)) {
      io.stdout(
        `no rounds kept for ${name} in ${join(cacheDir, 'history')}${task === undefined ? '' : ` (task ${task})`}\n`,
      )
      return 0
    }
    for (const f of found) {
      io.stdout(`task ${escapeText(f.task, 100)}, ${name} (${f.file})\n`)
      io.stdout(historyTable(f.entries))
      if (f.unreadable > 0)
        io.stdout(
          `${f.unreadable} line${f.unreadable === 1 ? '' : 's'} could not be read (a line torn by a crash, or edited)\n`,
        )
    }
    return 0
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune client history: ${error.message}\n`)
    return error.exitCode
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      cache: { type: 'string' },
      name: { type: 'string' },
      task: { type: 'string' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

/** The tasks with a history of `name` in the cache, sorted. */
function tasksIn(cacheDir: string, name: string): string[] {
  let dirs: string[]
  try {
    dirs = readdirSync(join(cacheDir, 'history'), { withFileTypes: true })
      .filter((e) => e.isDirectory() && TASK_NAME.test(e.name))
      .map((e) => e.name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return dirs.filter((t) => readHistory(historyFile(cacheDir, t, name)).entries.length > 0).sort()
}

/**
 * One row per round; the global head's metrics are those of the head the round started from, ε the
 * round's end's by this hospital's ledger and by the coordinator's report, side by side.
 */
export function historyTable(entries: readonly HistoryEntry[]): string {
  const share = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toFixed(3))
  return textTable(
    [
      'round',
      'outcome',
      'sent',
      'global ACC',
      'global BAL',
      'global AUC',
      'val images',
      'ε ledger',
      'ε coordinator',
      'time',
      'reason',
    ],
    entries.map((e) => [
      String(e.round),
      e.outcome,
      formatBytes(e.bytesSent),
      share(e.global?.accuracy),
      share(e.global?.balancedAccuracy),
      share(e.global?.auc),
      e.global === null ? '-' : String(e.global.examples),
      e.privacy === null ? '—' : formatEpsilon(e.privacy),
      e.privacy === null ? '—' : e.coordinatorEpsilon === null ? '-' : formatEpsilon(e.coordinatorEpsilon),
      escapeText(e.time, 40),
      e.reason === null ? '' : escapeText(e.reason, 80),
    ]),
  )
}

function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)} kB`
  return `${(n / 1_000_000).toFixed(2)} MB`
}
