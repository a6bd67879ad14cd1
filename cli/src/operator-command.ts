import { userInfo } from 'node:os'
import { parseArgs } from 'node:util'
import { hashPassword, OPERATOR_NAME, passwordProblem } from '@fedtune/coordinator/operators'
import { OPERATOR_ROLES, type OperatorRole, openStore, StoreError } from '@fedtune/coordinator/store'
import { escapeText } from '@fedtune/protocol'
import { CommandError, type CommandIo, processIo } from './command-io.ts'
import { passwordFromStdin, promptPassword } from './password-input.ts'

export const DEFAULT_DATABASE = '.fedtune/db'

const USAGE = `Usage: fedtune operator add --role <admin|operator|viewer> <name> [options]

Adds an operator account to the coordinator's database, on the coordinator's host (the first admin is
made this way; afterwards an admin adds operators through the API, POST /api/operators). The password
is asked for at the terminal, twice, without echo; or read from stdin with --password-stdin. It must
be at least 12 characters. The addition is recorded in the audit log (actor "system").

Options:
  --role <role>          admin (everything, operators included), operator (runs and participants)
                         or viewer (read-only)
  --database <location>  the coordinator's database: a PGlite folder or postgres://… (default ${DEFAULT_DATABASE})
  --password-stdin       read the password from stdin (one line) instead of asking
  -h, --help             this text

A PGlite folder is one process's database: add operators before starting the coordinator on it, or
while it is stopped (a PostgreSQL server takes both at once).
`

/** `fedtune operator …`: accounts made directly in the database, on the coordinator's host. */
export async function runOperatorCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  try {
    return await operatorCommand(argv, io)
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune operator: ${error.message}\n${error.exitCode === 2 ? `\n${USAGE}` : ''}`)
    return error.exitCode
  }
}

async function operatorCommand(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv
  if (
    sub === undefined ||
    sub === '--help' ||
    sub === '-h' ||
    rest.includes('--help') ||
    rest.includes('-h')
  ) {
    io.stdout(USAGE)
    return sub === undefined ? 2 : 0
  }
  if (sub !== 'add') throw new CommandError(`expected "add", got ${escapeText(JSON.stringify(sub), 100)}`, 2)
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(rest)
  } catch (error) {
    throw new CommandError((error as Error).message, 2)
  }
  const { values, positionals } = parsed
  const [name, ...extra] = positionals
  if (name === undefined || extra.length > 0)
    throw new CommandError(`expected one operator name, got ${positionals.length}`, 2)
  if (!OPERATOR_NAME.test(name))
    throw new CommandError(
      `expected a name of letters, digits, ".", "_", "@" or "-" (at most 200, starting with a letter or digit), got ${escapeText(JSON.stringify(name), 100)}`,
      2,
    )
  const role = values.role
  if (role === undefined || !(OPERATOR_ROLES as readonly string[]).includes(role))
    throw new CommandError(
      `expected --role ${OPERATOR_ROLES.join(', ')}, got ${role === undefined ? 'none' : escapeText(JSON.stringify(role), 100)}`,
      2,
    )
  const password = values['password-stdin'] ? await passwordFromStdin(io) : await askTwice(io, name)
  const weak = passwordProblem(password)
  if (weak !== null) throw new CommandError(`refused the password: ${weak}`)
  const location = values.database ?? DEFAULT_DATABASE
  let store: Awaited<ReturnType<typeof openStore>>
  try {
    store = await openStore(location)
  } catch (error) {
    if (error instanceof StoreError) throw new CommandError(error.message)
    throw error
  }
  try {
    await store.operators.add({
      name,
      role: role as OperatorRole,
      passwordHash: await hashPassword(password),
    })
    await store.audit.append({
      actor: 'system',
      action: 'operator.add',
      outcome: 'ok',
      target: name,
      detail: { role, via: 'fedtune operator add', user: userInfo().username },
    })
    io.stdout(`added ${role} "${name}" to ${store.where}\n`)
    return 0
  } catch (error) {
    if (error instanceof StoreError && error.code === 'conflict')
      throw new CommandError(`an operator named "${name}" already exists in ${store.where}`)
    throw error
  } finally {
    await store.close()
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      role: { type: 'string' },
      database: { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
  })
}

async function askTwice(io: CommandIo, name: string): Promise<string> {
  const first = await promptPassword(io, `password for ${name}: `)
  const weak = passwordProblem(first)
  if (weak !== null) throw new CommandError(`refused the password: ${weak}`)
  const again = await promptPassword(io, 'the same password again: ')
  if (again !== first) throw new CommandError('the two passwords differ; nothing was added')
  return first
}
