import { parseArgs } from 'node:util'
import type { AuditPage } from '@fedtune/coordinator/operators'
import { escapeText } from '@fedtune/protocol'
import { apiClientFrom } from './api-client.ts'
import { apiCommand, commandLine } from './api-command.ts'
import { type CommandIo, processIo } from './command-io.ts'
import { positiveInteger } from './numbers.ts'

const USAGE = `Usage: fedtune audit [options]

Reads the coordinator's audit log (admins only), newest first: sign-ins, operator actions, enrolments,
approvals, revocations, exclusions and run state changes, with who, when, from which address and the
outcome. Prints a table, or the API's JSON page with --json.

Options:
  --coordinator <url>    the coordinator (default: FEDTUNE_COORDINATOR)
  --token-file <file>    a file holding an API token (default: FEDTUNE_TOKEN)
  --run <id>             only this run's entries
  --task <name>          only this task's entries
  --actor <name>         only what this operator, participant or "system" did
  --action <action>      only this action (e.g. session.sign-in, operator.add, access.refused)
  --limit <n>            at most n entries (default 100, at most 1000)
  --before <id>          entries older than this id: the "next" of the page before
  --json                 the JSON page ({ entries, next }) instead of a table
  -h, --help             this text
`

/** `fedtune audit`: the audit log over the API. */
export function runAuditCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return apiCommand('audit', USAGE, io, () => auditCommand(argv, io))
}

async function auditCommand(argv: string[], io: CommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(USAGE)
    return 0
  }
  const { values } = commandLine(() => parse(argv))
  const query = {
    run: values.run === undefined ? undefined : positiveInteger('--run', values.run),
    task: values.task,
    actor: values.actor,
    action: values.action,
    limit: values.limit === undefined ? undefined : positiveInteger('--limit', values.limit, 1000),
    before: values.before === undefined ? undefined : positiveInteger('--before', values.before),
  }
  const client = await apiClientFrom(
    { coordinator: values.coordinator, tokenFile: values['token-file'] },
    io.env,
  )
  const page = await client.get<AuditPage>('/api/audit', query)
  if (values.json) {
    io.stdout(`${JSON.stringify(page, null, 2)}\n`)
    return 0
  }
  io.stdout(auditTable(page))
  return 0
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      coordinator: { type: 'string' },
      'token-file': { type: 'string' },
      run: { type: 'string' },
      task: { type: 'string' },
      actor: { type: 'string' },
      action: { type: 'string' },
      limit: { type: 'string' },
      before: { type: 'string' },
      json: { type: 'boolean' },
    },
  })
}

/**
 * The page as a table for people: one line per entry, every field from outside escaped (a name or a
 * detail may hold control characters), the detail as compact JSON; then how to read the next page.
 */
export function auditTable(page: AuditPage): string {
  const header = ['id', 'at', 'actor', 'address', 'action', 'target', 'outcome', 'detail']
  const rows = page.entries.map((e) => [
    String(e.id),
    e.at,
    escapeText(e.actor, 64),
    escapeText(e.address ?? '-', 64),
    escapeText(e.action, 64),
    escapeText(e.target ?? '-', 64),
    e.outcome,
    escapeText(Object.keys(e.detail).length === 0 ? '' : JSON.stringify(e.detail), 200),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  const body = [line(header), ...rows.map(line)].join('\n')
  const more = page.next === null ? '' : `\nolder entries: --before ${page.next}`
  return `${body}${rows.length === 0 ? '\n(no entries)' : ''}${more}\n`
}
