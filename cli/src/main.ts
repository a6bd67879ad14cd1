const USAGE = `Usage: fedtune <command> [options]

Federated, privacy-preserving fine-tuning of a small head on a frozen MobileNet backbone.

Commands:
  demo                     a coordinator and three hospitals federating on PneumoniaMNIST
  coordinator [--task <f>] serve the tasks operators submit, or start one task file's run at once
  client --coordinator <url> --data <folder>
                           take part as a hospital with a folder of images (or --config <file>;
                           --check first; "client history" for its own record of the rounds)
  data split               turn a MedMNIST .npz into hospital folders and validation and test sets
  simulate --task <f> --data <folder>
                           run a task's federation in one process on hospital folders, beside
                           the centralized and local-only references, and compare them
  privacy epsilon|plan     the ε a DP-SGD schedule spends (--noise --sampling --steps --delta),
                           or the noise multiplier a budget ε needs (--epsilon instead of --noise);
                           plan --task <f> [--examples <n>]: a task's noise and ε path
  backbone digest <dir|url>
                           print the SHA-256 digest a task file needs for a TF.js model
  operator add --role <role> <name>
                           add an operator account to the coordinator's database (on its host)
  audit                    read the coordinator's audit log (admins; over the API)
  participant <list|approve|revoke|readmit|invite> --task <t> [<name>]
                           decide who takes part in a task (operators; over the API)
  task init --data <folder> --backbone <folder|url>
                           write a checked task file for hospital folders, with a measured recipe
  task submit <task.json>  send a task file to the coordinator (operators; over the API)
  task show <task>         a task: who submitted it, its runs
  status [--task <t>]      every task and its run, or one task's run as it happens
  runs [--task <t>]        every run: its state, when it started and ended, and why
  start --task <t>         start a run of a task (operators; also: fedtune run start)
  pause|resume|stop --task <t>
                           pause a run after its round, resume it, or end it for good
  abort|extend --task <t>  fail the round in progress, or give it --seconds more
  run export --run <id> --out <dir>
                           write a run's rounds, heads and chart to a folder
  model export --run <id> --out <dir>
                           download a run's trained model (backbone + head, model card)
  predict --model <dir> <images…>
                           run a downloaded model on your PNG or JPEG images

Run "fedtune <command> --help" for a command's options; "fedtune --version" prints the version.
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
    case 'privacy':
      return (await import('./privacy-command.ts')).runPrivacyCommand(rest)
    case 'backbone':
      return (await import('./backbone-command.ts')).runBackboneCommand(rest)
    case 'operator':
      return (await import('./operator-command.ts')).runOperatorCommand(rest)
    case 'participant':
      return (await import('./participant-command.ts')).runParticipantCommand(rest)
    case 'audit':
      return (await import('./audit-command.ts')).runAuditCommand(rest)
    case 'task':
      return (await import('./task-command.ts')).runTaskCommand(rest)
    case 'status':
      return (await import('./status-command.ts')).runStatusCommand(rest)
    case 'runs':
      return (await import('./runs-command.ts')).runRunsCommand(rest)
    case 'run':
      return (await import('./run-command.ts')).runRunCommand(rest)
    case 'model':
      return (await import('./model-command.ts')).runModelCommand(rest)
    case 'predict':
      return (await import('./predict-command.ts')).runPredictCommand(rest)
    case 'simulate':
      return (await import('./simulate/simulate-command.ts')).runSimulateCommand(rest)
    case 'start':
    case 'pause':
    case 'resume':
    case 'stop':
    case 'abort':
    case 'extend':
      return (await import('./run-command.ts')).runRunCommand([command, ...rest])
    case '--version':
    case '-v': {
      const { fedtuneVersion } = await import('@fedtune/coordinator/install')
      process.stdout.write(`fedtune ${fedtuneVersion()}\n`)
      return 0
    }
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
