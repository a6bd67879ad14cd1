import { DataError } from './data-error.ts'
import type { DataIo } from './split-command.ts'
import { runDataSplit } from './split-command.ts'

export const DATA_USAGE = `Usage: fedtune data <command> [options]

Commands:
  split    turn a MedMNIST .npz into hospital folders (<class>/<file>.png) and a held-out test folder

Run fedtune data split --help for its options.
`

/** `fedtune data …`: dispatches to a subcommand, or prints help. */
export async function runDataCommand(argv: readonly string[], io: DataIo = {}): Promise<void> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    ;(io.log ?? ((line: string) => process.stdout.write(`${line}\n`)))(DATA_USAGE.trimEnd())
    return
  }
  if (command === 'split') return runDataSplit(rest, io)
  throw new DataError(
    'bad-option',
    `fedtune data: expected a command (split), got ${JSON.stringify(command)}; see fedtune data --help`,
  )
}
