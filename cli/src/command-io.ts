/** Where a command reads and writes: the process's own streams, or a test's. */
export type CommandIo = {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean; setRawMode?(raw: boolean): unknown }
  readonly env: NodeJS.ProcessEnv
}

export function processIo(): CommandIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stdin: process.stdin,
    env: process.env,
  }
}

/** A refusal of the command line or of what it asked for: printed as is, with the exit code. */
export class CommandError extends Error {
  override readonly name = 'CommandError'
  /** 2: the command line itself was wrong (usage printed); 1: what it asked for failed. */
  readonly exitCode: 1 | 2

  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

/**
 * A command that needs arguments, asked for its usage (`--help`, `-h`) or given none: prints it and
 * returns the exit code (0 when asked, 2 when nothing was given); null when it should run.
 */
export function usageAsked(argv: readonly string[], usage: string, io: CommandIo): 0 | 2 | null {
  if (!argv.includes('--help') && !argv.includes('-h') && argv.length > 0) return null
  io.stdout(usage)
  return argv.length === 0 ? 2 : 0
}

/**
 * A command that runs here, not over the API: its usage when asked (`usageAsked`), else `run`; a
 * CommandError is printed as `fedtune <name>: …` (with a pointer to --help for a wrong command line)
 * and becomes the exit code.
 */
export async function localCommand(
  name: string,
  usage: string,
  argv: readonly string[],
  io: CommandIo,
  run: () => Promise<void>,
): Promise<number> {
  try {
    const asked = usageAsked(argv, usage, io)
    if (asked !== null) return asked
    await run()
    return 0
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    io.stderr(
      `fedtune ${name}: ${error.message}\n${error.exitCode === 2 ? `(see fedtune ${name} --help)\n` : ''}`,
    )
    return error.exitCode
  }
}
