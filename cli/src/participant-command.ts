import { parseArgs } from 'node:util'
import { escapeText } from '@fedtune/protocol'
import { apiClientFrom } from './api-client.ts'
import { apiCommand, commandLine } from './api-command.ts'
import { CommandError, type CommandIo, processIo, usageAsked } from './command-io.ts'
import { textTable } from './text-table.ts'

const USAGE = `Usage: fedtune participant <list|approve|revoke|readmit|invite> --task <task> [<name>] [options]

Decides who takes part in a task, over the coordinator's API (an operator's token; list: any viewer).

  list                   the task's participants: name, kind, key fingerprint, state, online
  approve <name>         let a hospital that said hello (and waits, pending) take part; compare the
                         fingerprint with the one its client printed first
  revoke <name>          take a participant out of the open round and every later one, at once
  readmit <name>         let a revoked or excluded participant take part again
  invite <name>          a one-time enrolment code for <name>, printed once: the hospital runs
                         fedtune client --task <task> --name <name> --invite <code>

Options:
  --task <name>          the task                                                  (required)
  --reason <text>        revoke: why, for the audit log and the participant
  --hours <n>            invite: how long the code is valid                       (default 168)
  --coordinator <url>    the coordinator (default: FEDTUNE_COORDINATOR)
  --token-file <file>    a file holding an API token (default: FEDTUNE_TOKEN)
  --json                 the API's JSON instead of text
  -h, --help             this text
`

type View = {
  name: string
  kind: string
  fingerprint: string
  state: string
  enrolledVia: string
  online: boolean
  decidedBy: string | null
  reason: string | null
}

/** `fedtune participant …`: enrolment decisions over the API. */
export function runParticipantCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return apiCommand('participant', USAGE, io, () => participantCommand(argv, io))
}

async function participantCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = usageAsked(argv, USAGE, io)
  if (usage !== null) return usage
  const { values, positionals } = commandLine(() => parse(argv))
  const [action, name, ...extra] = positionals
  if (!['list', 'approve', 'revoke', 'readmit', 'invite'].includes(action ?? ''))
    throw new CommandError(
      `expected list, approve, revoke, readmit or invite, got "${escapeText(action ?? '', 40)}"`,
      2,
    )
  if (values.task === undefined) throw new CommandError('--task is required', 2)
  if (action !== 'list' && name === undefined) throw new CommandError(`${action} needs a participant name`, 2)
  if (extra.length > 0 || (action === 'list' && name !== undefined))
    throw new CommandError(`unexpected arguments: ${escapeText([name, ...extra].join(' '), 80)}`, 2)
  const client = await apiClientFrom(
    { coordinator: values.coordinator, tokenFile: values['token-file'] },
    io.env,
  )
  const task = encodeURIComponent(values.task)
  const show = (value: unknown, text: string) =>
    io.stdout(values.json ? `${JSON.stringify(value, null, 2)}\n` : text)
  if (action === 'list') {
    const { participants } = await client.get<{ participants: View[] }>(`/api/tasks/${task}/participants`)
    show({ participants }, table(participants))
    return 0
  }
  const who = encodeURIComponent(name as string)
  if (action === 'invite') {
    const hours = values.hours === undefined ? undefined : Number(values.hours)
    if (hours !== undefined && !(hours > 0))
      throw new CommandError(`--hours: expected a positive number, got "${values.hours}"`, 2)
    const invite = await client.send<{ code: string; expiresAt: string }>(
      'POST',
      `/api/tasks/${task}/invites`,
      {
        participant: name,
        ...(hours === undefined ? {} : { hours }),
      },
    )
    show(
      invite,
      `enrolment code for ${name} in task ${values.task} (valid until ${invite.expiresAt}; shown once):\n${invite.code}\n` +
        `the hospital runs: fedtune client --task ${values.task} --name ${name} --invite-file <file holding the code>\n`,
    )
    return 0
  }
  const view = await client.send<View>(
    'POST',
    `/api/tasks/${task}/participants/${who}/${action}`,
    values.reason === undefined ? {} : { reason: values.reason },
  )
  show(view, `${escapeText(view.name, 64)}: ${view.state} (key ${view.fingerprint})\n`)
  return 0
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      task: { type: 'string' },
      reason: { type: 'string' },
      hours: { type: 'string' },
      coordinator: { type: 'string' },
      'token-file': { type: 'string' },
      json: { type: 'boolean' },
    },
  })
}

function table(participants: readonly View[]): string {
  if (participants.length === 0) return '(no participants)\n'
  const rows = participants.map((p) => [
    escapeText(p.name, 64),
    p.kind,
    p.fingerprint,
    p.state,
    p.enrolledVia,
    p.online ? 'online' : '-',
    escapeText(p.reason ?? '', 120),
  ])
  return textTable(['name', 'kind', 'key fingerprint', 'state', 'via', 'online', 'reason'], rows)
}
