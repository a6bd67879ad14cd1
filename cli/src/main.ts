const USAGE = `Usage: fedtune <command> [options]

Federated, privacy-preserving fine-tuning of a small head on a frozen MobileNet backbone.

Commands:
  demo                     a coordinator and three hospitals federating on PneumoniaMNIST
  coordinator --task <f>   serve a federation described by a task file
  client --coordinator <url> --data <folder>
                           take part as a hospital with a folder of images
  data split               turn a MedMNIST .npz into hospital folders and a held-out test set
  backbone digest <dir>    print the SHA-256 digest a task file needs for a TF.js model folder
  operator add --role <role> <name>
                           add an operator account to the coordinator's database (on its host)
  audit                    read the coordinator's audit log (admins; over the API)
  participant <list|approve|revoke|readmit|invite> --task <t> [<name>]
                           decide who takes part in a task (operators; over the API)

Run "fedtune <command> --help" for a command's options.
`

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'coordinator':
      return (await import('./coordinator-command.ts')).runCoordinatorCommand(rest)
    case 'client':
      return (await import('./client-command.ts')).runClientCommand(rest)
    case 'data':
      return runData(rest)
    case 'demo':
      return (await import('./demo.ts')).runDemo(rest)
    case 'backbone':
      return (await import('./backbone-command.ts')).runBackboneCommand(rest)
    case 'operator':
      return (await import('./operator-command.ts')).runOperatorCommand(rest)
    case 'participant':
      return (await import('./participant-command.ts')).runParticipantCommand(rest)
    case 'audit':
      return (await import('./audit-command.ts')).runAuditCommand(rest)
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return command === undefined ? 2 : 0
    default:
      process.stderr.write(`fedtune: unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}

async function runData(argv: string[]): Promise<number> {
  const { runDataCommand, DataError } = await import('./data/index.ts')
  try {
    await runDataCommand(argv)
    return 0
  } catch (error) {
    if (!(error instanceof DataError)) throw error
    process.stderr.write(`${error.message}\n`)
    return error.code === 'bad-option' ? 2 : 1
  }
}
