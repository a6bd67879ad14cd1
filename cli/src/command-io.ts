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
