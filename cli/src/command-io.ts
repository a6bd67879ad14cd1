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
