import { ApiError } from './api-client.ts'
import { CommandError, type CommandIo } from './command-io.ts'

/**
 * Runs one of the operators' commands over the API: what the coordinator refused (exit 1) and what
 * the command line got wrong (exit 2, the usage after it) go to stderr as `fedtune <name>: …`.
 */
export async function apiCommand(
  name: string,
  usage: string,
  io: CommandIo,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body()
  } catch (error) {
    if (error instanceof ApiError) {
      io.stderr(`fedtune ${name}: ${error.message}\n`)
      return 1
    }
    if (!(error instanceof CommandError)) throw error
    io.stderr(`fedtune ${name}: ${error.message}\n${error.exitCode === 2 ? `\n${usage}` : ''}`)
    return error.exitCode
  }
}

/** The command line parsed by `parse` (node's parseArgs); what it refuses is a usage error. */
export function commandLine<T>(parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    throw new CommandError((error as Error).message, 2)
  }
}

/** The options every API command takes, as parseArgs declares them. */
export const API_OPTIONS = {
  coordinator: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
} as const
