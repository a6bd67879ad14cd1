import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { escapeText } from '@fedtune/protocol'
import { apiClientFrom } from './api-client.ts'
import { API_OPTIONS, apiCommand, commandLine } from './api-command.ts'
import { CommandError, type CommandIo, processIo, usageAsked } from './command-io.ts'
import { positiveInteger } from './numbers.ts'
import { exportRun } from './run-export.ts'
import type { RunView } from './run-views.ts'
import { bestLine } from './status-command.ts'

const USAGE = `Usage: fedtune run <start|pause|resume|stop|abort|extend> --task <name> [options]
       fedtune run export (--run <id> | --task <name>) --out <dir> [--force] [options]

A task's run, over the coordinator's API (operators; export: viewers too). start, pause, resume,
stop, abort and extend are commands of their own too: fedtune pause --task <name>. Each prints the
run's state after it.

  start                  a new run of the task with its current file: it prepares (backbone,
                         held-out set), then opens to participants (fedtune status --task shows it)
  pause                  no round starts after the one in progress, which ends as usual; the run
                         stays paused until resumed, across a restart of the coordinator too
  resume                 rounds start again
  stop                   end the run for good; the rounds kept stay kept
  abort                  fail the round in progress with --reason (told to the participants); the
                         next round starts as usual
  extend                 give the round in progress --seconds more
  export                 write a run as the coordinator keeps its folder: rounds.jsonl (one round's
                         record a line), heads/round-NNNN.f32 (the global head after each
                         aggregated round, raw little-endian float32), rounds.svg (the chart) and
                         run.json (the run, its state and its settings); the initial head
                         (round 0) is not served by the API and not written

Options:
  --task <name>          the task (export: its latest run)
  --reason <text>        why, for the audit log (abort: for the round's record and participants)
  --seconds <n>          extend: how many seconds more                        (required)
  --run <id>             export: this run (fedtune runs lists them)
  --out <dir>            export: the folder to write, new or empty            (required)
  --force                export: write into a folder holding files, replacing its run files
  --coordinator <url>    the coordinator (default: FEDTUNE_COORDINATOR)
  --token-file <file>    a file holding an API token (default: FEDTUNE_TOKEN)
  --json                 the API's JSON (the run) instead of text
  -h, --help             this text
`

const ACTIONS = ['start', 'pause', 'resume', 'stop', 'abort', 'extend', 'export'] as const
type Action = (typeof ACTIONS)[number]

/** `fedtune run <action>` and its aliases `fedtune start|pause|resume|stop|abort|extend`. */
export function runRunCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return apiCommand('run', USAGE, io, async () => {
    const usage = usageAsked(argv, USAGE, io)
    if (usage !== null) return usage
    const { values, positionals } = commandLine(() =>
      parseArgs({
        args: argv,
        strict: true,
        allowPositionals: true,
        options: {
          ...API_OPTIONS,
          task: { type: 'string' },
          reason: { type: 'string' },
          seconds: { type: 'string' },
          run: { type: 'string' },
          out: { type: 'string' },
          force: { type: 'boolean' },
        },
      }),
    )
    const [action, ...extra] = positionals
    if (!ACTIONS.includes(action as Action))
      throw new CommandError(`expected ${ACTIONS.join(', ')}, got "${escapeText(action ?? '', 40)}"`, 2)
    if (extra.length > 0)
      throw new CommandError(`unexpected arguments: ${escapeText(extra.join(' '), 80)}`, 2)
    const only = (option: string, present: unknown, actions: readonly Action[]) => {
      if (present !== undefined && !actions.includes(action as Action))
        throw new CommandError(`--${option} is for ${actions.join(', ')}, not ${action}`, 2)
    }
    only('seconds', values.seconds, ['extend'])
    only('run', values.run, ['export'])
    only('out', values.out, ['export'])
    only('force', values.force, ['export'])
    only('reason', values.reason, ['pause', 'resume', 'stop', 'abort', 'extend'])
    if (action === 'export') {
      if (values.out === undefined) throw new CommandError('export needs --out <dir>', 2)
      if ((values.run === undefined) === (values.task === undefined))
        throw new CommandError('export needs --run <id> or --task <name>, one of them', 2)
    } else if (values.task === undefined) throw new CommandError('--task is required', 2)
    const seconds =
      action === 'extend' ? positiveInteger('--seconds', values.seconds ?? '', 7 * 24 * 3600) : undefined
    const runId = values.run === undefined ? undefined : positiveInteger('--run', values.run)
    const client = await apiClientFrom(
      { coordinator: values.coordinator, tokenFile: values['token-file'] },
      io.env,
    )
    const task = values.task === undefined ? undefined : encodeURIComponent(values.task)

    if (action === 'export') {
      const id = runId ?? (await latestRun(await client.get(`/api/tasks/${task}/runs`), values.task ?? ''))
      const out = resolve(values.out ?? '')
      let decile = -1
      const exported = await exportRun(client, id, out, {
        force: values.force ?? false,
        onHead: (done, total) => {
          // a line at every tenth of the heads (each head of a short run), never thousands of lines
          const now = Math.floor((done * 10) / total)
          if (now === decile && done < total) return
          decile = now
          io.stderr(`heads ${done}/${total} (${Math.floor((done * 100) / total)}%)\n`)
        },
      })
      const { run } = exported
      const open = ['stopped', 'finished', 'failed'].includes(run.state)
        ? ''
        : `; the run is ${escapeText(run.state, 32)}, so later rounds are not in it`
      io.stdout(
        values.json
          ? `${JSON.stringify({ ...exported, out }, null, 2)}\n`
          : `exported run ${run.id} of task ${escapeText(run.task, 64)} (${escapeText(run.state, 32)}): ${count(exported.rounds, 'round')}, ${count(exported.heads, 'head')} to ${escapeText(out)}${open}\n${exported.best ? `${bestLine(exported.best)}\n` : ''}`,
      )
      return 0
    }

    const body =
      action === 'start'
        ? undefined
        : {
            ...(seconds === undefined ? {} : { seconds }),
            ...(values.reason === undefined ? {} : { reason: values.reason }),
          }
    const run = await client.send<RunView>('POST', `/api/tasks/${task}/${action}`, body)
    const reason = run.reason === null ? '' : ` (${escapeText(run.reason, 300)})`
    const after =
      action === 'start'
        ? `; it prepares, then opens to participants (fedtune status --task ${escapeText(run.task, 64)})`
        : action === 'abort'
          ? '; the round in progress is aborted, the next one starts as usual'
          : action === 'extend'
            ? `; the round in progress has ${seconds} s more`
            : ''
    io.stdout(
      values.json
        ? `${JSON.stringify(run, null, 2)}\n`
        : `run ${run.id} of task ${escapeText(run.task, 64)}: ${escapeText(run.state, 32)}${reason}${after}\n`,
    )
    return 0
  })
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`

function latestRun(answer: { runs: readonly RunView[] }, task: string): number {
  const last = answer.runs.at(-1)
  if (last === undefined)
    throw new CommandError(`task "${escapeText(task, 64)}" has no runs yet; nothing to export`)
  return last.id
}
