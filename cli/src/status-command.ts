import { parseArgs } from 'node:util'
import type { BestSummary, TaskListing } from '@fedtune/coordinator'
import { metricName } from '@fedtune/coordinator/best-round'
import { escapeText, formatEpsilon } from '@fedtune/protocol'
import { apiClientFrom } from './api-client.ts'
import { API_OPTIONS, apiCommand, commandLine } from './api-command.ts'
import { CommandError, type CommandIo, processIo } from './command-io.ts'
import { type LiveStatus, localTime, type TaskList } from './run-views.ts'
import { textTable } from './text-table.ts'

const USAGE = `Usage: fedtune status [--task <name>] [options]

What the coordinator is doing (any operator, viewers too). Without --task: every task it hosts, its
phase (idle, preparing, serving, ended), its latest run and that run's state, and how far a run
that prepares has come. With --task: that task's run as it happens: the round, whether it is
paused, who is online, selected and has answered, the secure stage and whom it waits for, and the
round's deadline in this machine's time zone; for a private task, the ε spent of its target.

Options:
  --task <name>          one task's live run
  --coordinator <url>    the coordinator (default: FEDTUNE_COORDINATOR)
  --token-file <file>    a file holding an API token (default: FEDTUNE_TOKEN)
  --json                 the API's JSON (GET /api/tasks; with --task, GET /api/status?task=)
  -h, --help             this text
`

/** `fedtune status`: the tasks, or one task's live run, over the API. */
export function runStatusCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return apiCommand('status', USAGE, io, async () => {
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
    const task = values.task
    if (task !== undefined && values.json) {
      io.stdout(`${JSON.stringify(await client.get<LiveStatus>('/api/status', { task }), null, 2)}\n`)
      return 0
    }
    const list = await client.get<TaskList>('/api/tasks')
    if (task === undefined) {
      io.stdout(values.json ? `${JSON.stringify(list, null, 2)}\n` : tasksTable(list.tasks))
      return 0
    }
    const listing = list.tasks.find((t) => t.name === task)
    if (listing === undefined)
      throw new CommandError(
        `expected a task this coordinator hosts (${list.tasks.map((t) => escapeText(t.name, 64)).join(', ') || 'none yet'}), got "${escapeText(task, 64)}"`,
      )
    // Only a serving run has a live status; the others are what the listing says.
    if (listing.phase !== 'serving') {
      io.stdout(`${listingLine(listing)}\n`)
      return 0
    }
    io.stdout(liveText(listing, await client.get<LiveStatus>('/api/status', { task })))
    return 0
  })
}

/** One line a task: its phase, its latest run, and how far a preparing run is or why a run ended. */
export function tasksTable(tasks: readonly TaskListing[]): string {
  if (tasks.length === 0) return '(no tasks: submit one with fedtune task submit <task.json>)\n'
  return textTable(
    ['task', 'phase', 'run', 'state', 'detail'],
    tasks.map((t) => [
      escapeText(t.name, 64),
      escapeText(t.phase, 32),
      t.run === null ? '-' : String(t.run.id),
      t.run === null ? '-' : escapeText(t.run.state, 32),
      detailOf(t),
    ]),
  )
}

function detailOf(t: TaskListing): string {
  if (t.preparing !== null)
    return `${escapeText(t.preparing.what, 80)} ${t.preparing.done}/${t.preparing.total}`
  return escapeText(t.run?.reason ?? '', 200)
}

function listingLine(t: TaskListing): string {
  const name = escapeText(t.name, 64)
  if (t.run === null) return `task ${name}: idle, no run yet (start one: fedtune start --task ${name})`
  const detail = detailOf(t)
  return `task ${name}: ${escapeText(t.phase, 32)}, run ${t.run.id} ${escapeText(t.run.state, 32)}${detail ? ` (${detail})` : ''}`
}

/** A serving run, as it happens. */
export function liveText(t: TaskListing, s: LiveStatus): string {
  const names = (list: readonly string[]) =>
    `${list.length}${list.length > 0 ? `: ${escapeText(list.join(', '), 400)}` : ''}`
  const where =
    s.phase === 'training'
      ? `round ${s.round} of ${s.rounds} in progress`
      : s.phase === 'finished'
        ? `finished after round ${s.round} of ${s.rounds}`
        : `waiting to start round ${s.round + 1} of ${s.rounds}`
  const lines = [
    `task ${escapeText(s.task, 64)}: run ${t.run?.id ?? '-'} ${escapeText(t.run?.state ?? '-', 32)}, ${where} (${escapeText(s.aggregation, 32)} aggregation)`,
  ]
  if (s.paused)
    lines.push(
      s.phase === 'training'
        ? 'paused: the round in progress ends as usual, then none starts until an operator resumes'
        : 'paused: no round starts until an operator resumes',
    )
  lines.push(`online ${names(s.online)}${s.browsers.length > 0 ? ` (browsers ${names(s.browsers)})` : ''}`)
  if (s.phase === 'training') {
    lines.push(`selected ${names(s.selected)}`)
    // a secure round's updates are masked: who the stage waits for, not who sent an update
    if (s.secure === null) lines.push(`received ${names(s.received)}`)
    else
      lines.push(`secure stage ${escapeText(s.secure.stage, 32)}, waiting for ${names(s.secure.waitingFor)}`)
  }
  if (s.deadlineAt !== null) lines.push(`deadline ${localTime(s.deadlineAt)}`)
  lines.push(`rounds kept: ${s.completed} aggregated, ${s.failed} failed`)
  if (s.best) lines.push(bestLine(s.best))
  if (s.privacy) lines.push(privacyLine(s.privacy))
  else if (s.privacy === null) lines.push('privacy: none (this task gives no differential-privacy guarantee)')
  return `${lines.join('\n')}\n`
}

/** "privacy: ε 1.23 of 3.00 spent (δ = 1e-5, per example) over 4 rounds". */
export function privacyLine(p: NonNullable<LiveStatus['privacy']>): string {
  return `privacy: ε ${formatEpsilon(p.epsilon)} of ${formatEpsilon(p.target)} spent (δ = ${p.delta.toExponential(0)}, per ${p.unit}) over ${p.rounds} rounds accounted`
}

/** "best round 12 by validation AUC 0.913; test: ACC 0.861, balanced ACC 0.850, AUC 0.930 (624 images)". */
export function bestLine(b: BestSummary): string {
  const f = (v: number | null) => (v === null ? '-' : v.toFixed(3))
  const test = b.test
    ? `test: ACC ${f(b.test.accuracy)}, balanced ACC ${f(b.test.balancedAccuracy)}, AUC ${f(b.test.auc)}${b.test.qwk === null ? '' : `, QWK ${f(b.test.qwk)}`} (${b.test.examples} images)`
    : 'no test set'
  return `best round ${b.round} by validation ${metricName(b.metric)} ${f(b.value)} (the exported model); ${test}`
}
